"""``ic3 report --out kpi.html`` on the hand-made fleet and work orders (SQLite and PostgreSQL): one file holding
the charts as inline SVG and the figures the KPI tables hold, and nothing it would have to fetch — no URL, no
script, no external stylesheet, font or image. Bad input: an unwritable path and a bad setting, each said in one
line."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from dagster import materialize

from ic3_pipeline.cli.app import main
from ic3_pipeline.kpi.assets import build_kpi_assets
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.kpi import fixture, work_order_fixture


@pytest.fixture
def report_db(engine, db_url, monkeypatch):
    fixture.load(engine)
    work_order_fixture.load(engine)
    monkeypatch.setenv("IC3_DATABASE_URL", db_url)
    for name in ("IC3_KPI_PERIOD_DAYS", "IC3_KPI_PM_GRACE_DAYS", "IC3_KPI_MAX_OVERDUE_PM"):
        monkeypatch.delenv(name, raising=False)
    return engine, db_url


class Parsed(HTMLParser):
    """Every tag, every attribute value and the text of each <svg>'s <title>, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.svg_titles: list[str] = []
        self.cells: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        if self._in[-2:] == ["svg", "title"]:
            self.svg_titles.append(data)
        if self._in and self._in[-1] == "td":
            self.cells.append(data)


def write_report(path, *args) -> str:
    result = CliRunner().invoke(main, ["report", "--out", str(path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"Wrote {path}" in result.output
    return path.read_text(encoding="utf-8")


def test_the_report_holds_the_charts_and_numbers_and_fetches_nothing(report_db, tmp_path):
    _, db_url = report_db
    assert materialize(build_kpi_assets([]), resources={"warehouse": WarehouseResource(database_url=db_url)}).success
    html = write_report(tmp_path / "kpi.html")
    page = Parsed()
    page.feed(html)

    assert page.svg_titles == ["Inherent availability by site (%)", "MTBF by site (hours)",
                               "Worst assets: inherent availability (%)", "PM compliance by site (%)"]
    assert html.count("<polyline") + html.count("<circle") >= 3  # Alpha, Beta and the fleet have daily figures
    assert "no data yet" not in html
    # The numbers the tables hold: Alpha MTBF 48.50 h and 97.00 %, fleet MTTR 1.50 h; North's PM compliance
    # 33.33 %, South's n/a (no preventive work order), fleet corrective MTTR 4.00 h.
    for number in ("48.50", "97.00", "1.50", "33.33", "4.00"):
        assert number in page.cells, number
    assert "n/a" in page.cells
    worst = html.index("Worst assets")
    # A1 and A2 both at 97 % (ties by id), B1 at 100 %; A3 and B2 have no data, G1 no operating hours.
    assert html.index(">A1<", worst) < html.index(">A2<", worst) < html.index(">B1<", worst)
    assert ">G1<" not in html[worst:] and ">A3<" not in html[worst:]
    # Self-contained: no URL anywhere, no script, nothing loaded by reference.
    assert not re.search(r"(https?:)?//[a-z0-9]", html, re.IGNORECASE)
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not [a for a in page.attributes if a[1] in ("src", "href", "xlink:href")]
    assert "@import" not in html and "url(" not in html


def test_without_daily_history_the_charts_say_so_and_the_tables_still_show(report_db, tmp_path):
    html = write_report(tmp_path / "kpi.html", "--days", "7")  # nothing materialized: ic3_kpi_daily is empty
    assert html.count("no data yet") == 2
    assert "No daily history yet" in html and "refresh_kpis" in html
    assert ">48.50<" in html and ">33.33<" in html  # computed on demand, like ic3 kpi


def test_bad_output_path_and_bad_setting_are_one_line_errors(report_db, tmp_path, monkeypatch):
    missing = tmp_path / "no such folder" / "kpi.html"
    result = CliRunner().invoke(main, ["report", "--out", str(missing)])
    assert result.exit_code == 1
    assert f"cannot write {missing}" in result.output and "Traceback" not in result.output
    assert not missing.exists()
    monkeypatch.setenv("IC3_KPI_PERIOD_DAYS", "zero")
    result = CliRunner().invoke(main, ["report", "--out", str(tmp_path / "kpi.html")])
    assert result.exit_code == 2 and "IC3_KPI_PERIOD_DAYS='zero' is not a number" in result.output
    assert not (tmp_path / "kpi.html").exists()
