"""`ic3 sync maximo` and `ic3 status maximo` on a real Dagster home, against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance

from ic3_pipeline.cli import main
from ic3_pipeline_tests.maximo.conftest import API_KEY, SITES, assert_exact, maximo_spec


@pytest.fixture
def cli_env(db_url, simulator, tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("IC3_DATABASE_URL", db_url)
    monkeypatch.setenv("MAXIMO_BASE_URL", simulator.base_url)
    monkeypatch.setenv("MAXIMO_API_KEY", API_KEY)
    monkeypatch.setenv("MAXIMO_SITES", ",".join(SITES))
    for name in ("MAXIMO_USER", "MAXIMO_PASSWORD", "INNOMAINT_BASE_URL", "INNOMAINT_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return home


def ic3(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_sync_then_status_then_one_object_structure_in_full(cli_env, simulator, maximo_engine):
    first = ic3("sync", "maximo")
    assert first.exit_code == 0, first.output
    assert "Syncing maximo from" in first.output
    assert "asset      BEDFORD    full        success" in first.output
    assert_exact(maximo_engine, maximo_spec(), simulator)

    status = ic3("status", "maximo", "--json")
    document = json.loads(status.output)
    rows = {t["table"]: t for t in document["tables"]}
    assert rows["maximo_asset"]["rows"] == len(simulator.truth("mxapiasset"))
    assert {(s["stream"], s["partition"]) for s in document["streams"]} >= {("asset", "BEDFORD"), ("asset", "NASHUA"),
                                                                             ("maxgroup", "")}
    assert all(s["last_status"] == "success" and s["last_sync_at"] for s in document["streams"])
    assert next(s for s in document["streams"] if s["stream"] == "asset")["high_water_mark"]
    unified = {t["table"]: t for t in document["unified"]}  # the source's rows in the unified model
    assert unified["cmms_asset"] == {"table": "cmms_asset", "rows": len(simulator.truth("mxapiasset")), "deleted": 0}
    assert unified["cmms_work_order"]["rows"] == len(simulator.truth("mxapiwodetail"))
    assert document["records_not_mapped"] == 0

    gone = simulator.delete("mxapiasset", count=2, site="BEDFORD")
    simulator.change("mxapiasset", count=2, site="BEDFORD")
    again = ic3("sync", "maximo", "--object-structure", "MXAPIASSET", "--site", "BEDFORD", "--full")
    assert again.exit_code == 0, again.output
    assert "asset      BEDFORD    full        success" in again.output and "2 deleted" in again.output
    assert "NASHUA" not in again.output and "wodetail" not in again.output
    assert_exact(maximo_engine, maximo_spec(), simulator, names=("asset",))
    assert gone

    text = ic3("status", "maximo")
    assert "maximo_asset" in text.output and "high-water mark" in text.output
    assert f"  {'cmms_asset':<40} {len(simulator.truth('mxapiasset')):>9} {2:>8}" in text.output
    assert "records not mapped: 0 (cmms_mapping_error)" in text.output
    with DagsterInstance.from_config(str(cli_env)) as instance:
        runs = instance.get_runs()
        assert {run.job_name for run in runs} == {"sync_maximo"}
        assert set(instance.get_dynamic_partitions("maximo_sites")) == set(SITES)
    for path in [p for p in cli_env.rglob("*") if p.is_file()]:
        assert API_KEY.encode() not in path.read_bytes(), path


def test_status_watch_refreshes(cli_env, maximo_engine):
    result = ic3("status", "maximo", "--watch", "--interval", "0.5", "--times", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count("Sync status of source maximo") == 2
    assert "refreshing every 0.5 s" in result.output


def test_sync_explains_what_is_wrong(cli_env, monkeypatch, maximo_engine):
    unknown = CliRunner().invoke(main, ["sync", "maximo", "--object-structure", "MXAPINOPE"])
    assert unknown.exit_code == 2 and "has no stream or object structure 'MXAPINOPE'" in unknown.output
    wrong_flag = CliRunner().invoke(main, ["sync", "maximo", "--asset", "1001"])
    assert wrong_flag.exit_code == 2 and "--asset, --force and --sites-per-run are for asset sources" in wrong_flag.output
    monkeypatch.delenv("MAXIMO_SITES")
    no_sites = CliRunner().invoke(main, ["sync", "maximo"])
    assert no_sites.exit_code == 2 and "set MAXIMO_SITES" in no_sites.output
    monkeypatch.delenv("MAXIMO_API_KEY")
    no_key = CliRunner().invoke(main, ["sync", "maximo"])
    assert no_key.exit_code == 2 and "MAXIMO_API_KEY" in no_key.output and "MAXIMO_USER and MAXIMO_PASSWORD" in no_key.output


def test_sync_all_includes_maximo_and_skips_it_when_unset(cli_env, monkeypatch, simulator, maximo_engine):
    synced = ic3("sync", "--all")
    assert "Skipping innomaint" in synced.output and "Syncing maximo" in synced.output
    assert synced.exit_code == 0, synced.output
    monkeypatch.delenv("MAXIMO_BASE_URL")
    skipped = CliRunner().invoke(main, ["sync", "--all"])
    assert "Skipping maximo: MAXIMO_BASE_URL is not set." in skipped.output
    assert skipped.exit_code == 2  # nothing configured at all here: no source to sync


def test_a_failed_stream_exits_1_and_says_why(cli_env, simulator, maximo_engine, monkeypatch):
    monkeypatch.setenv("IC3_STEP_RETRY_DELAY_S", "0.1")
    simulator.configure(api_key="rotated-key")
    result = ic3("sync", "maximo", "--object-structure", "maxgroup")
    assert result.exit_code == 1
    assert "HTTP 401" in result.output and "FAILED" in result.output
    assert API_KEY not in result.output and "rotated-key" not in result.output
