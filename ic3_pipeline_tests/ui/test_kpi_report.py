"""The KPI report (`ic3 report`) as a person opens it: a local file in headless Chromium, which shows its charts
and tables and asks for nothing but the file itself. The screenshot is saved as ``artifacts/kpi-report.png``
(``make screenshots`` writes the README's copy, ``docs/kpi-report.png``)."""

from __future__ import annotations

import pytest

from ic3_pipeline_tests.ui import harness

_unavailable = harness.browser_unavailable()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_unavailable is not None, reason=f"no browser for the UI test: {_unavailable}"),
]


def test_the_report_opens_offline_with_its_charts_and_tables(browser, artifacts, tmp_path):
    report = harness.build_kpi_report(tmp_path)
    page = harness.new_page(browser)
    try:
        requested = harness.open_report(page, report)
        assert requested == [report.resolve().as_uri()]  # no stylesheet, font, script or image fetched
        assert page.title() == "Maintenance KPIs"
        charts = page.locator("svg.chart")
        assert charts.count() == 4
        for index in range(4):
            box = charts.nth(index).bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100  # drawn, not collapsed
        for title in ("Inherent availability by site (%)", "MTBF by site (hours)",
                      "Worst assets: inherent availability (%)", "PM compliance by site (%)"):
            assert page.get_by_role("img", name=title).is_visible(), title
        assert page.locator("svg.chart polyline").count() >= 5  # four sites and the fleet, over two months
        assert page.get_by_role("cell", name="Chennai Guindy").first.is_visible()
        assert page.get_by_role("heading", name="Work orders").is_visible()
        assert "no data yet" not in page.content()
        harness.full_page_screenshot(page, artifacts / "kpi-report.png")
    finally:
        page.context.close()
