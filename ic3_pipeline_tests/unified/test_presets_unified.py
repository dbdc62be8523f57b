"""The UpKeep, Fiix and SAP PM presets (``defs/<name>/defs.yaml`` as Dagster loads them) through their ``unified:``
mappings into ``cmms_asset``, ``cmms_work_order`` and ``cmms_maintenance_schedule``, against their simulators built
from a register, on SQLite and on PostgreSQL, with faults injected: after a full sync, an incremental one (the
simulator changed records) and a full one after it deleted records, the unified tables hold exactly what the
simulator's truth implies, the deleted records marked ``_deleted_at``.

What a value *means* is written out here from each API's reference and the simulator's documentation (not read from
the YAML under test, nor computed by the mapping code), and checked once more against the simulator's neutral
records. A value no mapping step can convert is in ``cmms_mapping_error`` and not in the unified table; and two
sources in one database answer "work orders by source and status" in one query."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from ic3_pipeline.components.catalog import configured
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.sandbox.fiix_simulator import FiixSimConfig, FiixSimulator
from ic3_pipeline.sandbox.record_api import RecordApiSimulator
from ic3_pipeline.sandbox.sap_pm_simulator import SapPmSimConfig, SapPmSimulator
from ic3_pipeline.sandbox.upkeep_simulator import UpKeepSimConfig, UpKeepSimulator
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc
from ic3_pipeline.warehouse.unified_tables import (
    cmms_asset,
    cmms_maintenance_schedule,
    cmms_work_order,
    mapping_error,
)
from ic3_pipeline_tests.declarative.conftest import sync

UNIFIED = {"cmms_asset": cmms_asset, "cmms_work_order": cmms_work_order,
           "cmms_maintenance_schedule": cmms_maintenance_schedule}
SITES = {"North Plant": "Np", "South Plant": "Sp"}

# The register: 18 assets per site; each asset's code in the CMMS is its register id.
REGISTER = {f"{prefix}-Pump_{n:02d}": site for site, prefix in SITES.items() for n in range(1, 19)}


# --- what each API's values mean (the references and the simulators' documentation, written out) ------------------


def iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def fiix_time(value: str | None) -> datetime | None:  # yyyy-MM-dd HH:mm:ss in the tenant's time (UTC here)
    return None if value is None else datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def epoch_ms(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=value)


def odata(value: str | None) -> datetime | None:  # /Date(ms)/ or /Date(ms+0000)/: the milliseconds are the instant
    if value is None:
        return None
    match = re.fullmatch(r"/Date\((-?\d+)([+-]\d{4})?\)/", value)
    assert match, value
    return epoch_ms(int(match.group(1)))


UPKEEP_STATUS = {"open": "open", "inProgress": "in_progress", "onHold": "on_hold", "complete": "completed"}
UPKEEP_PRIORITY = {3: 1, 2: 2, 1: 3, 0: 5}  # high, medium, low, none
UPKEEP_CATEGORY = {"Preventive": "preventive", "Mechanical": "corrective", "Damage": "emergency",
                   "Inspection": "inspection"}
UPKEEP_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
FIIX_STATUS = {1: "open", 2: "in_progress", 3: "on_hold", 4: "completed", 5: "cancelled"}
FIIX_TYPE = {1: "preventive", 2: "corrective", 3: "emergency", 4: "inspection"}
SAP_STATUS = {"CRTD": "open", "REL": "in_progress", "TECO": "completed", "DLFL": "cancelled"}
SAP_ORDER_TYPE = {"PM01": "corrective", "PM02": "preventive", "PM03": "emergency", "PM04": "inspection"}


class Register:
    """The rows seeded into ic3_asset_master and the rule the presets declare: the asset code, else the serial
    number, equals ``cmms_asset_id`` (trimmed, any case)."""

    def __init__(self, ids: dict[str, int]):
        self.ids = {key.strip().lower(): value for key, value in ids.items()}

    def link(self, code: str | None, serial: str | None) -> int | None:
        for value in (code, serial):
            if value and value.strip().lower() in self.ids:
                return self.ids[value.strip().lower()]
        return None


def upkeep_rows(truth: dict[str, list[dict]], register: Register) -> dict[str, dict[str, dict]]:
    return {
        "cmms_asset": {r["id"]: {
            "name": r["name"].strip(), "site": r["location"], "status": r["status"],
            "serial_number": r["serialNumber"], "ic3_asset_id": register.link(r["barcode"], r["serialNumber"]),
            "source_updated_at": iso(r["updatedAt"])} for r in truth["assets"]},
        "cmms_work_order": {r["id"]: {
            "title": r["title"].strip(), "status": UPKEEP_STATUS[r["status"]],
            "priority": UPKEEP_PRIORITY[r["priority"]], "work_type": UPKEEP_CATEGORY.get(r["category"], "other"),
            "asset_source_id": r["asset"], "site": r["location"], "created_at": iso(r["createdAt"]),
            "due_at": iso(r["dueDate"]), "completed_at": iso(r["dateCompleted"]),
            "source_updated_at": iso(r["updatedAt"])} for r in truth["work_orders"]},
        "cmms_maintenance_schedule": {r["id"]: {
            "title": r["title"].strip(), "asset_source_id": r["asset"],
            "interval_days": float(r["repeatEvery"] * UPKEEP_UNIT_DAYS[r["repeatUnit"]]), "interval_meter": None,
            "next_due_at": iso(r["nextDueDate"]), "last_done_at": iso(r["lastCompletedDate"]),
            "active": not r["isPaused"]} for r in truth["schedules"]},
    }


def fiix_rows(truth: dict[str, list[dict]], register: Register) -> dict[str, dict[str, dict]]:
    return {
        "cmms_asset": {str(r["id"]): {
            "name": r["strName"].strip(), "site": str(r["intSiteID"]),
            "status": "active" if r["bolIsOnline"] == 1 else "inactive", "serial_number": r["strSerialNumber"],
            "ic3_asset_id": register.link(r["strCode"], r["strSerialNumber"]),
            "source_updated_at": epoch_ms(r["intUpdated"])} for r in truth["assets"]},
        "cmms_work_order": {str(r["id"]): {
            "title": r["strDescription"].strip(), "status": FIIX_STATUS[r["intWorkOrderStatusID"]],
            "priority": r["intPriorityID"], "work_type": FIIX_TYPE.get(r["intMaintenanceTypeID"], "other"),
            "asset_source_id": r["strAssetIds"].split(",")[0].strip() or None, "site": str(r["intSiteID"]),
            "created_at": fiix_time(r["dtmDateCreated"]), "due_at": fiix_time(r["dtmSuggestedCompletionDate"]),
            "completed_at": fiix_time(r["dtmDateCompleted"]), "source_updated_at": epoch_ms(r["intUpdated"]),
        } for r in truth["work_orders"]},
        "cmms_maintenance_schedule": {str(r["id"]): {
            "title": r["strDescription"].strip(), "asset_source_id": str(r["intAssetID"]),
            "interval_days": float(r["intRepeatIntervalDays"]), "interval_meter": None,
            "next_due_at": fiix_time(r["dtmNextDueDate"]), "last_done_at": fiix_time(r["dtmLastCompletedDate"]),
            "active": r["bolIsActive"] == 1} for r in truth["schedules"]},
    }


def sap_rows(truth: dict[str, list[dict]], register: Register) -> dict[str, dict[str, dict]]:
    def status(r: dict) -> str:
        if r["EquipmentIsMarkedForDeletion"]:
            return "marked_for_deletion"
        return "inactive" if r["EquipmentIsInactive"] else "active"

    assert {r["CycleUnit"] for r in truth["schedules"]} <= {"DAY"}
    return {
        "cmms_asset": {r["Equipment"]: {
            "name": r["EquipmentName"].strip(), "site": r["MaintenancePlant"], "status": status(r),
            "serial_number": r["SerialNumber"],
            "ic3_asset_id": register.link(r["TechnicalObjectSortField"], r["SerialNumber"]),
            "source_updated_at": odata(r["LastChangeDateTime"])} for r in truth["assets"]},
        "cmms_work_order": {r["MaintenanceOrder"]: {
            "title": r["MaintenanceOrderDesc"].strip(), "status": SAP_STATUS[r["MaintOrderSystemStatus"]],
            "priority": int(r["MaintPriority"]), "work_type": SAP_ORDER_TYPE.get(r["MaintenanceOrderType"], "other"),
            "asset_source_id": r["Equipment"] or None, "site": r["MaintenancePlant"],
            "created_at": odata(r["MaintOrderCreationDateTime"]), "due_at": odata(r["MaintOrdBasicEndDateTime"]),
            "completed_at": odata(r["TechnicalCompletionDateTime"]),
            "source_updated_at": odata(r["LastChangeDateTime"])} for r in truth["work_orders"]},
        "cmms_maintenance_schedule": {r["MaintenancePlan"]: {
            "title": r["MaintenancePlanDesc"].strip(), "asset_source_id": r["Equipment"],
            "interval_days": float(r["CycleLength"]), "interval_meter": None,
            "next_due_at": odata(r["NextPlannedDate"]), "last_done_at": odata(r["LastCallDate"]),
            "active": not r["MaintenancePlanIsInactive"]} for r in truth["schedules"]},
    }


# --- the presets ----------------------------------------------------------------------------------------------------


@dataclass
class Preset:
    name: str
    simulator_class: type[RecordApiSimulator]
    config: Any
    secrets: dict[str, str]
    partitions: tuple[str | None, ...]
    streams: dict[str, tuple[str, str]]  # stream -> (simulator collection, unified table)
    expected: Callable[[dict[str, list[dict]], Register], dict[str, dict[str, dict]]]
    code_field: str  # the asset's code (the register id), as the API names it
    serial_field: str
    work_order_id: Callable[[dict], str]  # a work order's source_id, from the API's record
    page_size: int = 25
    sync_options: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> CollectionSourceSpec:
        return next(spec for spec in configured()[1] if spec.source == self.name)

    def stream_of(self, collection: str) -> str:
        return next(stream for stream, (c, _) in self.streams.items() if c == collection)


PRESETS = {
    "upkeep": Preset(
        "upkeep", UpKeepSimulator,
        UpKeepSimConfig(email="planner@example.com", password="upkeep-unified-pw", seed=11, empty_page_404=True),
        {"user": "planner@example.com", "password": "upkeep-unified-pw"}, (None,),
        {"assets": ("assets", "cmms_asset"), "work_orders": ("work_orders", "cmms_work_order"),
         "pm_schedules": ("schedules", "cmms_maintenance_schedule")},
        upkeep_rows, "barcode", "serialNumber", lambda r: r["id"]),
    "fiix": Preset(
        "fiix", FiixSimulator,
        FiixSimConfig(app_key="app-u", access_key="access-u", secret_key="fiix-unified-secret", seed=12),
        {"app_key": "app-u", "access_key": "access-u", "secret_key": "fiix-unified-secret"}, ("1", "2"),
        {"assets": ("assets", "cmms_asset"), "scheduled_maintenance": ("schedules", "cmms_maintenance_schedule"),
         "work_orders": ("work_orders", "cmms_work_order")},
        fiix_rows, "strCode", "strSerialNumber", lambda r: str(r["id"]), page_size=10),
    "sap_pm": Preset(
        "sap_pm", SapPmSimulator,
        SapPmSimConfig(user="IC3_READER", password="sap-unified-pw", seed=13, default_page_size=15),
        {"user": "IC3_READER", "password": "sap-unified-pw"}, ("1010", "1020"),
        {"equipment": ("assets", "cmms_asset"), "maintenance_orders": ("work_orders", "cmms_work_order"),
         "maintenance_plans": ("schedules", "cmms_maintenance_schedule")},
        sap_rows, "TechnicalObjectSortField", "SerialNumber", lambda r: r["MaintenanceOrder"]),
}


def start(preset: Preset, simulator_class: type[RecordApiSimulator] | None = None) -> RecordApiSimulator:
    simulator = (simulator_class or preset.simulator_class)(preset.config, register=dict(REGISTER))
    simulator.start()
    return simulator


@pytest.fixture(params=list(PRESETS))
def preset(request) -> Preset:
    return PRESETS[request.param]


class Runner:
    """Syncs a preset's streams (every partition, in load order) through the engine with its declared connector."""

    def __init__(self, preset: Preset, simulator: RecordApiSimulator, engine: Engine):
        self.preset, self.simulator, self.engine = preset, simulator, engine
        self.spec = preset.spec()
        self.auth: object = None

    def sync(self, *streams: str, full: bool = False) -> list:
        reports = []
        for stream in [s.name for s in self.spec.ordered_streams if not streams or s.name in streams]:
            for partition in self.preset.partitions:
                synced = sync(self.spec, stream, self.simulator.base_url, self.engine, self.preset.secrets,
                              partition=partition, full=full, page_size=self.preset.page_size, auth=self.auth)
                self.auth = synced.auth  # one login for the whole run, as one Dagster step's client has
                reports.append(synced.report)
        return reports

    def truth(self) -> dict[str, list[dict]]:
        return {collection: self.simulator.truth(collection) for collection in ("assets", "work_orders", "schedules")}


def seed_register(engine: Engine, simulator: RecordApiSimulator, preset: Preset) -> Register:
    """Two thirds of the register's assets in ic3_asset_master (their ids upper-cased: the rule ignores case), and
    one asset whose code is not there registered by its serial number instead (the second rule)."""
    assets = sorted(simulator.truth("assets"), key=lambda r: r[preset.code_field])
    by_code = [r for i, r in enumerate(assets) if i % 3 != 0]
    by_serial = assets[0]
    with engine.begin() as conn:
        for record in by_code:
            conn.execute(insert(tables.asset_master).values(cmms_asset_id=record[preset.code_field].upper(),
                                                            asset_name=f"reg {record[preset.code_field]}"))
        conn.execute(insert(tables.asset_master).values(cmms_asset_id=by_serial[preset.serial_field].lower(),
                                                        asset_name="registered by serial"))
        return Register(dict(conn.execute(select(tables.asset_master.c.cmms_asset_id,
                                                 tables.asset_master.c.asset_id)).all()))


def live(engine: Engine, table_name: str, source: str) -> dict[str, dict]:
    table = UNIFIED[table_name]
    columns = [c.name for c in table.columns if not c.name.startswith("_") and c.name not in ("source", "source_id")]
    with engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.source == source, table.c._deleted_at.is_(None))).all()
    return {row.source_id: {name: as_utc(row._mapping[name]) if isinstance(row._mapping[name], datetime)
                            else row._mapping[name] for name in columns} for row in found}


def differences(found: dict[str, dict], expected: dict[str, dict]) -> list[str]:
    problems = [f"missing {key}" for key in expected if key not in found]
    problems += [f"extra {key}" for key in found if key not in expected]
    for key in sorted(expected.keys() & found.keys()):
        problems += [f"{key}.{name}: expected {value!r}, stored {found[key][name]!r}"
                     for name, value in expected[key].items() if found[key][name] != value]
    return problems


def assert_unified_exact(runner: Runner, register: Register, only: tuple[str, ...] = tuple(UNIFIED)
                         ) -> dict[str, dict[str, dict]]:
    expected = runner.preset.expected(runner.truth(), register)
    for table_name, rows in expected.items():
        if table_name in only:
            assert differences(live(runner.engine, table_name, runner.preset.name), rows) == [], table_name
    return expected


def assert_meaning_matches_the_simulator(runner: Runner, expected: dict[str, dict[str, dict]]) -> None:
    """The values this test derived from the API's codes are what the simulator's records mean (the tables above
    are right, so agreeing with them proves the mapping)."""
    for collection, table_name, names in (("work_orders", "cmms_work_order", ("status", "priority", "work_type")),
                                          ("schedules", "cmms_maintenance_schedule", ("interval_days", "active"))):
        meant = Counter(tuple(record[n] for n in names) for record in runner.simulator.records(collection))
        derived = Counter(tuple(row[n] for n in names) for row in expected[table_name].values())
        assert derived == meant, collection


def test_full_incremental_then_full_with_deletes_leave_the_unified_tables_exact(preset, engine):
    simulator = start(preset)
    try:
        runner = Runner(preset, simulator, engine)
        register = seed_register(engine, simulator, preset)
        simulator.configure(fault_rate=0.1, fault_kinds=("503", "500", "truncated"))

        reports = runner.sync()
        assert {r.mode for r in reports} == {"full"} and all(r.mapping_failed == 0 for r in reports)
        expected = assert_unified_exact(runner, register)
        assert_meaning_matches_the_simulator(runner, expected)
        linked = [row["ic3_asset_id"] for row in expected["cmms_asset"].values()]
        assert sum(1 for i in linked if i is not None) == len(REGISTER) * 2 // 3 + 1  # by code, and one by serial
        assert {row["status"] for row in expected["cmms_work_order"].values()} == set(simulator.work_statuses)
        assert {row["work_type"] for row in expected["cmms_work_order"].values()} == {
            "preventive", "corrective", "emergency", "inspection", "other"}

        simulator.change("assets", count=4)  # renamed, every third one taken offline
        simulator.change("work_orders", count=6)  # statuses move on (open -> in progress -> ... -> completed)
        simulator.change("schedules", count=3)  # done now: last done and next due move
        simulator.data.add_work_order(title="Raised during the test", status="open", priority=1, work_type="emergency",
                                      asset_id=2)
        reports = runner.sync()
        assert {r.mode for r in reports} == {"incremental"}
        assert sum(r.rows for r in reports) < sum(len(rows) for rows in expected.values())  # only what changed
        before = {table_name: set(rows) for table_name, rows in assert_unified_exact(runner, register).items()}

        simulator.delete("work_orders", count=2)
        simulator.delete("schedules", count=1)
        simulator.delete("assets", count=1)
        reports = runner.sync(full=True)
        assert {r.mode for r in reports} == {"full"}
        after = assert_unified_exact(runner, register)  # the live rows are exactly the simulator's
        assert sum(simulator.stats()["faults"].values()) >= 1
        with engine.connect() as conn:
            for table_name, table in UNIFIED.items():
                deleted = set(conn.execute(select(table.c.source_id).where(
                    table.c.source == preset.name, table.c._deleted_at.is_not(None))).scalars())
                gone = before[table_name] - set(after[table_name])
                assert deleted == gone and len(gone) == {"cmms_asset": 1, "cmms_work_order": 2,
                                                         "cmms_maintenance_schedule": 1}[table_name], table_name
            assert conn.execute(select(mapping_error)).all() == []
    finally:
        simulator.stop()


# --- a value the mapping cannot convert -------------------------------------------------------------------------------

# Per preset: the work orders' field the API starts sending a value the mapping does not know, that value, and what
# cmms_mapping_error then says (field, value as stored, transform, message).
BAD_VALUES = {
    "upkeep": ("status", "awaitingParts", ("status", "awaitingParts", "map",
               "'awaitingParts' is not in the map (open, inProgress, onHold, complete) and the map has no default")),
    "fiix": ("intPriorityID", 7, ("priority", "7", "map",
             "7 is not in the map (1, 2, 3, 4, 5) and the map has no default")),
    "sap_pm": ("MaintOrdBasicEndDateTime", "/Date(soon)/", ("due_at", "/Date(soon)/", "date",
               "'/Date(soon)/' is not a date in ISO 8601 or OData /Date(ms)/ form")),
}


def sending_a_bad_value(preset: Preset) -> type[RecordApiSimulator]:
    """The preset's simulator, except that every sixth work order carries the bad value (a new status code, an
    unknown priority id, a broken date), as a CMMS does after someone reconfigures it."""
    name, value, _ = BAD_VALUES[preset.name]

    class Reconfigured(preset.simulator_class):  # type: ignore[misc, valid-type]
        def render(self, collection: str, record: dict, *args: Any, **kwargs: Any) -> dict[str, Any]:
            rendered = super().render(collection, record, *args, **kwargs)
            if collection == "work_orders" and record["id"] % 6 == 0:
                rendered = {**rendered, name: value}
            return rendered

    return Reconfigured


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_value_the_mapping_cannot_convert_is_recorded_and_its_record_left_out(preset, engine):
    simulator = start(preset, sending_a_bad_value(preset))
    try:
        runner = Runner(preset, simulator, engine)
        register = seed_register(engine, simulator, preset)
        stream = preset.stream_of("work_orders")
        reports = runner.sync(preset.stream_of("assets"), stream)
        name, value, (field_name, stored_value, transform, message) = BAD_VALUES[preset.name]
        truth = runner.truth()
        bad = {preset.work_order_id(r) for r in truth["work_orders"] if r[name] == value}
        assert len(bad) == len(simulator.records("work_orders")) // 6 > 0
        assert sum(r.mapping_failed for r in reports if r.stream == stream) == len(bad)

        good = {**truth, "work_orders": [r for r in truth["work_orders"] if r[name] != value]}
        expected = preset.expected(good, register)["cmms_work_order"]
        assert differences(live(engine, "cmms_work_order", preset.name), expected) == []  # left out whole
        with engine.connect() as conn:
            errors = conn.execute(select(mapping_error)).all()
            raw = conn.execute(text(f"SELECT count(*) FROM {preset.name}_{stream} WHERE _deleted_at IS NULL")).scalar()
        assert raw == len(truth["work_orders"])  # the raw table still holds every record
        assert {e.record_key for e in errors} == bad
        for error in errors:
            assert (error.source, error.stream, error.unified_table, error.source_id) == (
                preset.name, stream, "cmms_work_order", error.record_key)
            assert (error.field, error.value, error.transform, error.message) == (
                field_name, stored_value, transform, message)
    finally:
        simulator.stop()


# --- one query over every source ------------------------------------------------------------------------------------


def test_work_orders_of_two_sources_by_status_are_one_query(engine):
    truths: dict[str, list[dict]] = {}
    for name in ("upkeep", "sap_pm"):
        preset = PRESETS[name]
        simulator = start(preset)
        try:
            simulator.configure(fault_rate=0.1, fault_kinds=("503", "truncated"))
            runner = Runner(preset, simulator, engine)
            runner.sync(preset.stream_of("assets"), preset.stream_of("work_orders"))
            simulator.change("work_orders", count=5)
            simulator.delete("work_orders", count=2)
            runner.sync(preset.stream_of("assets"), preset.stream_of("work_orders"), full=True)
            truths[name] = simulator.truth("work_orders")
        finally:
            simulator.stop()

    expected = Counter(("upkeep", UPKEEP_STATUS[r["status"]]) for r in truths["upkeep"])
    expected.update(("sap_pm", SAP_STATUS[r["MaintOrderSystemStatus"]]) for r in truths["sap_pm"])
    with engine.connect() as conn:
        report = conn.execute(text("SELECT source, status, count(*) FROM cmms_work_order WHERE _deleted_at IS NULL "
                                   "GROUP BY source, status ORDER BY source, status")).all()
    assert {(source, status): count for source, status, count in report} == dict(expected)
    assert {status for _, status, _ in report} == {"open", "in_progress", "on_hold", "completed", "cancelled"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sap_equipment_marked_for_deletion_stays_with_that_status(engine):
    """SAP keeps deleted equipment, flagged (``EquipmentIsMarkedForDeletion``, its change time moved): an
    incremental read sees the flag and the asset's unified status says so."""
    preset = PRESETS["sap_pm"]
    simulator = SapPmSimulator(SapPmSimConfig(user="IC3_READER", password="sap-unified-pw", seed=13,
                                              default_page_size=15, deletion_flag=True), register=dict(REGISTER))
    simulator.start()
    try:
        runner = Runner(preset, simulator, engine)
        register = seed_register(engine, simulator, preset)
        runner.sync("equipment")
        flagged = simulator.delete("assets", count=2)
        reports = runner.sync("equipment")
        assert {r.mode for r in reports} == {"incremental"}
        assets = assert_unified_exact(runner, register, only=("cmms_asset",))["cmms_asset"]
        assert sorted(key for key, row in assets.items() if row["status"] == "marked_for_deletion") == sorted(
            str(10000000 + asset_id) for asset_id in flagged)
    finally:
        simulator.stop()
