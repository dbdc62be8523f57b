"""`ic3 connector check NAME` against the UpKeep simulator, as a user runs it (a separate process, the environment's
credentials): the mapped unified rows of one page per stream, every mapping problem, a refused password and a YAML
mistake each with a clear message and a non-zero exit, no secret in the output, and nothing written anywhere (no
database file, no Dagster run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ic3_pipeline.components.connector_files import project_defs_dir
from ic3_pipeline.sandbox.upkeep_simulator import UpKeepSimConfig, UpKeepSimulator

EMAIL = "check@example.com"
PASSWORD = "upkeep-check-pw-91c7e2-not-real"  # distinctive, so the output can be searched for it
ASSETS_UNIFIED = {
    "table": "cmms_asset",
    "fields": {
        "name": {"path": "name", "steps": ["trim"]},
        "site": {"path": "locationName"},
        "status": {"path": "status"},
        "serial_number": {"path": "serialNumber"},
        "source_updated_at": {"path": "updatedAt", "steps": ["date"]},
    },
}
# Only "open" is mapped and there is no default: every other status is a mapping problem.
NARROW_WORK_ORDERS_UNIFIED = {
    "table": "cmms_work_order",
    "fields": {"title": {"path": "title"}, "status": {"path": "status", "map": {"open": "open"}}},
}


@pytest.fixture
def simulator() -> Iterator[UpKeepSimulator]:
    sim = UpKeepSimulator(UpKeepSimConfig(email=EMAIL, password=PASSWORD, assets_per_site=12, seed=11))
    sim.start()
    yield sim
    sim.stop()


def upkeep_with(tmp_path: Path, **unified: dict) -> Path:
    """A defs folder holding the UpKeep preset (as shipped) with exactly the ``unified:`` blocks given (the other
    streams none), so the test does not depend on how the preset itself maps."""
    document = yaml.safe_load((project_defs_dir() / "upkeep" / "defs.yaml").read_text(encoding="utf-8"))
    for stream in document["attributes"]["streams"]:
        stream.pop("unified", None)
        if stream["name"] in unified:
            stream["unified"] = unified[stream["name"]]
    folder = tmp_path / "defs"
    (folder / "upkeep").mkdir(parents=True)
    (folder / "upkeep" / "defs.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return folder


def check(tmp_path: Path, *args: str, base_url: str | None, password: str = PASSWORD) -> subprocess.CompletedProcess:
    """``ic3 connector check ...`` in its own process; the database and Dagster home point into ``tmp_path``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("UPKEEP_", "IC3_DATABASE"))}
    env.update({"UPKEEP_EMAIL": EMAIL, "UPKEEP_PASSWORD": password, "DAGSTER_HOME": str(tmp_path / "dagster_home"),
                "IC3_DATABASE_URL": f"sqlite:///{tmp_path / 'ic3.sqlite'}"})
    if base_url:
        env["UPKEEP_BASE_URL"] = base_url
    return subprocess.run([sys.executable, "-m", "ic3_pipeline.cli", "connector", "check", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def assert_nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "ic3.sqlite").exists(), "check created the database"
    home = tmp_path / "dagster_home"
    assert not home.exists() or not any(home.iterdir()), "check touched the Dagster instance"


def test_check_prints_the_mapped_rows_of_one_page_and_writes_nothing(tmp_path, simulator):
    defs = upkeep_with(tmp_path, assets=ASSETS_UNIFIED)
    done = check(tmp_path, "upkeep", "--defs-dir", str(defs), "--rows", "3", base_url=simulator.base_url)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    truth = simulator.truth("assets")
    assert f"assets: GET /assets?limit=100&offset=0 -> {len(truth)} record(s)" in done.stdout
    assert f"-> cmms_asset: {len(truth)} row(s) mapped, 0 problem(s)" in done.stdout
    header = next(line for line in done.stdout.splitlines() if line.strip().startswith("source_id"))
    assert header.split() == ["source_id", "name", "site", "status", "serial_number", "source_updated_at"]
    assert f"… {len(truth) - 3} more (--rows N)" in done.stdout
    assert "work_orders: GET /work-orders?limit=100&offset=0 -> " in done.stdout  # read, raw only
    assert "no `unified:` mapping: the raw table only" in done.stdout
    assert done.stdout.rstrip().endswith("0 failed page(s). OK")
    assert PASSWORD not in out and "sessionToken" not in out
    assert_nothing_written(tmp_path)

    as_json = check(tmp_path, "upkeep", "--defs-dir", str(defs), "--stream", "assets", "--json",
                    base_url=simulator.base_url)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    (assets,) = report["streams"]
    by_id = {record["id"]: record for record in truth}
    assert sorted(row["source_id"] for row in assets["rows"]) == sorted(by_id)
    for row in assets["rows"]:
        record = by_id[row["source_id"]]
        assert (row["name"], row["site"], row["status"], row["serial_number"]) == (
            record["name"].strip(), record["locationName"], record["status"], record["serialNumber"])
        assert row["source_updated_at"].startswith(record["updatedAt"][:19])
    assert simulator.stats()["per_path"].get("/work-orders", 0) == 1  # one page of each stream, never paged on
    assert_nothing_written(tmp_path)


def test_every_mapping_problem_is_printed_and_the_exit_is_1(tmp_path, simulator):
    defs = upkeep_with(tmp_path, work_orders=NARROW_WORK_ORDERS_UNIFIED)
    done = check(tmp_path, "upkeep", "--defs-dir", str(defs), "--stream", "work_orders", "--page-size", "40",
                 base_url=simulator.base_url)
    assert done.returncode == 1, done.stdout + done.stderr
    page = json.loads(check(tmp_path, "upkeep", "--defs-dir", str(defs), "--stream", "work_orders", "--page-size",
                            "40", "--json", base_url=simulator.base_url).stdout)["streams"][0]
    not_open = [problem for problem in page["problems"] if problem["field"] == "status"]
    assert not_open and len(page["rows"]) + len(not_open) == page["records"] == 40
    assert all(row["status"] == "open" for row in page["rows"])
    problem = not_open[0]
    assert problem["transform"] == "map" and "not in the map" in problem["message"]
    line = f"PROBLEM record {problem['record']} ({problem['source_id']}): status = {problem['value']} [map]: "
    assert line in done.stdout
    assert f"-> cmms_work_order: {len(page['rows'])} row(s) mapped, {len(not_open)} problem(s)" in done.stdout
    assert done.stdout.rstrip().endswith("NOT OK")
    assert_nothing_written(tmp_path)


def test_a_wrong_password_is_a_clear_failure_naming_the_variables_not_the_secret(tmp_path, simulator):
    wrong = "not-the-password-3f9a"
    done = check(tmp_path, "upkeep", base_url=simulator.base_url, password=wrong)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "assets: FAILED GET /assets?limit=100&offset=0" in done.stdout
    assert "/auth was refused (HTTP 4" in done.stdout
    assert "the credentials come from UPKEEP_EMAIL, UPKEEP_PASSWORD; later streams not asked" in done.stdout
    assert "work_orders" not in done.stdout  # the same credentials would be refused again
    assert wrong not in out and PASSWORD not in out
    assert_nothing_written(tmp_path)


def test_a_yaml_mistake_is_named_by_file_line_and_key_with_exit_2(tmp_path, simulator):
    folder = tmp_path / "defs" / "upkeep"
    folder.mkdir(parents=True)
    text = (project_defs_dir() / "upkeep" / "defs.yaml").read_text(encoding="utf-8")
    assert "    records: results\n" in text
    text = text.replace("    records: results\n", "    recrods: results\n")
    (folder / "defs.yaml").write_text(text, encoding="utf-8")
    lines = text.splitlines()
    # What `dg check defs` names for an unknown key: the key's own line or its block's (`api:`).
    wanted = {lines.index("    recrods: results") + 1, lines.index("  api:") + 1}
    done = check(tmp_path, "upkeep", "--defs-dir", str(tmp_path / "defs"), base_url=simulator.base_url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert any(f"{folder / 'defs.yaml'}:{line}" in done.stderr for line in wanted), done.stderr
    assert "recrods" in done.stderr
    assert "Extra inputs are not permitted" in done.stderr
    assert simulator.stats()["requests"] == 0  # a wrong file asks the API nothing
    assert_nothing_written(tmp_path)


def test_what_the_environment_lacks_and_unknown_names_exit_2(tmp_path, simulator):
    no_url = check(tmp_path, "upkeep", base_url=None)
    assert no_url.returncode == 2 and "No base URL for upkeep: set UPKEEP_BASE_URL" in no_url.stderr
    no_stream = check(tmp_path, "upkeep", "--stream", "invoices", base_url=simulator.base_url)
    assert no_stream.returncode == 2
    assert "no stream 'invoices'; streams: assets, work_orders, pm_schedules" in no_stream.stderr
    unknown = check(tmp_path, "nosuch", base_url=simulator.base_url)
    assert unknown.returncode == 2 and "ic3 connector new nosuch" in unknown.stderr
    assert check(tmp_path, "Bad-Name", base_url=simulator.base_url).returncode == 2
    assert_nothing_written(tmp_path)


def test_a_per_site_preset_reads_the_first_configured_site_or_the_one_asked_for(tmp_path):
    from ic3_pipeline.sandbox.sap_pm_simulator import SapPmSimConfig, SapPmSimulator

    password = "sap-check-pw-7d1f0a-not-real"
    sim = SapPmSimulator(SapPmSimConfig(user="IC3_READER", password=password, assets_per_site=8, seed=4))
    sim.start()
    try:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SAP_PM_", "IC3_DATABASE"))}
        env.update({"SAP_PM_BASE_URL": sim.base_url, "SAP_PM_USER": "IC3_READER", "SAP_PM_PASSWORD": password,
                    "DAGSTER_HOME": str(tmp_path / "dagster_home"),
                    "IC3_DATABASE_URL": f"sqlite:///{tmp_path / 'ic3.sqlite'}"})

        def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "ic3_pipeline.cli", "connector", "check", "sap_pm", *args],
                                  env={**env, **extra}, capture_output=True, text=True, timeout=120)

        no_sites = run("--stream", "equipment")
        assert no_sites.returncode == 2 and "pass --site or set SAP_PM_PLANTS" in no_sites.stderr
        first = run("--stream", "equipment", "--json", SAP_PM_PLANTS="1020,1010")
        assert first.returncode in (0, 1), first.stderr  # 1 only if the shipped preset's mapping finds problems
        (equipment,) = json.loads(first.stdout)["streams"]
        plant_1020 = [r for r in sim.truth("assets") if r["MaintenancePlant"] == "1020"]
        assert equipment["partition"] == "1020" and equipment["records"] == equipment["total"] == len(plant_1020)
        assert "MaintenancePlant%20eq%20%271020%27" in equipment["url"]
        asked = run("--stream", "equipment", "--site", "1010", SAP_PM_PLANTS="1020")
        assert "equipment [1010]: GET " in asked.stdout, asked.stdout + asked.stderr
        assert password not in first.stdout + first.stderr + asked.stdout + asked.stderr
    finally:
        sim.stop()
    assert_nothing_written(tmp_path)


def test_since_asks_as_an_incremental_read_would(tmp_path, simulator):
    from datetime import datetime, timezone

    defs = upkeep_with(tmp_path, assets=ASSETS_UNIFIED)
    stamps = sorted(datetime.fromisoformat(r["updatedAt"].replace("Z", "+00:00")) for r in simulator.truth("assets"))
    middle = stamps[len(stamps) // 2].replace(microsecond=123000)  # between two records' times
    newer = [stamp for stamp in stamps if stamp >= middle]
    assert 0 < len(newer) < len(stamps)
    done = check(tmp_path, "upkeep", "--defs-dir", str(defs), "--stream", "assets", "--json", "--since",
                 middle.isoformat(), base_url=simulator.base_url)
    assert done.returncode == 0, done.stderr
    (assets,) = json.loads(done.stdout)["streams"]
    assert f"updatedAtGreaterThan={int(middle.timestamp() * 1000)}" in assets["url"]  # the preset's epoch_ms {since}
    assert assets["records"] == len(newer) and assets["since"].startswith(middle.isoformat()[:19])
    assert all(datetime.fromisoformat(row["source_updated_at"]) >= middle for row in assets["rows"])
    bad = check(tmp_path, "upkeep", "--since", "yesterday", base_url=simulator.base_url)
    assert bad.returncode == 2 and "is not an ISO instant" in bad.stderr
    assert_nothing_written(tmp_path)
