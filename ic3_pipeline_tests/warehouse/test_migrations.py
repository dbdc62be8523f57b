"""The target database's schema is Alembic's: empty and pre-Alembic databases reach head, and tables.py never drifts.

Every test runs on SQLite and on PostgreSQL (``db_url``) except the two that need no database.
"""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, event, inspect, text

from ic3_pipeline.cli import main
from ic3_pipeline.warehouse import (
    DatabaseUnavailable,
    connected_engine,
    ensure_schema,
    make_engine,
    metadata,
    normalize_database_url,
    schema_state,
    upgrade_schema,
)
from ic3_pipeline.warehouse.schema import UnknownRevision, alembic_config, head_revision
from ic3_pipeline_tests.conftest import postgres_base_url

BASELINE = "0001_release_f7c3f43"
SYNC_STATE = "0002_sync_state_per_source"
STREAMS = "0003_collection_streams"
UNIFIED = "0004_unified_model"
KPI = "0005_kpi"
WORK_ORDER_KPIS = "0006_work_order_kpis"
ALERT_WORK_ORDERS = "0007_alert_work_orders"
HEAD = ALERT_WORK_ORDERS
REVISIONS = [BASELINE, SYNC_STATE, STREAMS, UNIFIED, KPI, WORK_ORDER_KPIS, ALERT_WORK_ORDERS]

USERS_TABLES = {
    "ic3_asset_master", "ic3_customer_master", "ic3_location_master", "ic3_category_master", "ic3_group_master",
    "ic3_manufacturer_master", "ic3_building", "ic3_floor_master", "ic3_department_master", "ic3_asset_performance",
    "ic3_workorder_summary", "ic3_innomaint_raw_response", "ic3_sync_log", "cmms_sync_log", "cmms_sync_state",
    "cmms_stream_state", "cmms_stream_log", "cmms_schema_change", "cmms_asset", "cmms_work_order",
    "cmms_maintenance_schedule", "cmms_mapping_error",
    "ic3_asset_performance_history", "ic3_kpi_site", "ic3_kpi_customer", "ic3_kpi_source", "ic3_kpi_fleet",
    "ic3_kpi_daily", "ic3_kpi_work_orders", "ic3_alert_work_order",
}


@pytest.fixture
def engine(db_url):
    """An engine on the fresh, empty database (no schema yet: these tests build it)."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def schema_drift(engine) -> list:
    """What Alembic's autogenerate would change to make the database match tables.py (empty: no drift)."""
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def a_database_at_the_baseline(engine) -> None:
    """Only the baseline revision applied: the schema of release f7c3f43."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASELINE)


def table_names(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def columns_of(engine, table: str) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns(table)}


def schema_snapshot(engine) -> dict[str, tuple]:
    """Every table's columns (name, type, nullable, default) and indexes, comparable with ``==``."""
    inspector = inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"], c.get("default")) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
        )
        for table in sorted(inspector.get_table_names())
    }


def statements_run(engine):
    """A list that collects every SQL statement ``engine`` runs from now on."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: seen.append(statement))
    return seen


# --- an empty database ------------------------------------------------------------------------------------------------


def test_an_empty_database_upgrades_to_head_then_changes_nothing(engine):
    assert schema_state(engine).current is None
    assert not schema_state(engine).up_to_date

    assert upgrade_schema(engine) == REVISIONS  # every revision, in order
    assert USERS_TABLES <= table_names(engine)
    assert "ic3_schema_version" not in table_names(engine)  # the release's own version table is gone
    assert upgrade_schema(engine) == []

    state = schema_state(engine)
    assert state.current == state.head == head_revision() == HEAD
    assert state.up_to_date
    # tables.py and the migrations describe the same schema, types included: a change to one without the other fails.
    assert schema_drift(engine) == []


# --- a database written before Alembic ----------------------------------------------------------------------------------


def test_a_pre_alembic_database_older_than_the_release_gains_its_columns_and_keeps_its_rows(engine):
    a_database_at_the_baseline(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # written before Alembic: no revision at all
        # An older sync log: without http_status, attempts, batch_id and run_id, one row in it.
        conn.execute(text("DROP TABLE ic3_sync_log"))
        conn.execute(text(
            "CREATE TABLE ic3_sync_log (id INTEGER PRIMARY KEY, serialnumber VARCHAR(255) NOT NULL, "
            "sync_type VARCHAR(32) NOT NULL, status VARCHAR(16) NOT NULL, error_message TEXT, "
            "synced_at TIMESTAMP NOT NULL)"
        ))
        conn.execute(text(
            "INSERT INTO ic3_sync_log (id, serialnumber, sync_type, status, synced_at) "
            "VALUES (1, 'A 1', 'innomaint', 'success', '2026-01-01 00:00:00')"
        ))
        # An older asset master: a populated table without a NOT NULL counter.
        conn.execute(text(
            "INSERT INTO ic3_asset_master (cmms_asset_id, sync_version, consecutive_failures) VALUES ('A 1', 0, 0)"
        ))
        conn.execute(text("ALTER TABLE ic3_asset_master DROP COLUMN consecutive_failures"))
    assert schema_state(engine).current is None
    assert "consecutive_failures" not in columns_of(engine, "ic3_asset_master")

    assert upgrade_schema(engine) == REVISIONS  # a database without alembic_version starts at the baseline

    sync_log = columns_of(engine, "ic3_sync_log")
    assert {c.name for c in metadata.tables["ic3_sync_log"].columns} <= set(sync_log)
    assert {"http_status", "attempts", "batch_id", "run_id"} <= set(sync_log)
    assert sync_log["source"]["nullable"] is False
    assert "consecutive_failures" in columns_of(engine, "ic3_asset_master")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT serialnumber, sync_type, source, status FROM ic3_sync_log")).all() == [
            ("A 1", "innomaint", "innomaint", "success")
        ]
        assert conn.execute(text("SELECT cmms_asset_id, consecutive_failures FROM ic3_asset_master")).all() == [
            ("A 1", 0)  # the row kept, the new NOT NULL counter at its default
        ]
    assert schema_state(engine).up_to_date
    assert upgrade_schema(engine) == []


def test_a_release_database_without_alembic_version_changes_only_by_the_new_revision(engine):
    """At the release's exact schema (no alembic_version), the baseline adds nothing; 0002 does the rest."""
    a_database_at_the_baseline(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    assert upgrade_schema(engine) == REVISIONS
    assert schema_drift(engine) == []


# --- once per process ---------------------------------------------------------------------------------------------------


@pytest.fixture
def other_db_url(db_url, tmp_path):
    """A second fresh database of the same dialect."""
    if make_engine(db_url).dialect.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'other.sqlite'}"
        return
    schema = f"ic3_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_base_url())
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield admin.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_ensure_schema_upgrades_once_per_process_and_database_while_upgrade_schema_always_checks(
    db_url, engine, other_db_url
):
    assert ensure_schema(engine) == REVISIONS
    assert schema_state(engine).up_to_date

    with engine.begin() as conn:  # behind the process's back: the database loses its revision
        conn.execute(text("DROP TABLE alembic_version"))
    statements = statements_run(engine)
    assert ensure_schema(engine) == []
    again = make_engine(db_url)  # another engine on the same database: the same cache entry
    statements_again = statements_run(again)
    assert ensure_schema(again) == []
    again.dispose()
    assert statements == [] and statements_again == []  # the database was not even asked
    assert schema_state(engine).current is None  # and nothing put the revision back

    with engine.begin() as conn:  # the revision back, as Alembic wrote it
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD})
    statements.clear()
    assert upgrade_schema(engine) == []  # up to date, but it asked the database to find out
    assert any("alembic_version" in statement for statement in statements)

    other = make_engine(other_db_url)  # another database, in the same process: upgraded on its first use
    try:
        assert ensure_schema(other) == REVISIONS
        assert ensure_schema(other) == []
        assert schema_state(other).up_to_date
    finally:
        other.dispose()


# --- a database written by a newer release ------------------------------------------------------------------------------


def test_a_database_at_an_unknown_revision_is_refused_and_left_alone(db_url, engine, monkeypatch, capsys):
    assert upgrade_schema(engine) == REVISIONS  # not ensure_schema: connected_engine below must not find it cached
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'zzzz_future'"))
    before = schema_snapshot(engine)

    with pytest.raises(UnknownRevision) as refused:
        upgrade_schema(engine)
    message = str(refused.value)
    assert "'zzzz_future'" in message
    assert "a newer release" in message
    assert HEAD in message  # and what this release knows
    assert "nothing was changed" in message

    assert schema_state(engine).current == "zzzz_future"
    assert not schema_state(engine).up_to_date
    assert schema_snapshot(engine) == before

    with pytest.raises(DatabaseUnavailable) as unavailable:
        connected_engine(db_url)
    assert message in str(unavailable.value)
    assert "Cannot use the target database" in str(unavailable.value)
    assert schema_state(engine).current == "zzzz_future"

    # The CLI says so in one line: `ic3 db upgrade` refuses (exit 2, no traceback), `ic3 db current` does not
    # suggest an upgrade that would refuse.
    from ic3_pipeline.cli import run

    monkeypatch.setenv("IC3_DATABASE_URL", db_url)
    monkeypatch.setattr("sys.argv", ["ic3", "db", "upgrade"])
    with pytest.raises(SystemExit) as exited:
        run()
    assert exited.value.code == 2
    assert "a newer release of ic3_pipeline wrote it" in capsys.readouterr().err
    current = CliRunner().invoke(main, ["db", "current"])
    assert current.exit_code == 1 and "does not know" in current.output and "ic3 db upgrade" not in current.output
    assert schema_snapshot(engine) == before


# --- the CLI --------------------------------------------------------------------------------------------------------------


def test_ic3_db_current_and_upgrade(db_url, engine, monkeypatch):
    monkeypatch.setenv("IC3_DATABASE_URL", db_url)

    def ic3_db(*args: str):
        return CliRunner().invoke(main, ["db", *args], catch_exceptions=False)

    fresh = ic3_db("current")
    assert fresh.exit_code == 1, fresh.output
    assert "no revision" in fresh.output
    assert "up to date" not in fresh.output
    assert f"this release writes {HEAD}" in fresh.output
    assert "ic3 db upgrade" in fresh.output

    upgraded = ic3_db("upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"applied {BASELINE}, {SYNC_STATE}, {STREAMS}, {UNIFIED}, {KPI}, {WORK_ORDER_KPIS}, {ALERT_WORK_ORDERS}" in upgraded.output
    assert schema_state(engine).up_to_date

    current = ic3_db("current")
    assert current.exit_code == 0, current.output
    assert f"{HEAD} (up to date)" in current.output

    again = ic3_db("upgrade")
    assert again.exit_code == 0, again.output
    assert f"is up to date ({HEAD})" in again.output
    assert "applied" not in again.output


# --- no database needed ---------------------------------------------------------------------------------------------------


def test_bare_postgresql_urls_are_pinned_to_psycopg3():
    assert normalize_database_url("postgresql://u:p@h/db").startswith("postgresql+psycopg://u:p@h/db")
    assert normalize_database_url("postgresql+psycopg2://u@h/db").startswith("postgresql+psycopg2://")
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_default_lives_in_the_data_folder(tmp_path, monkeypatch):
    from ic3_pipeline.warehouse import default_database_url

    monkeypatch.delenv("IC3_DATABASE_URL", raising=False)
    monkeypatch.setenv("IC3_DATA_DIR", str(tmp_path / "data"))
    assert default_database_url() == f"sqlite:///{tmp_path / 'data' / 'ic3.sqlite'}"
    engine = make_engine()
    try:
        assert ensure_schema(engine) == REVISIONS
        assert (tmp_path / "data" / "ic3.sqlite").is_file()
        assert schema_state(engine).up_to_date
    finally:
        engine.dispose()


def test_the_known_head_is_the_newest_revision():
    """``HEAD_REVISION`` lets an up-to-date database skip Alembic at start-up; it must name the newest revision."""
    from ic3_pipeline.warehouse.schema import HEAD_REVISION

    assert HEAD_REVISION == head_revision()
