"""The users' schema as SQLAlchemy Core tables.

Table names are the ones the maintenance team already queries (ic3_asset_master, ic3_asset_performance, ...), so their
reports keep working. Text columns keep what the register or the API sent; typed columns (``*_hours``, ``*_pct``,
``*_at``) sit beside them so SQL can aggregate without parsing strings. Every upsert target has the unique key it needs.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

ID = String(255)
NAME = String(255)


def _name_master(table_name: str, id_column: str, name_column: str, *extra: Column) -> Table:
    """A master resolved by name from the register: surrogate id, unique name."""
    return Table(
        table_name,
        metadata,
        Column(id_column, Integer, primary_key=True, autoincrement=True),
        Column(name_column, NAME, nullable=False, unique=True),
        *extra,
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


customer_master = _name_master("ic3_customer_master", "customer_id", "customer_name")
location_master = _name_master(
    "ic3_location_master",
    "location_id",
    "location_name",
    # The Dagster partition key of this site; stable and safe (no commas, brackets, pipes), see register.sites.
    Column("partition_key", NAME, nullable=False, unique=True),
    Column("customer_id", Integer, ForeignKey("ic3_customer_master.customer_id")),
)
category_master = _name_master("ic3_category_master", "category_id", "category_name")
group_master = _name_master("ic3_group_master", "group_id", "group_name")
manufacturer_master = _name_master("ic3_manufacturer_master", "manufacturer_id", "manufacturer_name")

asset_master = Table(
    "ic3_asset_master",
    metadata,
    Column("asset_id", Integer, primary_key=True, autoincrement=True),
    Column("cmms_asset_id", ID, nullable=False, unique=True),
    # --- from the register --------------------------------------------------------------------------------------
    Column("asset_name", Text),
    Column("site_name", NAME),
    Column("customer_name", NAME),
    Column("category_name", NAME),
    Column("group_name", NAME),
    Column("manufacturer_name", NAME),
    Column("model", Text),
    Column("criticality", String(64)),  # the register's value until the API overrides it
    Column("latitude", Float),
    Column("longitude", Float),
    Column("address", Text),
    Column("installation_date", Date),
    Column("amc_id", String(128)),
    Column("contract_start_date", Date),
    Column("contract_end_date", Date),
    Column("report_sequence_no", Integer),
    Column("customer_id", Integer, ForeignKey("ic3_customer_master.customer_id")),
    Column("location_id", Integer, ForeignKey("ic3_location_master.location_id")),
    Column("category_id", Integer, ForeignKey("ic3_category_master.category_id")),
    Column("group_id", Integer, ForeignKey("ic3_group_master.group_id")),
    Column("manufacturer_id", Integer, ForeignKey("ic3_manufacturer_master.manufacturer_id")),
    Column("register_hash", String(64)),  # hash of the register columns: re-imports touch changed rows only
    Column("register_file", Text),
    Column("imported_at", DateTime(timezone=True)),
    # --- from the CMMS (Innomaint asset detail) ---------------------------------------------------------------------
    Column("cmms_internal_id", BigInteger),  # data.id
    Column("traceability_id", BigInteger),  # data.traceid
    Column("barcode", Text),
    Column("capacity_rating", String(128)),
    Column("cmms_customer_id", BigInteger),
    Column("cmms_customer_name", Text),
    Column("cmms_location_id", BigInteger),
    Column("cmms_location_name", Text),
    Column("building_id", BigInteger),
    Column("floor_id", BigInteger),
    Column("department_id", BigInteger),
    Column("asset_building_id", BigInteger),
    Column("asset_floor_id", BigInteger),
    Column("asset_department_id", BigInteger),
    Column("fk_customers_equipment_mapping_id", BigInteger),
    Column("customers_locations_serialnumber_mapping_id", BigInteger),
    Column("customer_traceability_id", BigInteger),
    Column("customer_model_id", BigInteger),
    Column("location_traceability_id", BigInteger),
    Column("location_model_id", BigInteger),
    Column("in_charge_person", Text),
    Column("ticketcount", Integer),
    Column("schedulecount", Integer),
    Column("schedule_configured", Integer),
    Column("schedule_initiate", Integer),
    Column("iot_device_mapped", Integer),
    Column("status", Integer),
    Column("asset_live_status", Integer),
    Column("mapping_status", String(64)),  # untyped in the API; labels such as "Mapped" are kept as sent
    Column("traceability_status", String(64)),
    Column("year_of_manufacturing", Integer),
    Column("is_loaner", Integer),
    Column("is_ble_tracking", Integer),
    Column("is_rfid_tracking", Integer),
    Column("is_qr_tracking", Integer),
    Column("is_tracking_enabled", Integer),
    Column("cmms_installation_date", Text),
    Column("traceability_updated_on", Text),
    # --- sync bookkeeping, as the users' reports read it: filled by the connector that mirrors its state here -------
    # (Innomaint). Each source's own state is in cmms_sync_state.
    Column("last_synced_at", DateTime(timezone=True)),  # last successful sync
    Column("sync_version", Integer, nullable=False, default=0, server_default="0"),  # +1 per successful sync
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_sync_status", String(16)),  # success | error | not_found
    Column("last_sync_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0, server_default="0"),
    Column("updated_at", DateTime(timezone=True)),
    Index("ix_ic3_asset_master_location_id", "location_id"),
    Index("ix_ic3_asset_master_last_sync_status", "last_sync_status"),
)

building = Table(
    "ic3_building",
    metadata,
    Column("building_id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", BigInteger),
    Column("building_name", Text),
    Column("updated_at", DateTime(timezone=True)),
)

floor_master = Table(
    "ic3_floor_master",
    metadata,
    Column("floor_id", BigInteger, primary_key=True, autoincrement=False),
    Column("floor_name", Text),
    Column("location_id", BigInteger),
    Column("asset_floor_id", BigInteger),
    Column("updated_at", DateTime(timezone=True)),
)

department_master = Table(
    "ic3_department_master",
    metadata,
    Column("department_id", BigInteger, primary_key=True, autoincrement=False),
    Column("department_name", Text),
    Column("floor_id", BigInteger),
    Column("location_id", BigInteger),
    Column("asset_department_id", BigInteger),
    Column("updated_at", DateTime(timezone=True)),
)

raw_response = Table(
    "ic3_innomaint_raw_response",
    metadata,
    Column("cmms_asset_id", ID, primary_key=True),
    Column("payload", Text, nullable=False),  # the body exactly as received
    Column("payload_sha256", String(64), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    Column("sync_version", Integer, nullable=False),
)

asset_performance = Table(
    "ic3_asset_performance",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", Integer, ForeignKey("ic3_asset_master.asset_id"), nullable=False, unique=True),
    Column("cmms_asset_id", ID, nullable=False),
    Column("equipments_name", Text),
    Column("equipment_model_name", Text),
    Column("criticality_type_label", Text),
    Column("total_ticket", Integer),
    Column("mttr", String(32)),
    Column("mttr_hours", Float),
    Column("mtbf", String(32)),
    Column("mtbf_hours", Float),
    Column("availability", String(32)),
    Column("availability_pct", Float),
    Column("total_ticket_breakdown_hrs", String(32)),
    Column("total_ticket_breakdown_hours", Float),
    Column("total_schedule_breakdown_hrs", String(32)),
    Column("total_schedule_breakdown_hours", Float),
    Column("asset_created_date", String(32)),
    Column("asset_created_at", DateTime),
    Column("total_actual_hrs", String(32)),
    Column("total_actual_hours", Float),
    Column("sync_version", Integer, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

workorder_summary = Table(
    "ic3_workorder_summary",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", Integer, ForeignKey("ic3_asset_master.asset_id"), nullable=False),
    Column("cmms_asset_id", ID, nullable=False),
    Column("period_type", String(16), nullable=False),  # upto | last_year
    Column("work_estimate_count", Integer),
    Column("work_estimate_cost", Numeric(16, 2)),
    Column("schedule_count", Integer),
    Column("schedule_cost", Numeric(16, 2)),
    Column("ticket_count", Integer),
    Column("ticket_cost", Numeric(16, 2)),
    Column("sync_version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("asset_id", "period_type", name="uq_ic3_workorder_summary_asset_period"),
)

SOURCE = String(64)  # a configured connection's name (defs/<source>/defs.yaml), e.g. "innomaint"

sync_state = Table(
    "cmms_sync_state",
    metadata,
    # One row per (source, asset) that source has attempted: what due selection, retries and status read, so two
    # sources (or two tenants of one CMMS) never see or overwrite each other's progress.
    Column("source", SOURCE, primary_key=True),
    Column("asset_id", Integer, ForeignKey("ic3_asset_master.asset_id"), primary_key=True),
    Column("sync_version", Integer, nullable=False, default=0, server_default="0"),  # +1 per successful sync
    Column("last_synced_at", DateTime(timezone=True)),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_sync_status", String(16)),  # success | error | not_found
    Column("last_sync_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_cmms_sync_state_source_status", "source", "last_sync_status"),
)

sync_log = Table(
    "ic3_sync_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("serialnumber", ID, nullable=False),
    Column("sync_type", String(32), nullable=False),  # the connector ("innomaint"); `source` names the connection
    Column("source", SOURCE, nullable=False),
    Column("status", String(16), nullable=False),  # success | error | not_found
    Column("error_message", Text),
    Column("http_status", Integer),
    Column("attempts", Integer),
    Column("batch_id", String(64)),
    Column("run_id", String(64)),
    Column("synced_at", DateTime(timezone=True), nullable=False),
    Index("ix_ic3_sync_log_serialnumber", "serialnumber", "synced_at"),
    Index("ix_ic3_sync_log_source", "source", "synced_at"),
)

cmms_sync_log = Table(
    "cmms_sync_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(64), nullable=False, unique=True),
    Column("sync_type", String(32), nullable=False),
    Column("source", SOURCE, nullable=False),
    Column("partition_key", Text),
    Column("run_id", String(64)),
    Column("status", String(16), nullable=False),  # success | partial | failed
    Column("assets_due", Integer, nullable=False, default=0, server_default="0"),
    Column("assets_synced", Integer, nullable=False, default=0, server_default="0"),
    Column("assets_failed", Integer, nullable=False, default=0, server_default="0"),
    Column("assets_not_found", Integer, nullable=False, default=0, server_default="0"),
    Column("requests", Integer, nullable=False, default=0, server_default="0"),
    Column("throttled", Integer, nullable=False, default=0, server_default="0"),
    Column("retries", Integer, nullable=False, default=0, server_default="0"),
    Column("duration_ms", Integer, nullable=False, default=0, server_default="0"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # The API this batch called and the request rate it found the API to accept (the limiter's ceiling; NULL when
    # it never answered 429): the next batch against the same API starts just under it instead of re-learning it.
    Column("api_base_url", Text),
    Column("rate_limit_found", Float),
)

# --- collection sources (paged streams such as an object structure) ---------------------------------------------------
# A stream's own rows live in tables the sync creates and widens itself (``warehouse.stream_tables``: one per stream
# and child array, named by the source); these fixed tables hold what the engine keeps about them.

stream_state = Table(
    "cmms_stream_state",
    metadata,
    # One row per (source, stream, partition): where its incremental sync resumes. ``high_water_mark`` is the
    # largest change-field value of the rows committed so far (ISO 8601, UTC); it is written in the same transaction
    # as the page that carries it, so it is never ahead of the committed rows.
    Column("source", SOURCE, primary_key=True),
    Column("stream", String(128), primary_key=True),
    Column("partition_key", String(255), primary_key=True),  # "" for an unpartitioned stream
    Column("high_water_mark", Text),
    Column("last_sync_at", DateTime(timezone=True)),
    Column("last_full_sync_at", DateTime(timezone=True)),
    Column("last_status", String(16)),  # running | success | failed
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

stream_log = Table(
    "cmms_stream_log",
    metadata,
    # One row per stream sync of one partition: what it read, wrote, found and how it ended.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", SOURCE, nullable=False),
    Column("stream", String(128), nullable=False),
    Column("partition_key", String(255), nullable=False),
    Column("run_id", String(64)),
    Column("mode", String(16), nullable=False),  # full | incremental
    Column("status", String(16), nullable=False),  # success | failed
    Column("error_message", Text),
    Column("pages", Integer, nullable=False, default=0, server_default="0"),
    Column("rows_written", Integer, nullable=False, default=0, server_default="0"),
    Column("child_rows_written", Integer, nullable=False, default=0, server_default="0"),
    Column("rows_deleted", Integer, nullable=False, default=0, server_default="0"),
    Column("values_kept_as_text", Integer, nullable=False, default=0, server_default="0"),
    Column("new_columns", Integer, nullable=False, default=0, server_default="0"),
    Column("requests", Integer, nullable=False, default=0, server_default="0"),
    Column("throttled", Integer, nullable=False, default=0, server_default="0"),
    Column("retries", Integer, nullable=False, default=0, server_default="0"),
    Column("high_water_mark_before", Text),
    Column("high_water_mark_after", Text),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_cmms_stream_log_source_stream", "source", "stream", "finished_at"),
)

schema_change = Table(
    "cmms_schema_change",
    metadata,
    # Each column a sync added because the API sent an attribute its table lacked (schema drift), once.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", SOURCE, nullable=False),
    Column("table_name", String(128), nullable=False),
    Column("column_name", String(128), nullable=False),
    Column("column_type", String(32), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("run_id", String(64)),
    UniqueConstraint("table_name", "column_name", name="uq_cmms_schema_change_column"),
)

# --- performance history and maintenance KPIs --------------------------------------------------------------------------

asset_performance_history = Table(
    "ic3_asset_performance_history",
    metadata,
    # Append-only: one row per asset per sync (or re-parse) in which any of its performance values changed, written
    # in the same transaction as the ``ic3_asset_performance`` row it copies, so trends survive that row's overwrite.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", Integer, ForeignKey("ic3_asset_master.asset_id"), nullable=False),
    Column("cmms_asset_id", ID, nullable=False),
    Column("sync_version", Integer, nullable=False),
    Column("synced_at", DateTime(timezone=True), nullable=False),  # when the answer holding these values arrived
    Column("total_ticket", Integer),
    Column("mttr_hours", Float),
    Column("mtbf_hours", Float),
    Column("availability_pct", Float),
    Column("total_ticket_breakdown_hours", Float),
    Column("total_schedule_breakdown_hours", Float),
    Column("total_actual_hours", Float),
    Column("recorded_at", DateTime(timezone=True), nullable=False),  # when this row was written
    UniqueConstraint("asset_id", "sync_version", name="uq_ic3_asset_performance_history_version"),
    Index("ix_ic3_asset_performance_history_synced_at", "synced_at"),
    Index("ix_ic3_asset_performance_history_recorded_at", "recorded_at"),
)


def _kpi_columns() -> list[Column]:
    """What every KPI rollup row holds: the base sums (so any figure can be checked by hand) and the figures."""
    return [
        Column("assets", Integer, nullable=False),
        Column("assets_with_data", Integer, nullable=False),
        Column("assets_without_data", Integer, nullable=False),
        Column("repair_events", BigInteger, nullable=False),
        Column("repair_hours", Float, nullable=False),
        Column("operating_hours", Float, nullable=False),
        Column("mttr_hours", Float),  # NULL when the group had no repair event
        Column("mtbf_hours", Float),  # NULL when the group had no repair event
        Column("availability_pct", Float),  # NULL when the group had no operating hours
        Column("computed_at", DateTime(timezone=True), nullable=False),
    ]


def _kpi_table(table_name: str, key: str) -> Table:
    return Table(table_name, metadata, Column(key, NAME, primary_key=True), *_kpi_columns())


kpi_site = _kpi_table("ic3_kpi_site", "site_name")
kpi_customer = _kpi_table("ic3_kpi_customer", "customer_name")
kpi_source = _kpi_table("ic3_kpi_source", "source")
kpi_fleet = _kpi_table("ic3_kpi_fleet", "fleet")

kpi_daily = Table(
    "ic3_kpi_daily",
    metadata,
    # The rollups as the performance history stood at the end of each UTC day (site, customer and fleet levels).
    Column("day", Date, primary_key=True),
    Column("level", String(16), primary_key=True),  # site | customer | fleet
    Column("name", NAME, primary_key=True),
    *_kpi_columns(),
)

kpi_work_orders = Table(
    "ic3_kpi_work_orders",
    metadata,
    # Work-order KPIs from cmms_work_order (every source, rows not deleted), per site, per source and for the fleet,
    # for the period [period_start, period_end). The base counts and sums are kept so any figure can be checked.
    Column("level", String(16), primary_key=True),  # site | source | fleet
    Column("name", NAME, primary_key=True),
    Column("period_start", DateTime(timezone=True), nullable=False),
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("pm_grace_days", Float, nullable=False),
    Column("pm_due", Integer, nullable=False),  # preventive WOs due in the period (cancelled ones left out)
    Column("pm_done_on_time", Integer, nullable=False),  # of those, completed by due_at + grace
    Column("pm_compliance_pct", Float),  # NULL when no preventive WO was due
    Column("backlog", Integer, nullable=False),  # open, in_progress or on_hold now
    Column("backlog_aged", Integer, nullable=False),  # of those, with a created_at (the age is known)
    Column("backlog_age_days_sum", Float, nullable=False),
    Column("backlog_mean_age_days", Float),  # NULL when no open WO has a created_at
    Column("backlog_max_age_days", Float),
    Column("overdue", Integer, nullable=False),  # open WOs past due_at
    Column("overdue_preventive", Integer, nullable=False),
    Column("corrective_completed", Integer, nullable=False),  # completed in the period, created_at known
    Column("corrective_repair_hours", Float, nullable=False),  # their Σ (completed_at - created_at)
    Column("corrective_mttr_hours", Float),  # NULL when none was completed
    Column("computed_at", DateTime(timezone=True), nullable=False),
)

alert_work_order = Table(
    "ic3_alert_work_order",
    metadata,
    # Closing the loop (kpi.write_back): one row per asset per alert episode - from the check run that first found
    # the asset failing to the one that found it passing again (``episode_ended_at``) - and the work order raised
    # for it in the asset's source CMMS. The stored ``work_order_id`` is what keeps a re-run from raising another.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert", String(128), nullable=False),  # the check's name (availability_by_criticality)
    Column("asset_id", Integer, ForeignKey("ic3_asset_master.asset_id"), nullable=False),
    Column("cmms_asset_id", ID, nullable=False),
    Column("episode_started_at", DateTime(timezone=True), nullable=False),
    Column("episode_ended_at", DateTime(timezone=True)),  # NULL while the asset still fails the alert
    Column("source", SOURCE),  # the CMMS the work order goes to (NULL when skipped: no source can take it)
    Column("source_asset_id", ID),  # cmms_asset.source_id there
    Column("status", String(16), nullable=False),  # would_create | sending | created | failed | skipped
    Column("dry_run", Boolean, nullable=False),  # the last attempt was a dry run (nothing sent)
    Column("work_order_id", ID),  # the id the CMMS gave the created work order (Maximo wonum, UpKeep id)
    Column("work_order_url", Text),
    Column("request", Text),  # the JSON body sent (or that would be sent); never credentials
    Column("message", Text),  # why skipped, or the CMMS's refusal
    Column("attempts", Integer, nullable=False),  # POSTs tried
    Column("created_at", DateTime(timezone=True)),  # when the CMMS accepted the work order
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("alert", "asset_id", "episode_started_at", name="uq_ic3_alert_work_order_episode"),
    # At most one open episode per alert and asset, whatever runs at once: a second run starting the same episode
    # fails on this index instead of raising a second work order.
    Index("uq_ic3_alert_work_order_open", "alert", "asset_id", unique=True,
          sqlite_where=text("episode_ended_at IS NULL"), postgresql_where=text("episode_ended_at IS NULL")),
)
