"""Maximo through defs/maximo/defs.yaml's mappings into the unified model, against the simulator, on SQLite and on
PostgreSQL: after a full sync, an incremental one and a full refresh with deleted records, ``cmms_asset`` and
``cmms_work_order`` hold exactly what the simulator's records imply (status, priority and work type normalised,
dates in UTC, the register's asset found by serial number), deleted records marked as in the raw tables; a record
whose value a transform cannot convert is in ``cmms_mapping_error``, not in the unified table, and still raw."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from dagster import Definitions, instance_for_test
from sqlalchemy import insert, select, text

from ic3_pipeline.cli.collections import _echo_run
from ic3_pipeline.components.collections import collection_definitions
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.runs import RunOutcome
from ic3_pipeline.sync.mapping import compile_mapping
from ic3_pipeline.sync.partitions import RANGE_END_TAG, RANGE_START_TAG
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc, utc_now
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline.warehouse.unified_tables import cmms_asset, cmms_work_order, mapping_error
from ic3_pipeline_tests.maximo.conftest import API_KEY, SITES, Syncer

DEFS_YAML = Path(__file__).resolve().parents[2] / "ic3_pipeline" / "defs" / "maximo" / "defs.yaml"
STREAMS = ("locations", "asset", "wodetail")

# What each Maximo value means in the unified model, written out here (not read from the YAML under test).
WO_STATUS = {"WAPPR": "open", "APPR": "open", "WSCH": "open", "WMATL": "on_hold", "WPCOND": "on_hold",
             "INPRG": "in_progress", "COMP": "completed", "CLOSE": "completed", "HISTEDIT": "completed",
             "CAN": "cancelled"}
WORK_TYPE = {"PM": "preventive", "CM": "corrective", "EM": "emergency", "INSP": "inspection", "CAL": "inspection"}


def priority(wopriority: int | None) -> int | None:
    """Maximo's 0-999 (999 the most urgent) as 1 (highest) .. 5."""
    if wopriority is None:
        return None
    return 1 if wopriority >= 800 else 2 if wopriority >= 600 else 3 if wopriority >= 400 else 4 if (
        wopriority >= 200) else 5


def utc(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(timezone.utc) if value else None


def expected_assets(truth: list[dict[str, Any]], register: dict[str, int]) -> dict[str, dict]:
    rows = {}
    for record in truth:
        serial = record.get("serialnum")
        rows[f"{record['siteid']}/{record['assetnum']}"] = {
            "name": record["description"].strip(), "site": record["siteid"], "status": record["status"],
            "serial_number": serial, "ic3_asset_id": register.get(serial.lower()) if serial else None,
            "source_updated_at": utc(record["changedate"]),
        }
    return rows


def expected_work_orders(truth: list[dict[str, Any]]) -> dict[str, dict]:
    rows = {}
    for record in truth:
        status = record["status"]
        rows[f"{record['siteid']}/{record['wonum']}"] = {
            "title": record["description"].strip(), "status": WO_STATUS[status],
            "priority": priority(record.get("wopriority")), "work_type": WORK_TYPE.get(record["worktype"], "other"),
            "asset_source_id": f"{record['siteid']}/{record['assetnum']}" if record.get("assetnum") else None,
            "site": record["siteid"], "created_at": utc(record["reportdate"]), "due_at": utc(record["targcompdate"]),
            "completed_at": utc(record.get("actfinish")) if status in ("COMP", "CLOSE", "HISTEDIT") else None,
            "source_updated_at": utc(record["changedate"]),
        }
    return rows


def live(engine, table) -> dict[str, dict]:
    columns = [c.name for c in table.columns if not c.name.startswith("_") and c.name not in ("source", "source_id")]
    with engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.source == "maximo", table.c._deleted_at.is_(None))).all()
    return {row.source_id: {name: as_utc(value) if isinstance(value, datetime) else value
                            for name, value in ((name, row._mapping[name]) for name in columns)} for row in found}


def differences(found: dict[str, dict], expected: dict[str, dict]) -> list[str]:
    problems = [f"missing {key}" for key in expected if key not in found]
    problems += [f"extra {key}" for key in found if key not in expected]
    for key in expected.keys() & found.keys():
        problems += [f"{key}.{name}: expected {value!r}, stored {found[key][name]!r}"
                     for name, value in expected[key].items() if found[key][name] != value]
    return problems


def assert_unified_exact(syncer: Syncer, register: dict[str, int]) -> None:
    sim, engine = syncer.simulator, syncer.engine
    assert differences(live(engine, cmms_asset), expected_assets(sim.truth("mxapiasset"), register)) == []
    assert differences(live(engine, cmms_work_order), expected_work_orders(sim.truth("mxapiwodetail"))) == []


def seed_register(engine, simulator) -> dict[str, int]:
    """Register assets for a few of the simulator's serial numbers (in lower case: the rule ignores case), and
    two register rows sharing one serial (ambiguous: matched to neither)."""
    serials = sorted({r["serialnum"] for r in simulator.truth("mxapiasset") if r.get("serialnum")})
    chosen, ambiguous = serials[:6], serials[6]
    with engine.begin() as conn:
        for serial in chosen:
            conn.execute(insert(tables.asset_master).values(cmms_asset_id=serial.lower(), asset_name=f"reg {serial}"))
        conn.execute(insert(tables.asset_master).values(cmms_asset_id=f" {ambiguous} ", asset_name="one"))
        conn.execute(insert(tables.asset_master).values(cmms_asset_id=ambiguous.lower(), asset_name="two"))
        ids = dict(conn.execute(select(tables.asset_master.c.cmms_asset_id, tables.asset_master.c.asset_id)).all())
    return {serial.lower(): ids[serial.lower()] for serial in chosen}


def test_full_incremental_then_full_with_deletes_leave_the_unified_tables_exact(syncer, simulator):
    register = seed_register(syncer.engine, simulator)
    simulator.configure(fault_rate=0.15, fault_kinds=("503", "truncated"))
    reports = syncer.sync(*STREAMS, full=True)
    assert sum(r.unified_rows for r in reports if r.stream == "wodetail") == len(simulator.truth("mxapiwodetail"))
    assert all(r.mapping_failed == 0 for r in reports)
    assert_unified_exact(syncer, register)
    with syncer.engine.connect() as conn:
        linked = conn.execute(text("SELECT count(*) FROM cmms_asset WHERE ic3_asset_id IS NOT NULL")).scalar_one()
        statuses = set(conn.execute(text("SELECT DISTINCT status FROM cmms_work_order")).scalars())
    assert linked == len(register) > 0
    assert statuses == {"open", "in_progress", "completed", "cancelled"}  # every status the simulator uses, normalised

    simulator.change("mxapiasset", count=5)
    changed = simulator.change("mxapiwodetail", count=8)  # statuses move on (WAPPR -> APPR -> INPRG -> COMP ...)
    second = syncer.sync(*STREAMS)
    assert {r.mode for r in second if r.stream != "locations"} == {"incremental"}
    assert changed
    assert_unified_exact(syncer, register)

    gone_wo = simulator.delete("mxapiwodetail", count=3)
    gone_asset = simulator.delete("mxapiasset", count=2)
    syncer.sync(*STREAMS, full=True)
    assert_unified_exact(syncer, register)  # the live rows are exactly the simulator's
    with syncer.engine.connect() as conn:
        deleted_wo = set(conn.execute(select(cmms_work_order.c.source_id).where(
            cmms_work_order.c._deleted_at.is_not(None))).scalars())
        deleted_asset = set(conn.execute(select(cmms_asset.c.source_id).where(
            cmms_asset.c._deleted_at.is_not(None))).scalars())
        raw_deleted = set(conn.execute(text("SELECT siteid || '/' || wonum FROM maximo_wodetail "
                                            "WHERE _deleted_at IS NOT NULL")).scalars())
    assert deleted_wo == {"/".join(key) for key in gone_wo} == raw_deleted  # soft, as in the raw table
    assert deleted_asset == {"/".join(key) for key in gone_asset}


def with_priority_from(spec, attribute: str):
    """The Maximo source with its work-order mapping reading ``priority`` from ``attribute`` instead."""
    block = next(s for s in yaml.safe_load(DEFS_YAML.read_text())["attributes"]["streams"] if s["name"] == "wodetail")
    unified = block["unified"]
    unified["fields"]["priority"]["path"] = attribute
    streams = tuple(dataclasses.replace(stream, mapping=compile_mapping(unified, key=stream.key))
                    if stream.name == "wodetail" else stream for stream in spec.streams)
    return dataclasses.replace(spec, streams=streams)


def test_a_value_no_transform_can_convert_is_recorded_and_its_record_left_out(syncer, simulator, spec):
    syncer.sync(*STREAMS, sites=["BEDFORD"])
    truth = {f"{r['siteid']}/{r['wonum']}": r for r in simulator.truth("mxapiwodetail", site="BEDFORD")}
    assert len(live(syncer.engine, cmms_work_order)) == len(truth)

    # The API starts sending a priority that is sometimes a word: those records cannot be mapped.
    simulator.add_attribute("mxapiwodetail", "ic3_priority",
                            lambda attrs: "urgent" if attrs["wonum"].endswith("3") else 450)
    broken = Syncer(with_priority_from(spec, "ic3_priority"), simulator, syncer.engine, syncer.settings)
    [report] = broken.sync("wodetail", sites=["BEDFORD"], full=True)
    bad = {key for key in truth if key.endswith("3")}
    assert bad and report.mapping_failed == len(bad)
    assert report.unified_rows == len(truth) - len(bad)

    stored = live(syncer.engine, cmms_work_order)
    assert set(stored) == set(truth) - bad  # left out whole (their earlier rows removed, not left stale)
    assert {row["priority"] for row in stored.values()} == {3}
    with syncer.engine.connect() as conn:
        errors = conn.execute(select(mapping_error).order_by(mapping_error.c.record_key)).all()
        raw = set(conn.execute(text("SELECT siteid || '/' || wonum FROM maximo_wodetail "
                                    "WHERE ic3_priority IS NULL AND _deleted_at IS NULL")).scalars())
    assert {e.record_key for e in errors} == bad == raw  # still in the raw table (the word kept in _type_errors)
    for error in errors:
        assert (error.source, error.stream, error.unified_table, error.field, error.value, error.transform) == (
            "maximo", "wodetail", "cmms_work_order", "priority", "urgent", "int")
        assert error.source_id == error.record_key
        assert error.message == "'urgent' is not a whole number"
        assert as_utc(error.recorded_at) <= utc_now()

    # One of them is deleted in Maximo: the next complete full read forgets its errors (the others stay).
    deleted = sorted(bad)[0]
    assert simulator.delete("mxapiwodetail", keys=[tuple(deleted.split("/"))])
    broken.sync("wodetail", sites=["BEDFORD"], full=True)
    with syncer.engine.connect() as conn:
        assert set(conn.execute(select(mapping_error.c.record_key)).scalars()) == bad - {deleted}

    # Read again with a mapping that converts them: the records come back and their errors go.
    [again] = syncer.sync("wodetail", sites=["BEDFORD"], full=True)
    assert again.mapping_failed == 0
    assert set(live(syncer.engine, cmms_work_order)) == set(truth) - {deleted}
    with syncer.engine.connect() as conn:
        assert conn.execute(select(mapping_error)).all() == []


def test_in_dagster_a_record_left_out_never_fails_the_run_and_the_check_names_it(db_url, simulator, maximo_engine,
                                                                                   spec, monkeypatch, capsys):
    monkeypatch.setenv("MAXIMO_API_KEY", API_KEY)
    simulator.add_attribute("mxapiwodetail", "ic3_priority",
                            lambda attrs: "urgent" if attrs["wonum"].endswith("3") else 450)
    variant = with_priority_from(spec, "ic3_priority")
    resource = CmmsApiResource(source="maximo", connector="maximo", base_url=simulator.base_url,
                               secret_env=dict(spec.secrets), initial_rate_per_s=50.0, timeout_s=5.0, max_attempts=3)
    defs = Definitions.merge(collection_definitions(variant, resource),
                             Definitions(resources={"warehouse": WarehouseResource(database_url=db_url)}))
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("maximo_sites", list(SITES))
        result = defs.resolve_job_def("sync_maximo").execute_in_process(
            instance=instance, tags={RANGE_START_TAG: SITES[0], RANGE_END_TAG: SITES[-1]})
        assert result.success  # records that cannot be mapped never fail the sync
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        materialized = {e.asset_key.path[1]: e.materialization.metadata
                        for e in result.get_asset_materialization_events()}
    bad = {f"{r['siteid']}/{r['wonum']}" for r in simulator.truth("mxapiwodetail") if r["wonum"].endswith("3")}
    check = checks["wodetail_maps_to_unified"]
    assert not check.passed and check.metadata["records not mapped"].value == len(bad)
    problems = check.metadata["problems"].value
    assert all(f"| {key} | priority | urgent | int | 'urgent' is not a whole number |" in problems for key in bad)
    assert checks["asset_maps_to_unified"].passed
    wo = materialized["wodetail"]
    assert wo["records not mapped (cmms_mapping_error)"].value == len(bad)
    assert wo["rows written to cmms_work_order"].value == len(simulator.truth("mxapiwodetail")) - len(bad)
    assert set(live(maximo_engine, cmms_work_order)) == {
        f"{r['siteid']}/{r['wonum']}" for r in simulator.truth("mxapiwodetail")} - bad

    # `ic3 sync maximo` prints the same, read back from the database for the run.
    _echo_run(maximo_engine, variant, 1, 1, RunOutcome(result.run_id, True, None, {}))
    printed = capsys.readouterr().out
    assert (f"wodetail   {len(bad)} record(s) not mapped to cmms_work_order: they are in the raw table only "
            "(see cmms_mapping_error)") in printed
    assert printed.count("not mapped") == 1  # every asset was mapped
