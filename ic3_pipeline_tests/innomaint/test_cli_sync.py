"""`ic3 sync`: batched runs on DAGSTER_HOME, a summary, and an exit status that says whether assets failed."""

import re
import threading
import time
import uuid

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from ic3_pipeline.cli import main
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint.conftest import TOKEN
from ic3_pipeline_tests.reliability.conftest import assert_exact


def sync(*args: str):
    return CliRunner().invoke(main, ["sync", *args], catch_exceptions=False)


def test_sync_all_batches_sites_into_few_runs(pipeline, cli_env):
    result = sync("--all", "--sites-per-run", "5")
    assert result.exit_code == 0, result.output
    n = len(pipeline.asset_ids)
    assert f"Done: {n} synced, 0 failed, 0 not found of {n} due" in result.output
    with DagsterInstance.from_config(str(cli_env)) as instance:
        runs = instance.get_runs()
    assert len(runs) == 2  # 8 sites, 5 per run
    assert all(run.job_name == "enrich_innomaint" and run.tags["ic3/trigger"] == "cli" for run in runs)
    assert TOKEN not in result.output


def test_sync_exits_non_zero_when_assets_failed_but_not_for_not_found(pipeline, cli_env):
    pipeline.simulator.configure(missing_ids=frozenset(pipeline.asset_ids[:2]))
    assert sync("--all").exit_code == 0  # not found is an answer, not a failure
    pipeline.simulator.script_faults(pipeline.asset_ids[5], ["503"] * 20)
    result = sync("--all", "--force")
    assert result.exit_code == 1
    assert "1 failed" in result.output and "stay due" in result.output


def test_sync_one_asset_prints_what_changed(pipeline, cli_env):
    asset_id = pipeline.asset_ids[3]
    result = sync("--asset", asset_id)
    assert result.exit_code == 0, result.output
    assert "ic3_asset_master.sync_version: 0 → 1" in result.output
    assert "ic3_asset_master.last_sync_status: None → 'success'" in result.output
    assert pipeline.simulator.stats()["hits"] == {asset_id: 1}
    again = sync("--asset", asset_id)  # always fetched, due or not
    assert "ic3_asset_master.sync_version: 1 → 2" in again.output


def test_sync_explains_what_is_missing(pipeline, cli_env, monkeypatch):
    assert "No asset 'nope'" in CliRunner().invoke(main, ["sync", "--asset", "nope"]).output
    assert "No site named 'Atlantis'" in CliRunner().invoke(main, ["sync", "--site", "Atlantis"]).output
    assert CliRunner().invoke(main, ["sync"]).exit_code == 2
    monkeypatch.delenv("INNOMAINT_API_TOKEN")
    result = CliRunner().invoke(main, ["sync", "--all"])
    assert result.exit_code == 2 and "INNOMAINT_API_TOKEN is not set" in result.output


def test_token_is_in_no_file_the_instance_wrote(pipeline, cli_env):
    pipeline.simulator.script_faults(pipeline.asset_ids[0], ["503"] * 20)
    sync("--all")
    files = [p for p in cli_env.rglob("*") if p.is_file()]
    assert any(p.suffix in (".db", ".out", ".err", ".complete") or "sqlite" in p.name for p in files)
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path


def test_sync_without_source_syncs_each_configured_one_and_skips_those_not_set_up(pipeline, cli_env, monkeypatch):
    """Every configured source whose environment is set is synced; one whose variables are unset is skipped with a
    one-line note and does not change the exit status."""
    from dataclasses import replace

    from ic3_pipeline.cli import sync as sync_command
    from ic3_pipeline_tests.sources import INNOMAINT

    unset = replace(INNOMAINT, source="innomaint_other_tenant", base_url_env="OTHER_TENANT_URL",
                    secrets={"token": "OTHER_TENANT_TOKEN"})
    monkeypatch.setattr(sync_command, "configured", lambda: ([INNOMAINT, unset], []))
    result = sync("--all")
    assert result.exit_code == 0, result.output
    assert "Skipping innomaint_other_tenant: OTHER_TENANT_URL and OTHER_TENANT_TOKEN are not set." in result.output
    assert f"Done: {len(pipeline.asset_ids)} synced" in result.output
    named = CliRunner().invoke(main, ["sync", "innomaint_other_tenant", "--all"])
    assert named.exit_code == 2  # asked for by name: its missing setup is an error
    assert "OTHER_TENANT_URL and OTHER_TENANT_TOKEN are not set" in named.output
    unknown = CliRunner().invoke(main, ["sync", "nosuch", "--all"])
    assert unknown.exit_code != 0 and "No source named 'nosuch'" in unknown.output


def test_missing_base_url_is_a_clear_error_not_a_default(pipeline, monkeypatch):
    """Outside the demo there is no default API address: an unset INNOMAINT_BASE_URL fails the run, saying so."""
    from ic3_pipeline.components.resource import api_resource
    from ic3_pipeline_tests.sources import INNOMAINT

    monkeypatch.delenv("INNOMAINT_BASE_URL", raising=False)
    monkeypatch.setenv("INNOMAINT_API_TOKEN", TOKEN)
    resource = api_resource(INNOMAINT)  # exactly as the project's defs.yaml declares it
    assert resource.base_url is None
    result = pipeline.enrich(resource=resource)
    assert not result.success
    (failure,) = result.get_step_failure_events()  # not retried: retrying cannot set a variable
    assert failure.step_failure_data.user_failure_data.description == (
        "No base URL for source 'innomaint': set INNOMAINT_BASE_URL in the environment (defs/innomaint/defs.yaml)."
    )
    assert pipeline.simulator.stats()["requests"] == 0


def test_a_refused_token_is_said_plainly_not_summed_as_nothing_due(pipeline, cli_env, monkeypatch):
    monkeypatch.setenv("INNOMAINT_API_TOKEN", "not-the-token")
    result = sync("--all")
    assert result.exit_code == 1
    assert "Innomaint refused the API token (HTTP 401): check INNOMAINT_API_TOKEN." in result.output
    n = len(pipeline.asset_ids)
    assert "0 of 0 due" not in result.output and "of 0 due" not in result.output
    # The requests already in flight when the first 401 came back (one or two, as the limiter paces) are counted.
    assert re.search(rf"Stopped: 0 synced, 0 failed, 0 not found of {n} due; [12] requests, 0 answered 429; 1 run "
                     r"failed: Innomaint refused the API token \(HTTP 401\)", result.output), result.output


def test_a_step_retried_after_the_database_dropped_its_connection_is_summed_over_both_attempts(
        pipeline, cli_env, monkeypatch):
    """PostgreSQL terminates the writer's connection mid-transaction: the step fails, Dagster retries it, and the
    summary counts what both attempts did and names the fault and the retry (it used to print only the retry's
    figures: `Done: 329 synced … of 337 due` for a 400-asset register)."""
    if not pipeline.db_url.startswith("postgresql"):
        pytest.skip("terminating a server connection is a PostgreSQL fault")
    name = f"ic3_retry_{uuid.uuid4().hex[:8]}"  # only this test's connections are terminated, not other tests'
    url = make_url(pipeline.db_url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
    monkeypatch.setenv("IC3_DATABASE_URL", url)
    pipeline.simulator.configure(latency_ms=40.0, rate_limit=20.0)  # ~6 s of writes to catch one inside
    admin = create_engine(pipeline.db_url)
    terminated: list[int] = []

    def terminate_one_writer() -> None:
        deadline = time.monotonic() + 60
        with admin.connect() as conn:
            synced = select(func.count()).where(tables.asset_master.c.last_sync_status == "success")
            while conn.execute(synced).scalar_one() < 30 and time.monotonic() < deadline:
                time.sleep(0.02)
            with admin.begin() as lock:  # the writer's next group waits on this lock, inside its transaction
                lock.execute(text("LOCK TABLE cmms_sync_state IN EXCLUSIVE MODE"))
                while not terminated and time.monotonic() < deadline:
                    waiting = conn.execute(text(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND wait_event_type = 'Lock' "
                        "AND pid <> pg_backend_pid()"), {"name": name}).scalars().all()
                    for pid in waiting:  # terminated by pid: never anyone else's connection
                        if conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar():
                            terminated.append(pid)
                    time.sleep(0.01)

    killer = threading.Thread(target=terminate_one_writer, daemon=True)
    killer.start()
    result = sync("--all")
    killer.join(timeout=60)
    admin.dispose()
    assert terminated, "the writer's connection was never terminated: the test did not exercise the fault"
    n = len(pipeline.asset_ids)
    output = result.output
    assert result.exit_code == 0, output
    assert "attempt 1: synced " in output and "stopped: Database error, batch stopped: " in output
    assert "; retried (what it wrote is kept)" in output and "attempt 2: synced " in output
    first = int(output.split("attempt 1: synced ")[1].split(",")[0])
    second = int(output.split("attempt 2: synced ")[1].split(",")[0])
    assert first >= 30 and first + second == n  # the first attempt's work is counted, not lost from the summary
    assert f"Done: {n} synced, 0 failed, 0 not found of {n} due; " in output
    assert "1 attempt stopped by a fault and was retried (Database error, batch stopped: " in output
    assert_exact(pipeline.engine, set(pipeline.asset_ids))
