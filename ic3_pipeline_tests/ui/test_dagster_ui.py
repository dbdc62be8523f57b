"""The Dagster UI on a real instance, in headless Chromium: what a user sees after `make demo` and `make ui`.

The instance is the demo's (temp Dagster home, temp SQLite target, the simulator): register imported, six sites
enriched, status computed. Assertions are on visible text; each test saves screenshots under
``ic3_pipeline_tests/ui/artifacts/`` (or ``$IC3_UI_ARTIFACTS``).
"""

from __future__ import annotations

import re

import pytest

from ic3_pipeline_tests.ui import harness
from ic3_pipeline_tests.ui.conftest import ASSETS, SITES

_unavailable = harness.browser_unavailable()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_unavailable is not None, reason=f"no browser for the UI test: {_unavailable}"),
]


def visible(page, text: str | re.Pattern) -> bool:
    locator = page.get_by_text(text, exact=True) if isinstance(text, str) else page.get_by_text(text)
    locator.first.wait_for(state="visible")
    return True


def site_keys(instance: harness.DemoInstance) -> list[str]:
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(instance.dagster_home))) as dagster:
        return list(dagster.get_dynamic_partitions("sites"))


def test_asset_graph_shows_every_group_with_partitions_and_checks(page, ui, artifacts):
    harness.open_asset_graph(page, ui.url)
    for group, assets in harness.ASSETS.items():
        assert visible(page, group)
        for asset in assets:
            assert visible(page, asset)
    harness.screenshot(page, artifacts / "asset-graph.png")
    harness.open_group_graph(page, ui.url, "register")
    assert visible(page, "3 / 3 Passed")  # the register's checks
    assert visible(page, "Excel") and visible(page, "SQLite")  # kinds
    harness.open_group_graph(page, ui.url, "innomaint")
    assert visible(page, f"{SITES} partitions")  # the enrichment assets: one partition per register site
    assert visible(page, "100% filled")
    assert visible(page, re.compile(r"[23] / 3 Passed"))  # Innomaint's (an unknown id only warns)
    assert visible(page, "api")


def test_enrichment_partitions_page_shows_every_site_materialized(page, ui, ui_instance, artifacts):
    keys = site_keys(ui_instance)
    assert len(keys) == SITES
    harness.open_partitions(page, ui.url, "innomaint/asset_details", partition=keys[0])
    assert visible(page, f"Materialized ({SITES})")
    assert visible(page, "Failed (0)") and visible(page, "Missing (0)")
    for key in keys:
        assert visible(page, key)
    for label in ("assets due", "synced", "not found", "requests this run", "site never synced",
                  "failed and not-found ids"):
        assert visible(page, label)  # the site's own sync summary, on the partition's materialization
    assert visible(page, "enrich_innomaint")  # the job that materialized it
    harness.screenshot(page, artifacts / "partitions.png")


def test_enrichment_run_logs(page, ui, ui_instance, artifacts):
    harness.open_run(page, ui.url, harness.enrichment_run_id(ui_instance))
    assert visible(page, "Success")
    assert visible(page, "enrich_innomaint")
    assert visible(page, re.compile(r'Finished execution of run for "enrich_innomaint"'))
    assert visible(page, re.compile(r"Check innomaint_rows_consistent succeeded"))
    harness.screenshot(page, artifacts / "run-logs.png")


def test_asset_page_shows_description_row_count_columns_owner_and_kinds(page, ui):
    page.goto(f"{ui.url}/assets/innomaint/asset_details")
    assert visible(page, "Row count")
    assert visible(page, str(ASSETS))  # ic3_asset_master holds the register's assets
    assert visible(page, re.compile("Each register asset's Innomaint detail"))
    assert visible(page, "Columns") and visible(page, "cmms_asset_id") and visible(page, "last_sync_status")
    assert visible(page, "maintenance-data")
    assert visible(page, "innomaint")  # its group
    page.goto(f"{ui.url}/assets/sync_status")
    for label in ("total assets", "synced", "needing retry", "not found", "never synced", "stale", "last batches"):
        assert visible(page, label)


def test_checks_have_names_descriptions_and_results(page, ui, artifacts):
    harness.open_checks(page, ui.url, "asset_register")
    for check in ("asset_ids_unique", "assets_have_site", "criticality_allowed"):
        assert visible(page, check)
    assert page.get_by_text("Succeeded", exact=True).count() >= 3
    harness.open_checks(page, ui.url, "innomaint/asset_details")
    for check in ("innomaint_sync_errors", "assets_known_to_innomaint", "innomaint_rows_consistent"):
        assert visible(page, check)
    assert visible(page, re.compile("No half-written asset|No asset of the source.s sites has a failed|Every asset of the source.s sites exists"))
    harness.screenshot(page, artifacts / "checks.png")


def test_automation_lists_sensors_and_schedule_all_stopped(page, ui):
    page.goto(f"{ui.url}/automation")
    names = ("register_drop_folder", "innomaint_new_sites", "innomaint_retry_failed", "innomaint_resync",
             "sync_status_refresh")
    for name in names:
        assert visible(page, name)
    assert not page.get_by_text("default_automation_condition_sensor").count()  # ours has a name and a description
    # Each row has a selection box and an on/off switch, both checkboxes: none is ticked, so every one is off.
    boxes = page.locator("input[type=checkbox]")
    boxes.nth(2 * len(names)).wait_for(state="attached")  # "select all", then a box and a switch per row
    states = [boxes.nth(i).is_checked() for i in range(boxes.count())]
    assert len(states) >= 2 * len(names) and not any(states), "every sensor and schedule starts stopped"
