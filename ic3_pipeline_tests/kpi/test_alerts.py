"""The KPI alert checks pass on the hand-made fleet with the default thresholds and fail, naming the assets and
sites, when a threshold is tightened (or the data gets worse); a bad threshold fails with the variable's name."""

from __future__ import annotations

import pytest
from dagster import AssetCheckSeverity, materialize
from sqlalchemy import update

from ic3_pipeline.kpi.alerts import BadThreshold, Thresholds
from ic3_pipeline.kpi.assets import AVAILABILITY_CHECK, MTBF_CHECK, build_kpi_assets, build_kpi_checks
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.kpi import fixture


@pytest.fixture
def fleet_db(engine, db_url):
    fixture.load(engine)
    return engine, db_url


def evaluations(db_url: str) -> dict:
    result = materialize([*build_kpi_assets([]), build_kpi_checks()],
                         resources={"warehouse": WarehouseResource(database_url=db_url)})
    assert result.success  # a failing check never fails the run
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def test_both_checks_pass_on_the_fleet_with_default_thresholds(fleet_db):
    _, db_url = fleet_db
    checks = evaluations(db_url)
    assert checks[AVAILABILITY_CHECK].passed
    assert checks[AVAILABILITY_CHECK].metadata["assets judged"].value == 3  # G1: no operating hours; A3, B2: no data
    assert checks[MTBF_CHECK].passed
    assert checks[MTBF_CHECK].metadata["compared"].value == 2  # A1 and its site Alpha (17.8 % down: under 20 %)


def test_availability_below_a_critical_threshold_fails_as_an_error_naming_asset_and_site(fleet_db, monkeypatch):
    _, db_url = fleet_db
    monkeypatch.setenv("IC3_KPI_MIN_AVAILABILITY_CRITICAL", "98")  # A1 (Critical) shows 97 %
    check = evaluations(db_url)[AVAILABILITY_CHECK]
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert check.metadata["assets below threshold"].value == 1
    assert "| A1 | Alpha | Critical | 97.0 | 98.0 |" in check.metadata["assets"].value
    assert check.metadata["sites"].value == "Alpha"


def test_availability_below_a_lower_criticality_fails_as_a_warning(fleet_db):
    engine, db_url = fleet_db
    with engine.begin() as conn:  # B1 (Low): 200 h operating, now 50 h of repair: 75 % < 80 %
        conn.execute(update(tables.asset_performance).where(tables.asset_performance.c.cmms_asset_id == "B1")
                     .values(total_ticket=1, total_ticket_breakdown_hours=50.0))
    check = evaluations(db_url)[AVAILABILITY_CHECK]
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert "| B1 | Beta | Low | 75.0 | 80.0 |" in check.metadata["assets"].value


def test_mtbf_down_more_than_the_threshold_fails_naming_asset_and_site(fleet_db, monkeypatch):
    _, db_url = fleet_db
    monkeypatch.setenv("IC3_KPI_MTBF_DROP_PCT", "10")
    check = evaluations(db_url)[MTBF_CHECK]
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["assets with a drop"].value == 1 and check.metadata["sites with a drop"].value == 1
    drops = check.metadata["drops"].value
    assert "| asset | A1 | Alpha | 59.0 | 48.5 | 17.8 |" in drops
    assert "| site | Alpha | Alpha | 59.0 | 48.5 | 17.8 |" in drops
    # 10 days back, A1 still stood at its 40-day-old figure: the same drop. 41 days back nothing had reported yet:
    # nothing to compare, no failure.
    monkeypatch.setenv("IC3_KPI_MTBF_LOOKBACK_DAYS", "10")
    assert not evaluations(db_url)[MTBF_CHECK].passed
    monkeypatch.setenv("IC3_KPI_MTBF_LOOKBACK_DAYS", "41")
    check = evaluations(db_url)[MTBF_CHECK]
    assert check.passed and check.metadata["compared"].value == 0


def test_bad_thresholds_are_refused_with_the_variable_named():
    with pytest.raises(BadThreshold, match=r"IC3_KPI_MIN_AVAILABILITY_HIGH='ninety' is not a number"):
        Thresholds.from_env({"IC3_KPI_MIN_AVAILABILITY_HIGH": "ninety"})
    with pytest.raises(BadThreshold, match=r"IC3_KPI_MTBF_DROP_PCT='150' is out of range \(0 to 100\)"):
        Thresholds.from_env({"IC3_KPI_MTBF_DROP_PCT": "150"})
    assert Thresholds.from_env({}).min_availability == {"critical": 95.0, "high": 90.0, "medium": 85.0, "low": 80.0}


def test_a_bad_threshold_fails_the_checks_step_with_the_variable_named(fleet_db, monkeypatch):
    _, db_url = fleet_db
    monkeypatch.setenv("IC3_KPI_MTBF_LOOKBACK_DAYS", "a month")
    result = materialize([*build_kpi_assets([]), build_kpi_checks()],
                         resources={"warehouse": WarehouseResource(database_url=db_url)}, raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.event_type_value == "STEP_FAILURE")
    assert "KPI alert thresholds: IC3_KPI_MTBF_LOOKBACK_DAYS='a month' is not a number" in str(
        failure.step_failure_data.error.message)
    assert result.get_asset_check_evaluations() == []
