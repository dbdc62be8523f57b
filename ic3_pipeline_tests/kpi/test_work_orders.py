"""Work-order KPIs worked out by hand on a few ``cmms_work_order`` rows (``work_order_fixture``), compared with
``ic3_kpi_work_orders`` as the ``kpi/work_orders`` asset writes it and with ``ic3 kpi --json``, on SQLite and
PostgreSQL; the overdue-PM alert check passing and failing; bad settings refused with the variable's name.

Backlog ages run from the moment each computation starts (seconds after the fixture's N), so they are compared to
a minute; every other figure is exact.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from dagster import AssetCheckSeverity, materialize
from sqlalchemy import select

from ic3_pipeline.cli.app import main
from ic3_pipeline.kpi.assets import OVERDUE_PM_CHECK, build_kpi_assets, build_kpi_checks
from ic3_pipeline.kpi.work_orders import BadSetting, WorkOrderSettings
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.kpi import fixture, work_order_fixture
from ic3_pipeline_tests.kpi.work_order_fixture import expected

AGES = ("backlog_age_days_sum", "backlog_mean_age_days", "backlog_max_age_days")
MINUTE_IN_DAYS = 1 / 1440


@pytest.fixture
def wo_db(engine, db_url, monkeypatch):
    fixture.load(engine)  # the register's fleet too, so `ic3 kpi` has sites to list
    now = work_order_fixture.load(engine)
    monkeypatch.setenv("IC3_DATABASE_URL", db_url)
    for name in ("IC3_KPI_PERIOD_DAYS", "IC3_KPI_PM_GRACE_DAYS", "IC3_KPI_MAX_OVERDUE_PM"):
        monkeypatch.delenv(name, raising=False)
    return engine, db_url, now


def materialize_kpis(db_url: str):
    result = materialize([*build_kpi_assets([]), build_kpi_checks()],
                         resources={"warehouse": WarehouseResource(database_url=db_url)})
    assert result.success  # a failing check never fails the run
    return result


def same(found: dict, wanted: dict) -> None:
    """Every figure equal; the ages (which run with the clock) to the minute."""
    assert {k: v for k, v in found.items() if k not in AGES} == {k: v for k, v in wanted.items() if k not in AGES}
    for name in AGES:
        if wanted[name] is None:
            assert found[name] is None, name
        else:
            assert found[name] == pytest.approx(wanted[name], abs=MINUTE_IN_DAYS), name


def table_rows(engine) -> dict[tuple[str, str], dict]:
    figures = tuple(expected()[("fleet", "fleet")])
    with engine.connect() as conn:
        rows = conn.execute(select(tables.kpi_work_orders)).mappings().all()
    return {(row["level"], row["name"]): {f: row[f] for f in figures} for row in rows}


def test_the_table_holds_the_hand_computed_work_order_kpis(wo_db):
    engine, db_url, now = wo_db
    result = materialize_kpis(db_url)
    rows = table_rows(engine)
    assert set(rows) == set(expected())  # no site Ghost: its only work order is deleted
    for key, wanted in expected().items():
        same(rows[key], wanted)
    assert rows[("site", "South")]["pm_compliance_pct"] is None  # no preventive work order: NULL, not 0
    assert rows[("site", "(none)")]["corrective_mttr_hours"] is None
    with engine.connect() as conn:
        period = conn.execute(select(tables.kpi_work_orders.c.period_start, tables.kpi_work_orders.c.period_end,
                                     tables.kpi_work_orders.c.pm_grace_days)).first()
    assert period.pm_grace_days == 0.0
    metadata = result.asset_materializations_for_node("kpi__work_orders")[0].metadata
    assert metadata["pm_compliance_pct"].value == pytest.approx(100 / 3)
    assert metadata["corrective_mttr_hours"].value == 4.0
    assert metadata["overdue_preventive"].value == 1
    assert "| North |" in metadata["sites (lowest PM compliance first)"].value


def test_a_grace_of_a_day_counts_the_late_pm_and_half_a_day_does_not(wo_db, monkeypatch):
    engine, db_url, _ = wo_db
    monkeypatch.setenv("IC3_KPI_PM_GRACE_DAYS", "0.5")
    materialize_kpis(db_url)
    assert table_rows(engine)[("site", "North")]["pm_done_on_time"] == 1
    monkeypatch.setenv("IC3_KPI_PM_GRACE_DAYS", "1")
    materialize_kpis(db_url)
    rows = table_rows(engine)
    for key, wanted in expected(grace_days=1).items():
        same(rows[key], wanted)
    assert rows[("site", "North")]["pm_compliance_pct"] == 2 / 3 * 100


def test_a_shorter_period_leaves_older_work_out(wo_db, monkeypatch):
    engine, db_url, _ = wo_db
    monkeypatch.setenv("IC3_KPI_PERIOD_DAYS", "6")  # from N - 6 d: W1 (due N-10 d) and S1 (done N-10 d) drop out
    materialize_kpis(db_url)
    rows = table_rows(engine)
    assert (rows[("site", "North")]["pm_due"], rows[("site", "North")]["pm_done_on_time"]) == (2, 0)
    assert rows[("site", "South")]["corrective_completed"] == 1
    assert rows[("site", "South")]["corrective_mttr_hours"] == 4.0
    assert rows[("site", "South")]["backlog"] == 1  # the backlog is what is open now, whatever the period


def test_ic3_kpi_json_has_the_same_work_order_numbers_as_the_table(wo_db):
    engine, db_url, _ = wo_db
    materialize_kpis(db_url)
    table = table_rows(engine)
    printed = json.loads(CliRunner().invoke(main, ["kpi", "--json"], catch_exceptions=False).output)
    same(printed["fleet"]["work_orders"], table[("fleet", "fleet")])
    same(printed["fleet"]["work_orders"], expected()[("fleet", "fleet")])
    # The register's sites (Alpha, Beta, Gamma) have no work order: zeros and NULLs, not missing.
    assert {row["site"]: row["work_orders"]["pm_compliance_pct"] for row in printed["sites"]} == {
        "Alpha": None, "Beta": None, "Gamma": None}
    every_site = {row.pop("site"): row for row in printed["work_orders"]["sites"]}
    assert set(every_site) == {"North", "South", "(none)"}
    for name, row in every_site.items():
        same(row, table[("site", name)])
    by_source = json.loads(CliRunner().invoke(main, ["kpi", "--by", "source", "--json"]).output)
    assert {row.pop("source"): row for row in by_source["work_orders"]["sources"]}.keys() == {"maximo", "upkeep"}
    assert printed["work_orders"]["pm_grace_days"] == 0.0
    text = CliRunner().invoke(main, ["kpi"], catch_exceptions=False).output
    assert "Work orders (cmms_work_order)" in text and "33.33" in text and "4.00" in text


def test_ic3_kpi_refuses_a_bad_setting_naming_the_variable(wo_db, monkeypatch):
    monkeypatch.setenv("IC3_KPI_PM_GRACE_DAYS", "a week")
    result = CliRunner().invoke(main, ["kpi", "--json"])
    assert result.exit_code == 2
    assert "IC3_KPI_PM_GRACE_DAYS='a week' is not a number" in result.output
    with pytest.raises(BadSetting, match="IC3_KPI_PERIOD_DAYS='2.5': expected a whole number"):
        WorkOrderSettings.from_env({"IC3_KPI_PERIOD_DAYS": "2.5"})
    with pytest.raises(BadSetting, match=r"IC3_KPI_MAX_OVERDUE_PM='-1' is out of range"):
        WorkOrderSettings.from_env({"IC3_KPI_MAX_OVERDUE_PM": "-1"})


def test_the_overdue_pm_check_fails_naming_site_and_work_order_then_passes_with_a_higher_limit(wo_db, monkeypatch):
    _, db_url, _ = wo_db
    check = {e.check_name: e for e in materialize_kpis(db_url).get_asset_check_evaluations()}[OVERDUE_PM_CHECK]
    assert not check.passed
    assert check.severity == AssetCheckSeverity.WARN
    assert "North" in check.description and "South" not in check.description  # S3 is overdue but not preventive
    assert check.metadata["sites"].value == "North"
    assert "maximo:W3" in check.metadata["work orders"].value
    assert "W8" not in check.metadata["work orders"].value  # deleted

    monkeypatch.setenv("IC3_KPI_MAX_OVERDUE_PM", "1")
    check = {e.check_name: e for e in materialize_kpis(db_url).get_asset_check_evaluations()}[OVERDUE_PM_CHECK]
    assert check.passed
    assert check.metadata["sites judged"].value == 3
