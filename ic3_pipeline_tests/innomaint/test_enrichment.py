"""The partitioned enrichment against the simulator: exact tables, per-asset failures, systemic stops, resumption."""

import json

import pytest
from sqlalchemy import func, select

from ic3_pipeline_tests.run_results import batch_metadata, first_materialization_metadata
from ic3_pipeline.sync.due import partition_keys_of
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint.conftest import TOKEN
from ic3_pipeline_tests.sources import inconsistent


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def metadata_of(result, key="innomaint/asset_details") -> dict:
    """The first site's materialization and, beside it, the batch's figures (an observation, once a run)."""
    return {**first_materialization_metadata(result, key), **batch_metadata(result, key)}


def checks_of(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_full_enrichment_writes_every_table_exactly(pipeline):
    result = pipeline.enrich()
    assert result.success
    engine = pipeline.engine
    n = len(pipeline.asset_ids)
    assert count(engine, tables.asset_master, tables.asset_master.c.last_sync_status == "success") == n
    assert count(engine, tables.asset_performance) == n
    assert count(engine, tables.workorder_summary) == 2 * n
    assert count(engine, tables.raw_response) == n
    assert count(engine, tables.sync_log, tables.sync_log.c.status == "success") == n
    assert count(engine, tables.cmms_sync_log) == 1
    assert inconsistent(engine) == []
    meta = metadata_of(result)
    assert (meta["batch assets due"], meta["batch synced"], meta["batch failed"], meta["batch not found"]) == (n, n, 0, 0)
    assert checks_of(result)["innomaint_sync_errors"].passed
    assert checks_of(result)["innomaint_rows_consistent"].passed

    # The landed response is the simulator's body, byte for byte, and the typed tables agree with it.
    asset_id = pipeline.asset_ids[0]
    expected = pipeline.simulator.expected_record(asset_id)
    with engine.connect() as conn:
        payload = conn.execute(select(tables.raw_response.c.payload).where(tables.raw_response.c.cmms_asset_id == asset_id)).scalar_one()
        perf = conn.execute(select(tables.asset_performance).where(tables.asset_performance.c.cmms_asset_id == asset_id)).one()
        master = conn.execute(select(tables.asset_master).where(tables.asset_master.c.cmms_asset_id == asset_id)).one()
    assert json.loads(payload) == expected
    performance = expected["response"]["performance"]
    assert perf.mttr == (performance.get("mttr") or None)
    assert master.traceability_id == int(expected["response"]["data"]["traceid"])
    assert master.sync_version == 1 and perf.sync_version == 1


def test_second_pass_fetches_nothing_and_force_fetches_all(pipeline):
    pipeline.enrich()
    pipeline.simulator.reset_stats()
    again = pipeline.enrich()
    assert metadata_of(again)["batch assets due"] == 0
    assert pipeline.simulator.stats()["requests"] == 0
    forced = pipeline.enrich(config={"force": True})
    assert metadata_of(forced)["batch synced"] == len(pipeline.asset_ids)
    engine = pipeline.engine
    assert count(engine, tables.asset_performance) == len(pipeline.asset_ids)  # no duplicates
    with engine.connect() as conn:
        assert set(conn.execute(select(tables.asset_master.c.sync_version)).scalars()) == {2}
    assert inconsistent(engine) == []


def test_faults_and_rate_limit_then_retry_reaches_every_existing_asset(pipeline):
    """With a rate limit, 5 % injected faults of every kind and unknown ids: everything is accounted for, then a retry
    pass brings synced to 100 % of the ids the CMMS has."""
    missing = set(pipeline.asset_ids[:3])
    pipeline.simulator.configure(
        rate_limit=60.0, fault_rate=0.05, hang_seconds=3.0, missing_ids=frozenset(missing),
        fault_kinds=("500", "502", "503", "hang", "malformed", "truncated", "status_false", "reset"),
    )
    first = pipeline.enrich(max_attempts=2)  # few attempts, so some assets fail and need the second pass
    assert first.success
    engine = pipeline.engine
    meta = metadata_of(first)
    assert meta["batch synced"] + meta["batch failed"] + meta["batch not found"] == len(pipeline.asset_ids)
    assert meta["batch not found"] == 3
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(tables.asset_master.c.cmms_asset_id, tables.asset_master.c.last_sync_status)).all())
        errors = conn.execute(select(tables.asset_master.c.last_sync_error).where(tables.asset_master.c.last_sync_status == "error")).scalars().all()
    assert None not in statuses.values()  # nobody silently skipped
    assert {i for i, s in statuses.items() if s == "not_found"} == missing
    assert all(errors)  # every failure has its reason
    if meta["batch failed"]:
        assert not checks_of(first)["innomaint_sync_errors"].passed
    assert not checks_of(first)["assets_known_to_innomaint"].passed

    pipeline.simulator.configure(fault_rate=0.0)
    second = pipeline.enrich()
    assert metadata_of(second)["batch assets due"] == meta["batch failed"]  # only the failed ones were due
    with engine.connect() as conn:
        final = dict(conn.execute(select(tables.asset_master.c.cmms_asset_id, tables.asset_master.c.last_sync_status)).all())
    assert {i for i, s in final.items() if s == "success"} == set(pipeline.asset_ids) - missing
    assert inconsistent(engine) == []
    assert count(engine, tables.asset_performance) == len(pipeline.asset_ids) - 3


def test_scripted_faults_are_retried_and_logged_with_attempts(pipeline):
    key = pipeline.partition_keys[0]
    engine = pipeline.engine
    with engine.connect() as conn:
        ids = conn.execute(
            select(tables.asset_master.c.cmms_asset_id).join(tables.location_master, tables.location_master.c.location_id == tables.asset_master.c.location_id)
            .where(tables.location_master.c.partition_key == key).order_by(tables.asset_master.c.cmms_asset_id)
        ).scalars().all()
    pipeline.simulator.configure(hang_seconds=4.0)  # past the client's 2 s timeout
    scripts = {ids[0]: ["503", "429", "truncated"], ids[1]: ["malformed", "status_false"], ids[2]: ["reset"],
               ids[3]: ["hang", "500", "502"]}
    for asset_id, kinds in scripts.items():
        pipeline.simulator.script_faults(asset_id, kinds)
    result = pipeline.enrich([key])
    assert result.success
    with engine.connect() as conn:
        attempts = dict(conn.execute(select(tables.sync_log.c.serialnumber, tables.sync_log.c.attempts)).all())
    for asset_id, kinds in scripts.items():
        assert attempts[asset_id] == len(kinds) + 1
    assert metadata_of(result)["retries"] >= 6


def test_exhausted_retries_record_the_reason(pipeline):
    victim = pipeline.asset_ids[0]
    key = partition_keys_of(pipeline.engine, [victim])[victim]
    pipeline.simulator.script_faults(victim, ["503"] * 10)
    result = pipeline.enrich([key], max_attempts=3)
    assert result.success  # a per-asset failure does not fail the step
    check = checks_of(result)["innomaint_sync_errors"]
    assert not check.passed
    assert victim in check.metadata["failed ids"].value and "HTTP 503 after 3 attempts" in check.metadata["failed ids"].value
    with pipeline.engine.connect() as conn:
        row = conn.execute(select(tables.asset_master).where(tables.asset_master.c.cmms_asset_id == victim)).one()
    assert (row.last_sync_status, row.consecutive_failures, row.sync_version) == ("error", 1, 0)
    assert "HTTP 503 after 3 attempts" in row.last_sync_error


def test_bad_token_fails_fast_and_blames_no_asset(pipeline):
    result = pipeline.enrich(token="wrong-token")
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "Innomaint refused the API token (HTTP 401): check INNOMAINT_API_TOKEN." in failure.step_failure_data.user_failure_data.description
    engine = pipeline.engine
    assert count(engine, tables.asset_master, tables.asset_master.c.last_sync_status.is_not(None)) == 0
    assert count(engine, tables.sync_log) == 0
    with engine.connect() as conn:
        assert conn.execute(select(tables.cmms_sync_log.c.status)).scalar_one() == "failed"
    assert pipeline.simulator.stats()["requests"] <= 16  # stopped at once, not after every asset


def test_token_never_reaches_the_event_log(pipeline):
    pipeline.simulator.script_faults(pipeline.asset_ids[0], ["503"] * 10)
    result = pipeline.enrich(max_attempts=2)
    records = pipeline.instance.all_logs(result.run_id)
    assert records
    for record in records:
        assert TOKEN not in json.dumps(record.to_dict() if hasattr(record, "to_dict") else str(record), default=str)
        assert TOKEN not in str(record)
    run = pipeline.instance.get_run_by_id(result.run_id)
    assert TOKEN not in json.dumps(run.run_config) and TOKEN not in str(run.tags)


def test_consistency_check_names_a_half_written_asset(pipeline):
    pipeline.enrich()
    victim = pipeline.asset_ids[7]
    engine = pipeline.engine
    with engine.begin() as conn:  # what a non-transactional writer could leave behind
        conn.execute(tables.workorder_summary.delete().where(
            (tables.workorder_summary.c.cmms_asset_id == victim) & (tables.workorder_summary.c.period_type == "upto")
        ))
    assert inconsistent(engine) == [(victim, "state v1, ic3_innomaint_raw_response 1/1 rows v1, ic3_asset_performance "
                                             "1/1 rows v1, ic3_workorder_summary 1/2 rows v1")]
    result = pipeline.enrich(pipeline.partition_keys[:1])
    check = checks_of(result)["innomaint_rows_consistent"]
    assert not check.passed and victim in check.metadata["details"].value
