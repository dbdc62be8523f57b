"""Each KPI worked out by hand on a small fleet, compared with the KPI tables the assets write and with
``ic3 kpi --json`` / ``--csv`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from dagster import materialize
from sqlalchemy import select

from ic3_pipeline.cli.app import main
from ic3_pipeline.kpi.assets import build_kpi_assets, build_kpi_checks
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.kpi import fixture
from ic3_pipeline_tests.kpi.fixture import EXPECTED_CUSTOMERS, EXPECTED_FLEET, EXPECTED_SITES, EXPECTED_SOURCES, kpis

FIGURES = tuple(EXPECTED_FLEET)


@pytest.fixture
def fleet_db(engine, db_url, monkeypatch):
    now = fixture.load(engine)
    monkeypatch.setenv("IC3_DATABASE_URL", db_url)
    return engine, db_url, now


def materialize_kpis(db_url: str, *, raise_on_error: bool = True):
    return materialize([*build_kpi_assets([]), build_kpi_checks()],
                         resources={"warehouse": WarehouseResource(database_url=db_url)},
                       raise_on_error=raise_on_error)


def table_rows(engine, table, key: str) -> dict[str, dict]:
    with engine.connect() as conn:
        return {row[key]: {f: row[f] for f in FIGURES} for row in conn.execute(select(table)).mappings()}


def without_work_orders(printed: dict) -> dict:
    """``ic3 kpi --json`` without its work-order figures (``test_work_orders`` checks those)."""
    printed.pop("work_orders")
    printed["fleet"].pop("work_orders")
    for key in ("sites", "customers", "sources"):
        for row in printed.get(key, []):
            row.pop("work_orders", None)
    return printed


def test_rollup_tables_hold_the_hand_computed_kpis(fleet_db):
    engine, db_url, _ = fleet_db
    result = materialize_kpis(db_url)
    assert result.success
    assert table_rows(engine, tables.kpi_site, "site_name") == EXPECTED_SITES
    assert table_rows(engine, tables.kpi_customer, "customer_name") == EXPECTED_CUSTOMERS
    assert table_rows(engine, tables.kpi_source, "source") == EXPECTED_SOURCES
    assert table_rows(engine, tables.kpi_fleet, "fleet") == {"fleet": EXPECTED_FLEET}
    site_metadata = result.asset_materializations_for_node("kpi__site")[0].metadata
    assert site_metadata["assets without data"].value == 2
    assert site_metadata["groups without repair events"].value == 2
    worst = site_metadata["worst sites (lowest availability)"].value
    assert worst.index("| Alpha |") < worst.index("| Beta |") < worst.index("| Gamma |")  # no figure last


def test_ic3_kpi_json_has_the_same_numbers_as_the_tables(fleet_db):
    engine, db_url, _ = fleet_db
    assert materialize_kpis(db_url).success
    printed = without_work_orders(json.loads(CliRunner().invoke(main, ["kpi", "--json"],
                                                                catch_exceptions=False).output))
    assert printed["fleet"] == EXPECTED_FLEET
    assert {row.pop("site"): row for row in printed["sites"]} == EXPECTED_SITES == table_rows(
        engine, tables.kpi_site, "site_name")
    by_customer = without_work_orders(json.loads(
        CliRunner().invoke(main, ["kpi", "--by", "customer", "--json"]).output))
    assert {row.pop("customer"): row for row in by_customer["customers"]} == EXPECTED_CUSTOMERS
    by_source = without_work_orders(json.loads(
        CliRunner().invoke(main, ["kpi", "--by", "source", "--json"]).output))
    assert {row.pop("source"): row for row in by_source["sources"]} == EXPECTED_SOURCES
    one_site = without_work_orders(json.loads(
        CliRunner().invoke(main, ["kpi", "--site", "Beta", "--json"]).output))
    assert one_site["fleet"] == EXPECTED_FLEET
    assert one_site["sites"] == [{"site": "Beta", **EXPECTED_SITES["Beta"]}]
    assert one_site["sites"][0]["mttr_hours"] is None and one_site["sites"][0]["mtbf_hours"] is None


def test_ic3_kpi_csv_and_text(fleet_db):
    printed = CliRunner().invoke(main, ["kpi", "--csv"], catch_exceptions=False).output
    rows = list(csv.DictReader(io.StringIO(printed)))
    assert [(row["level"], row["name"]) for row in rows] == [
        ("fleet", "fleet"), ("site", "Alpha"), ("site", "Beta"), ("site", "Gamma")]
    assert float(rows[1]["mtbf_hours"]) == 48.5 and rows[2]["mttr_hours"] == "" and rows[3]["availability_pct"] == ""
    text = CliRunner().invoke(main, ["kpi"], catch_exceptions=False).output
    assert "Alpha" in text and "48.50" in text and "97.00" in text and text.splitlines()[-2].startswith("fleet")


def test_ic3_kpi_refuses_an_unknown_site(fleet_db):
    result = CliRunner().invoke(main, ["kpi", "--site", "Nowhere"])
    assert result.exit_code == 2
    assert "no asset of the register is at site 'Nowhere'" in result.output


def test_daily_history_rolls_the_history_up_per_day(fleet_db):
    engine, db_url, now = fleet_db
    assert materialize_kpis(db_url).success
    with engine.connect() as conn:
        rows = conn.execute(select(tables.kpi_daily)).mappings().all()
    days = sorted({row["day"] for row in rows})
    today = now.date()
    assert days[0] == (now - timedelta(days=40)).date() and days[-1] == today and len(days) == 41
    fleet = {row["day"]: {f: row[f] for f in FIGURES} for row in rows if row["level"] == "fleet"}
    assert fleet[today] == EXPECTED_FLEET  # the history's newest rows are today's performance rows
    assert fleet[days[0]] == kpis(6, 1, *fixture.OLD_A1)  # only A1 had reported then
    alpha = {row["day"]: row for row in rows if row["level"] == "site" and row["name"] == "Alpha"}
    assert alpha[days[0]]["mtbf_hours"] == 59.0 and alpha[today]["mtbf_hours"] == 48.5
    # A second run recomputes only from the last day stored (nothing older changed).
    second = materialize_kpis(db_url)
    assert second.asset_materializations_for_node("kpi__daily")[0].metadata["days recomputed"].value <= 2


def test_the_projects_refresh_kpis_job_writes_every_table_and_runs_both_checks(fleet_db):
    from dagster import Definitions, instance_for_test

    from ic3_pipeline.defs.kpi.definitions import REFRESH_JOB
    from ic3_pipeline.defs.kpi.definitions import defs as kpi_defs

    engine, db_url, _ = fleet_db
    defs = Definitions.merge(kpi_defs, Definitions(resources={"warehouse": WarehouseResource(database_url=db_url)}))
    with instance_for_test() as instance:
        result = defs.resolve_job_def(REFRESH_JOB).execute_in_process(instance=instance)
    assert result.success
    assert {e.check_name for e in result.get_asset_check_evaluations()} == {
        "availability_by_criticality", "mtbf_trend", "overdue_preventive_work_orders"}
    assert table_rows(engine, tables.kpi_fleet, "fleet") == {"fleet": EXPECTED_FLEET}
    with engine.connect() as conn:
        assert conn.execute(select(tables.kpi_daily)).first() is not None
