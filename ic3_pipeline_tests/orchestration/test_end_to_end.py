"""The pipeline running itself, daemon-free: drop a register, tick, execute what is requested, retry until done."""

import json
from datetime import timedelta

from click.testing import CliRunner
from dagster import AssetKey, materialize
from sqlalchemy import func, select

from ic3_pipeline.cli import main
from ic3_pipeline_tests.sources import inconsistent
from ic3_pipeline.register.validation import validate
from ic3_pipeline.register.workbook import open_register
from ic3_pipeline.sandbox.register_generator import write_sample_register
from ic3_pipeline.status.queries import sync_status
from ic3_pipeline.warehouse import tables
from ic3_pipeline.sync.retry_plan import RetryPolicySettings
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.orchestration.conftest import build_defs, simulator_for
from ic3_pipeline_tests.sources import INNOMAINT

MAX_RETRY_ROUNDS = 8


def statuses(engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(tables.asset_master.c.cmms_asset_id, tables.asset_master.c.last_sync_status)).all())


def test_drop_tick_execute_retry_until_every_existing_asset_is_synced(orchestra, register_dir):
    register = write_sample_register(register_dir / "register.xlsx", assets=90, sites=6, seed=11)
    sites = {r["cmms_asset_id"]: r["site_name"] for r in validate(open_register(register)).records()}
    missing = frozenset(sorted(sites)[:2])
    with simulator_for(sites, fault_rate=0.15, fault_kinds=("500", "503", "truncated", "reset", "status_false"),
                       missing_ids=missing) as simulator:
        orchestra.defs = build_defs(orchestra.db_url, simulator.base_url, max_attempts=2,
                                    retry=RetryPolicySettings(base_cooldown=timedelta(0)))  # retry at once

        (import_request,) = orchestra.tick("register_drop_folder").run_requests
        assert orchestra.execute(import_request, "import_register").success

        enrich_requests = orchestra.tick("innomaint_new_sites").run_requests
        assert len(enrich_requests) == 1  # six new sites, one ranged run
        assert orchestra.execute(enrich_requests[0], "enrich_innomaint").success
        engine = orchestra.engine
        after_first = statuses(engine)
        assert None not in after_first.values()  # everything accounted for on the first pass
        assert {i for i, s in after_first.items() if s == "not_found"} == missing

        rounds = 0
        while any(s == "error" for s in statuses(engine).values()):
            rounds += 1
            assert rounds <= MAX_RETRY_ROUNDS, f"still failing after {MAX_RETRY_ROUNDS} retry rounds"
            for request in orchestra.tick("innomaint_retry_failed").run_requests:
                assert request.partition_key and request.tags["ic3/trigger"] == "retry"
                orchestra.execute(request, "enrich_innomaint")

        final = statuses(engine)
        assert {i for i, s in final.items() if s == "success"} == set(sites) - missing
        assert inconsistent(engine) == []
        hits = simulator.stats()["hits"]
        assert all(hits[i] == 1 for i in missing)  # a 404 is never retried
        assert not orchestra.tick("innomaint_retry_failed").run_requests


def test_status_numbers_equal_the_tables(orchestra, register_dir, monkeypatch, tmp_path):
    register = write_sample_register(register_dir / "register.xlsx", assets=40, sites=4, seed=3)
    sites = {r["cmms_asset_id"]: r["site_name"] for r in validate(open_register(register)).records()}
    with simulator_for(sites, missing_ids=frozenset(sorted(sites)[:3])) as simulator:
        orchestra.defs = build_defs(orchestra.db_url, simulator.base_url, max_attempts=1)
        simulator.script_faults(sorted(sites)[5], ["503"])
        (request,) = orchestra.tick("register_drop_folder").run_requests
        orchestra.execute(request, "import_register")
        for request in orchestra.tick("innomaint_new_sites").run_requests:
            orchestra.execute(request, "enrich_innomaint")
    engine = orchestra.engine
    with engine.connect() as conn:
        def n(*where):
            return conn.execute(select(func.count()).select_from(tables.asset_master).where(*where)).scalar_one()
        expected = {
            "total": n(),
            "synced": n(tables.asset_master.c.last_sync_status == "success"),
            "needing_retry": n(tables.asset_master.c.last_sync_status == "error"),
            "not_found": n(tables.asset_master.c.last_sync_status == "not_found"),
            "never_synced": n(tables.asset_master.c.last_sync_status.is_(None)),
        }
        batches = conn.execute(select(func.count()).select_from(tables.cmms_sync_log)).scalar_one()
    assert expected == {"total": 40, "synced": 36, "needing_retry": 1, "not_found": 3, "never_synced": 0}
    status = sync_status(engine)
    assert {k: getattr(status, k) for k in expected} == expected
    assert len(status.last_batches) == batches == 1

    monkeypatch.setenv("IC3_DATABASE_URL", orchestra.db_url)
    printed = json.loads(CliRunner().invoke(main, ["status", "--json"], catch_exceptions=False).output)
    assert {k: printed[k] for k in expected} == expected  # today's top-level keys: the whole database
    assert {k: printed["sources"]["innomaint"][k] for k in expected} == expected  # and per source
    assert printed["last_batches"][0]["source"] == "innomaint"
    one = json.loads(CliRunner().invoke(main, ["status", "innomaint", "--json"], catch_exceptions=False).output)
    assert {k: one[k] for k in expected} == expected and "sources" not in one
    text = CliRunner().invoke(main, ["status"]).output
    assert "needing retry            1" in text and "not found                3" in text
    assert "Sync status of source innomaint" in text
    unknown = CliRunner().invoke(main, ["status", "nosuch"])
    assert unknown.exit_code == 2 and "No source named 'nosuch'" in unknown.output

    for key in (AssetKey("sync_status"), INNOMAINT.status_key):  # the whole database's, and the source's
        result = orchestra.defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=orchestra.instance, asset_selection=[key])
        shown = result.get_asset_materialization_events()[0].materialization.metadata
        assert (shown["synced"].value, shown["needing retry"].value, shown["not found"].value) == (36, 1, 3)
        assert shown["synced %"].value == 90.0


def test_sync_one_asset_job_from_the_launchpad(orchestra, register_dir):
    register = write_sample_register(register_dir / "register.xlsx", assets=12, sites=2, seed=9)
    sites = {r["cmms_asset_id"]: r["site_name"] for r in validate(open_register(register)).records()}
    target = sorted(sites)[4]
    with simulator_for(sites) as simulator:
        orchestra.defs = build_defs(orchestra.db_url, simulator.base_url)
        (request,) = orchestra.tick("register_drop_folder").run_requests
        orchestra.execute(request, "import_register")
        register_keys = orchestra.instance.get_dynamic_partitions("sites")
        result = orchestra.defs.resolve_job_def(INNOMAINT.one_asset_job).execute_in_process(
            instance=orchestra.instance, run_config={"ops": {"sync_asset_innomaint": {"config": {"asset_id": target}}}}
        )
        assert result.success
        assert simulator.stats()["hits"] == {target: 1}
        materialized = orchestra.instance.get_latest_materialization_event(INNOMAINT.details_key)
        assert materialized.dagster_event.partition in register_keys
        assert statuses(orchestra.engine)[target] == "success"

        missing = orchestra.defs.resolve_job_def(INNOMAINT.one_asset_job).execute_in_process(
            instance=orchestra.instance,
            run_config={"ops": {"sync_asset_innomaint": {"config": {"asset_id": "no such asset"}}}},
            raise_on_error=False,
        )
        assert not missing.success
        message = missing.get_step_failure_events()[0].step_failure_data.user_failure_data.description
        assert message == "No asset 'no such asset' in ic3_asset_master: import a register that has it."
