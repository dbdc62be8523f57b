"""A database written by release f7c3f43 (the last before Alembic) upgrades in place, loses nothing, and syncs on.

The fixture (``fixtures/release_f7c3f43``, see its README) is what that release's own code left after six enrichment
runs: 40 assets over 4 sites, 27 synced, 5 failed, 3 not found, 5 (Bengaluru) never synced. It is loaded into a fresh
SQLite file or PostgreSQL schema, every row of every table is read, the schema is upgraded, and then: every old value is
still there, the sync state moved row for row into ``cmms_sync_state``, the status and integrity checks agree, and a
real sync against the simulator fetches exactly what was due and nothing else.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor, instance_for_test
from sqlalchemy import create_engine, func, inspect, select, text

from ic3_pipeline.register.partitions import SITES_PARTITIONS_NAME, register_site_partitions
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig
from ic3_pipeline.status.queries import sync_status
from ic3_pipeline.sync.due import due_asset_ids
from ic3_pipeline.sync.mapping import compile_mapping
from ic3_pipeline.sync.partitions import RANGE_END_TAG, RANGE_START_TAG
from ic3_pipeline.sync.unified_writer import UnifiedWriter
from ic3_pipeline.warehouse import make_engine, metadata, schema_state, tables, upgrade_schema
from ic3_pipeline.warehouse.schema import head_revision
from ic3_pipeline.warehouse.times import as_utc, utc_now
from ic3_pipeline_tests.sources import INNOMAINT, api_resource, inconsistent, source_defs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "release_f7c3f43"
TOKEN = "upgrade-test-token-not-a-secret-41c9"
SOURCE = "innomaint"  # the only source release f7c3f43 had

RELEASE_TABLES = {  # the fixture README's row counts (equal on both databases)
    "ic3_customer_master": 4, "ic3_location_master": 4, "ic3_category_master": 10, "ic3_group_master": 5,
    "ic3_manufacturer_master": 13, "ic3_asset_master": 40, "ic3_building": 3, "ic3_floor_master": 8,
    "ic3_department_master": 8, "ic3_innomaint_raw_response": 28, "ic3_asset_performance": 28,
    "ic3_workorder_summary": 56, "ic3_sync_log": 61, "cmms_sync_log": 6, "ic3_schema_version": 1,
}
STATE_COLUMNS = ("sync_version", "last_synced_at", "last_attempt_at", "last_sync_status", "last_sync_error",
                 "consecutive_failures")
HISTORY_VALUES = ("total_ticket", "mttr_hours", "mtbf_hours", "availability_pct", "total_ticket_breakdown_hours",
                  "total_schedule_breakdown_hours", "total_actual_hours")
KPI_TABLES = ("ic3_kpi_site", "ic3_kpi_customer", "ic3_kpi_source", "ic3_kpi_fleet", "ic3_kpi_daily",
              "ic3_kpi_work_orders")
ALERT_TABLES = ("ic3_alert_work_order",)  # 0007: new and empty after the upgrade
RESYNCED_THEN_FAILED = "Jaipur Malviya Nagar_AHU_01"  # synced (v1), then failed the forced re-sync: error at v1


@pytest.fixture(params=["sqlite", "postgres"])
def release_db(request, tmp_path: Path) -> str:
    """A fresh database holding exactly what release f7c3f43 wrote (loaded from the fixture's dump)."""
    if request.param == "sqlite":
        path = tmp_path / "release_f7c3f43.sqlite"
        connection = sqlite3.connect(path)  # the sqlite3 module's default: foreign keys off while loading
        try:
            connection.executescript((FIXTURE / "sqlite.sql").read_text(encoding="utf-8"))
        finally:
            connection.close()
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")  # its connections' search_path is a fresh schema
    loader = create_engine(url)
    try:
        with loader.begin() as conn:
            conn.exec_driver_sql((FIXTURE / "postgres.sql").read_text(encoding="utf-8").replace("%", "%%"))
    finally:
        loader.dispose()
    return url


def read_everything(engine) -> dict[str, list[dict]]:
    """table -> every row as a dict, ordered by primary key (``alembic_version`` left out).

    Read with ``text()``, so nothing is converted on the way: SQLite hands back what it stores (datetimes as their
    text), PostgreSQL what psycopg makes of each type. Read the same way before and after the upgrade, values can
    be compared strictly, with no normalisation: a SQLite batch rebuild copies the stored values as they are.
    """
    inspector = inspect(engine)
    everything = {}
    with engine.connect() as conn:
        for table in sorted(inspector.get_table_names()):
            if table == "alembic_version":
                continue
            key = inspector.get_pk_constraint(table)["constrained_columns"]
            assert key, f"{table} has no primary key"
            order = ", ".join(f'"{column}"' for column in key)
            rows = conn.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}')).mappings().all()
            everything[table] = [dict(row) for row in rows]
    return everything


def by_asset_id(rows: list[dict]) -> dict:
    return {row["asset_id"]: row for row in rows}


def test_a_release_f7c3f43_database_upgrades_in_place_and_syncs_on(release_db):
    engine = make_engine(release_db)
    try:
        check_upgrade_and_resumed_sync(engine, release_db)
    finally:
        engine.dispose()


def check_upgrade_and_resumed_sync(engine, url: str) -> None:
    # --- the release's database, as loaded ----------------------------------------------------------------------------
    assert schema_state(engine).current is None  # written before Alembic
    before = read_everything(engine)
    assert {table: len(rows) for table, rows in before.items()} == RELEASE_TABLES
    old_assets = by_asset_id(before["ic3_asset_master"])
    by_status: dict[str | None, set[str]] = {}
    for row in old_assets.values():
        by_status.setdefault(row["last_sync_status"], set()).add(row["cmms_asset_id"])
    assert {status: len(ids) for status, ids in by_status.items()} == {"success": 27, "error": 5, "not_found": 3, None: 5}
    never_synced = by_status[None]
    assert all(asset_id.startswith("Bengaluru Koramangala 5th Blk_") for asset_id in never_synced)
    old_version = {row["cmms_asset_id"]: row["sync_version"] for row in old_assets.values()}
    assert old_version[RESYNCED_THEN_FAILED] == 1 and RESYNCED_THEN_FAILED in by_status["error"]

    # --- the upgrade -------------------------------------------------------------------------------------------------
    assert upgrade_schema(engine) == ["0001_release_f7c3f43", "0002_sync_state_per_source", "0003_collection_streams",
                                      "0004_unified_model", "0005_kpi", "0006_work_order_kpis",
                                      "0007_alert_work_orders"]
    state = schema_state(engine)
    assert state.up_to_date and state.current == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
        drift = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert drift == []  # the upgraded release database is exactly tables.py's schema
    after = read_everything(engine)

    # Every old table but ic3_schema_version keeps every row, every old column's value unchanged.
    assert "ic3_schema_version" not in after
    for table, old_rows in before.items():
        if table == "ic3_schema_version":
            continue
        new_rows = after[table]
        assert len(new_rows) == len(old_rows), table
        for old, new in zip(old_rows, new_rows):
            assert set(old) <= set(new), (table, set(old) - set(new))
            changed = {column: (value, new[column]) for column, value in old.items() if new[column] != value
                       or type(new[column]) is not type(value)}
            assert not changed, (table, old, changed)
    new_columns = {table: sorted(set(after[table][0]) - set(before[table][0])) for table in before if table in after}
    assert set(after) - set(before) >= {"ic3_asset_performance_history", *KPI_TABLES, *ALERT_TABLES}
    assert {table: columns for table, columns in new_columns.items() if columns} == {
        "ic3_sync_log": ["source"], "cmms_sync_log": ["source"],
    }

    # The release's sync state, row for row, under the source 'innomaint'; nothing for the never-synced.
    state_rows = after["cmms_sync_state"]
    assert {row["source"] for row in state_rows} == {SOURCE}
    states = by_asset_id(state_rows)
    assert len(states) == len(state_rows)  # one row per asset
    attempted = {asset_id for asset_id, row in old_assets.items()
                 if row["last_sync_status"] is not None or row["sync_version"] > 0}
    assert len(attempted) == 35
    assert set(states) == attempted
    assert not {old_assets[asset_id]["cmms_asset_id"] for asset_id in states} & never_synced
    for asset_id, row in states.items():
        old = old_assets[asset_id]
        assert {c: row[c] for c in STATE_COLUMNS} == {c: old[c] for c in STATE_COLUMNS}, old["cmms_asset_id"]
        assert row["updated_at"] == next(
            old[c] for c in ("updated_at", "last_attempt_at", "imported_at") if old[c] is not None
        )

    # The performance history starts with one row per landed answer: its version, the time it was received and the
    # values the release parsed from it (its performance row at that version).
    landed = {row["cmms_asset_id"]: row for row in after["ic3_innomaint_raw_response"]}
    old_performance = {row["cmms_asset_id"]: row for row in after["ic3_asset_performance"]}
    backfilled = {row["cmms_asset_id"]: row for row in after["ic3_asset_performance_history"]}
    assert len(backfilled) == len(after["ic3_asset_performance_history"]) == len(landed) == 28
    for cmms_asset_id, row in backfilled.items():
        assert row["sync_version"] == landed[cmms_asset_id]["sync_version"] == old_performance[cmms_asset_id]["sync_version"]
        assert row["synced_at"] == landed[cmms_asset_id]["fetched_at"]
        for column in HISTORY_VALUES:
            assert row[column] == old_performance[cmms_asset_id][column], (cmms_asset_id, column)
    assert all(after[table] == [] for table in (*KPI_TABLES, *ALERT_TABLES))

    # Each log row's source is its sync_type.
    for table in ("ic3_sync_log", "cmms_sync_log"):
        assert after[table] and all(row["source"] == row["sync_type"] == SOURCE for row in after[table]), table

    # Status and integrity read the moved state as the release left it.
    for status in (sync_status(engine), sync_status(engine, SOURCE)):
        assert (status.total, status.synced, status.needing_retry, status.not_found, status.never_synced) == (
            40, 27, 5, 3, 5
        )
    assert inconsistent(engine) == []

    # --- a sync resumes from it --------------------------------------------------------------------------------------
    now = utc_now()
    with engine.connect() as conn:
        earliest = as_utc(conn.execute(select(func.min(tables.sync_state.c.last_attempt_at))).scalar_one())
    # The fixture's attempts are of the day it was made: a staleness window reaching back past the earliest of them
    # (plus the usual 24 h) keeps this test about what the release left failed or untried, whatever today's date.
    stale_after = (now - earliest) + timedelta(hours=24)
    due = due_asset_ids(engine, SOURCE, None, now=now, stale_after=stale_after)
    assert len(due) == len(set(due)) == 10
    assert set(due) == by_status["error"] | never_synced  # not the successes, not the 404s

    sites = {row["cmms_asset_id"]: row["site_name"] for row in after["ic3_asset_master"]}
    partition_keys = [row["partition_key"] for row in after["ic3_location_master"]]
    with instance_for_test() as instance, InnomaintSimulator(sites, SimulatorConfig(token=TOKEN, seed=7)) as simulator:
        register_site_partitions(instance, partition_keys)
        keys = list(instance.get_dynamic_partitions(SITES_PARTITIONS_NAME))
        assert sorted(keys) == sorted(partition_keys)
        job = define_asset_job("enrich", AssetSelection.assets(*INNOMAINT.table_keys()), executor_def=in_process_executor)
        defs = source_defs(url, INNOMAINT, api_resource(INNOMAINT, simulator.base_url, TOKEN), Definitions(jobs=[job]))
        result = defs.resolve_job_def("enrich").execute_in_process(
            instance=instance,
            tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},  # one run over every site
            run_config=INNOMAINT.enrich_run_config(stale_after_hours=stale_after.total_seconds() / 3600),
            raise_on_error=False,
        )
        assert result.success
        hits = simulator.stats()["hits"]
    assert set(hits) == set(due)  # asked for exactly the due ids

    synced = read_everything(engine)
    new_states = by_asset_id(synced["cmms_sync_state"])
    assert len(new_states) == 40 and {row["source"] for row in new_states.values()} == {SOURCE}
    asset_key = {row["asset_id"]: row["cmms_asset_id"] for row in synced["ic3_asset_master"]}
    for asset_id, row in new_states.items():
        cmms_asset_id = asset_key[asset_id]
        if cmms_asset_id in due:  # fetched: now synced, one version past what it had
            assert row["last_sync_status"] == "success", cmms_asset_id
            assert row["sync_version"] == old_version[cmms_asset_id] + 1, cmms_asset_id
            assert row["consecutive_failures"] == 0 and row["last_sync_error"] is None, cmms_asset_id
        else:  # the old successes and 404s: not fetched, state untouched
            assert row == states[asset_id], cmms_asset_id
    version_of = {asset_key[asset_id]: row["sync_version"] for asset_id, row in new_states.items()}
    assert version_of[RESYNCED_THEN_FAILED] == 2
    assert all(version_of[asset_id] == 1 for asset_id in due if asset_id != RESYNCED_THEN_FAILED)
    assert {asset_key[a] for a, row in new_states.items() if row["last_sync_status"] == "not_found"} == by_status[
        "not_found"
    ]
    assert {asset_key[a] for a, row in new_states.items() if row["last_sync_status"] == "success"} == (
        by_status["success"] | set(due)
    )

    # The users' columns on ic3_asset_master agree with the source's state (typed reads: both columns alike).
    with engine.connect() as conn:
        master = {row.asset_id: row for row in conn.execute(select(tables.asset_master))}
        typed_states = {row.asset_id: row for row in conn.execute(select(tables.sync_state))}
    for asset_id, row in typed_states.items():
        for column in STATE_COLUMNS:
            assert getattr(master[asset_id], column) == getattr(row, column), (asset_key[asset_id], column)

    status = sync_status(engine, SOURCE)
    assert (status.total, status.synced, status.needing_retry, status.not_found, status.never_synced) == (40, 37, 0, 3, 0)
    assert inconsistent(engine) == []
    # The sync appended a history row for each due asset whose values changed: all those synced for the first time.
    new_history = synced["ic3_asset_performance_history"][len(after["ic3_asset_performance_history"]):]
    first_time = set(due) - set(backfilled)
    assert first_time <= {row["cmms_asset_id"] for row in new_history} <= set(due)
    assert all(row["sync_version"] == version_of[row["cmms_asset_id"]] for row in new_history)
    new_logs = synced["ic3_sync_log"][len(after["ic3_sync_log"]):]
    assert sorted(row["serialnumber"] for row in new_logs) == sorted(due)
    assert all(row["source"] == SOURCE and row["status"] == "success" for row in new_logs)

    # --- the unified model on the upgraded database: the assets this sync wrote are Innomaint's cmms_asset rows (an
    # asset synced by the release joins at its next sync), the rest is empty; lookups find the release's register rows
    with engine.connect() as conn:
        unified_assets = dict(conn.execute(text("SELECT source_id, source FROM cmms_asset")).all())
        for name in ("cmms_work_order", "cmms_maintenance_schedule", "cmms_mapping_error"):
            assert conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one() == 0, name
    assert unified_assets == {asset_id: SOURCE for asset_id in due}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cmms_asset"))  # the lookup below starts from an empty table
    mapping = compile_mapping({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {
        "serial_number": {"path": "serial"},
        "ic3_asset_id": {"lookup": {"match": [{"field": "serial_number", "column": "cmms_asset_id"}]}}}})
    writer = UnifiedWriter(mapping, source="acme", stream="assets", partition="", run_id=None)
    registered = next(iter(old_assets.values()))
    with engine.begin() as conn:
        writer.write(conn, [(("1",), {"id": "1", "serial": registered["cmms_asset_id"]}),
                            (("2",), {"id": "2", "serial": "not in the register"})], utc_now())
    with engine.connect() as conn:
        linked = dict(conn.execute(text("SELECT source_id, ic3_asset_id FROM cmms_asset")).all())
    assert linked == {"1": registered["asset_id"], "2": None}
