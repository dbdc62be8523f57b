"""Schema creation is idempotent and migrations only add what is missing."""

from sqlalchemy import inspect, select, text

from ic3_pipeline.warehouse import SCHEMA_VERSION, ensure_schema, make_engine, metadata, normalize_database_url
from ic3_pipeline.warehouse.tables import schema_version

USERS_TABLES = {
    "ic3_asset_master", "ic3_customer_master", "ic3_location_master", "ic3_category_master", "ic3_group_master",
    "ic3_manufacturer_master", "ic3_building", "ic3_floor_master", "ic3_department_master", "ic3_asset_performance",
    "ic3_workorder_summary", "ic3_sync_log", "cmms_sync_log",
}


def test_creates_every_table_then_changes_nothing(db_url):
    engine = make_engine(db_url)
    first = ensure_schema(engine)
    assert USERS_TABLES <= set(inspect(engine).get_table_names())
    assert any("ic3_asset_master" in change for change in first)
    assert ensure_schema(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalar_one() == SCHEMA_VERSION


def test_a_newer_version_adds_missing_columns_and_keeps_rows(db_url):
    engine = make_engine(db_url)
    ensure_schema(engine)
    with engine.begin() as conn:  # an older database: the sync log without two columns, one row in it
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
    changes = ensure_schema(engine)
    assert "added column ic3_sync_log.http_status" in changes
    assert "added column ic3_sync_log.run_id" in changes
    columns = {c["name"] for c in inspect(engine).get_columns("ic3_sync_log")}
    assert {c.name for c in metadata.tables["ic3_sync_log"].columns} <= columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT serialnumber FROM ic3_sync_log")).scalars().all() == ["A 1"]
    assert ensure_schema(engine) == []


def test_not_null_counters_can_be_added_to_a_populated_table(db_url):
    engine = make_engine(db_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO ic3_asset_master (cmms_asset_id, sync_version, consecutive_failures) VALUES ('A 1', 0, 0)"
        ))
        conn.execute(text("ALTER TABLE ic3_asset_master DROP COLUMN consecutive_failures"))
    assert "added column ic3_asset_master.consecutive_failures" in ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT consecutive_failures FROM ic3_asset_master")).scalar_one() == 0


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
    ensure_schema(engine)
    assert (tmp_path / "data" / "ic3.sqlite").is_file()
