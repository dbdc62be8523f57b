"""The README's promise for an in-house CMMS: a new ``defs.yaml`` and nothing else. The file below (the README's
example) is written into a fresh defs folder, loaded as Dagster loads it, and its sync job run against the in-house
simulator (bearer token, opaque cursor, ``updated_since``): every asset and work order lands, in its raw table and in
the unified ``cmms_asset`` / ``cmms_work_order`` (statuses, priorities and work types normalised, dates in UTC, the
register's assets found by tag), a second run reads only what changed, and the token is nowhere in the event log."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from dagster import Definitions, instance_for_test
from dagster.components.testing import create_defs_folder_sandbox
from sqlalchemy import MetaData, Table, func, insert, select

from ic3_pipeline.components import CmmsCollections
from ic3_pipeline.components.collections import collection_definitions
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.sandbox.inhouse_simulator import InhouseSimConfig, InhouseSimulator
from ic3_pipeline.warehouse import ensure_schema, make_engine, tables
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline.warehouse.times import as_utc
from ic3_pipeline.warehouse.unified_tables import cmms_asset, cmms_work_order

TOKEN = "inhouse-token-8e2c5a-not-a-real-one"

# The README's "Connect another CMMS with YAML" in-house example, exactly.
YAML = """\
type: ic3_pipeline.components.CmmsCollections
attributes:
  source: plantdb
  base_url_env: PLANTDB_BASE_URL
  api:
    name: Plant DB
    auth: {kind: bearer, token_env: PLANTDB_TOKEN}
    paginator: {type: cursor, cursor_path: next_cursor, cursor_param: cursor, limit_param: limit}
    records: data
    errors: {message_path: message}
    incremental:
      query: {updated_since: "{since}"}
  paging: {page_size: 50, max_page_size: 200}
  streams:
    - name: assets
      resource: /assets
      key: [id]
      change_field: updated_at
      unified:                              # each asset is also a row of cmms_asset
        table: cmms_asset
        fields:
          name: {path: name}
          site: {path: site}
          status: {path: status}
          serial_number: {path: serial_number}
          ic3_asset_id: {lookup: {match: [{path: tag, column: cmms_asset_id}], ignore_case: true}}
          source_updated_at: {path: updated_at, steps: [date]}
    - name: work_orders
      resource: /work-orders
      key: [id]
      change_field: updated_at
      depends_on: [assets]
      references:
        - {columns: [asset_id], stream: assets, to: [id]}
      unified:                              # each work order is also a row of cmms_work_order
        table: cmms_work_order
        fields:
          title: {path: title}
          status:
            path: state
            map: {new: open, active: in_progress, paused: on_hold, done: completed, void: cancelled}
          priority: {path: priority, map: {P1: 1, P2: 2, P3: 3, P4: 4, P5: 5}}
          work_type:
            path: kind
            map: {pm: preventive, repair: corrective, breakdown: emergency, inspection: inspection}
            default: other
          asset_source_id: {path: asset_id}
          site: {path: site}
          created_at: {path: opened_at, steps: [date]}
          due_at: {path: due_at, steps: [date]}
          completed_at: {path: closed_at, steps: [date]}
          source_updated_at: {path: updated_at, steps: [date]}
"""


# What the in-house API's values mean (the simulator's documentation), written out here.
STATES = {"new": "open", "active": "in_progress", "paused": "on_hold", "done": "completed", "void": "cancelled"}
KINDS = {"pm": "preventive", "repair": "corrective", "breakdown": "emergency", "inspection": "inspection"}


def utc(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(timezone.utc)


def unified(engine, table) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.source == "plantdb", table.c._deleted_at.is_(None)))
        return {row.source_id: {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}
                for row in rows}


def assert_unified(engine, simulator: InhouseSimulator, register: dict[str, int]) -> None:
    assets = unified(engine, cmms_asset)
    assert {key: (row["name"], row["site"], row["status"], row["serial_number"], row["ic3_asset_id"],
                  row["source_updated_at"]) for key, row in assets.items()} == {
        r["id"]: (r["name"], r["site"], r["status"], r["serial_number"], register.get(r["tag"]), utc(r["updated_at"]))
        for r in simulator.truth("assets")}
    orders = unified(engine, cmms_work_order)
    assert {key: (row["title"], row["status"], row["priority"], row["work_type"], row["asset_source_id"],
                  row["site"], row["created_at"], row["due_at"], row["completed_at"], row["source_updated_at"])
            for key, row in orders.items()} == {
        r["id"]: (r["title"], STATES[r["state"]], int(r["priority"][1:]), KINDS.get(r["kind"], "other"), r["asset_id"],
                  r["site"], utc(r["opened_at"]), utc(r["due_at"]), utc(r["closed_at"]), utc(r["updated_at"]))
        for r in simulator.truth("work_orders")}


@pytest.fixture
def simulator() -> Iterator[InhouseSimulator]:
    sim = InhouseSimulator(InhouseSimConfig(token=TOKEN, assets_per_site=40, seed=4))
    sim.start()
    yield sim
    sim.stop()


def test_a_yaml_file_alone_syncs_the_in_house_api(tmp_path, simulator, monkeypatch):
    monkeypatch.setenv("PLANTDB_TOKEN", TOKEN)
    db_url = f"sqlite:///{tmp_path / 'plantdb.sqlite'}"
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(component_cls=CmmsCollections, defs_path="plantdb")
        (defs_path / "defs.yaml").write_text(textwrap.dedent(YAML), encoding="utf-8")
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, _):
            spec = component.spec()
    resource = CmmsApiResource(source="plantdb", connector=spec.connector_name, base_url=simulator.base_url,
                               secret_env=dict(spec.secrets), initial_rate_per_s=50.0, timeout_s=5.0)
    defs = Definitions.merge(collection_definitions(spec, resource),
                             Definitions(resources={"warehouse": WarehouseResource(database_url=db_url)}))
    engine = make_engine(db_url)
    ensure_schema(engine)
    with engine.begin() as conn:  # three of the plant's assets are in the register, by their tag
        for record in simulator.truth("assets")[:3]:
            conn.execute(insert(tables.asset_master).values(cmms_asset_id=record["tag"], asset_name=record["name"]))
        register = dict(conn.execute(select(tables.asset_master.c.cmms_asset_id, tables.asset_master.c.asset_id)).all())
    with instance_for_test() as instance:
        first = defs.resolve_job_def("sync_plantdb").execute_in_process(instance=instance)
        assert first.success
        assert_unified(engine, simulator, register)
        with engine.connect() as conn:
            statuses = set(conn.execute(select(cmms_work_order.c.status).distinct()).scalars())
        assert statuses == {"open", "in_progress", "on_hold", "completed", "cancelled"}
        with engine.connect() as conn:
            for stream, collection in (("assets", "assets"), ("work_orders", "work_orders")):
                table = Table(f"plantdb_{stream}", MetaData(), autoload_with=conn)
                ids = {row[0] for row in conn.execute(select(table.c.id))}
                assert ids == {record["id"] for record in simulator.truth(collection)}
        simulator.change("work_orders", count=2)
        second = defs.resolve_job_def("sync_plantdb").execute_in_process(instance=instance)
        assert second.success
        metadata = {e.asset_key.path[1]: e.materialization.metadata for e in second.get_asset_materialization_events()}
        assert 2 <= metadata["work_orders"]["rows written"].value < len(simulator.truth("work_orders"))
        assert_unified(engine, simulator, register)  # the changed work orders' new states
        logs = [str(record) for run in (first, second) for record in instance.all_logs(run.run_id)]
        assert logs and not [line for line in logs if TOKEN in line]
    with engine.connect() as conn:
        table = Table("cmms_stream_state", MetaData(), autoload_with=conn)
        marks = conn.execute(select(func.count()).select_from(table).where(table.c.source == "plantdb")).scalar_one()
    assert marks == 2  # a high-water mark per stream
    engine.dispose()
