"""The README's promise for an in-house CMMS: a new ``defs.yaml`` and nothing else. The file below (the README's
example) is written into a fresh defs folder, loaded as Dagster loads it, and its sync job run against the in-house
simulator (bearer token, opaque cursor, ``updated_since``): every asset and work order lands, a second run reads only
what changed, and the token is nowhere in the event log."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from dagster import Definitions, instance_for_test
from dagster.components.testing import create_defs_folder_sandbox
from sqlalchemy import MetaData, Table, func, select

from ic3_pipeline.components import CmmsCollections
from ic3_pipeline.components.collections import collection_definitions
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.sandbox.inhouse_simulator import InhouseSimConfig, InhouseSimulator
from ic3_pipeline.warehouse import make_engine
from ic3_pipeline.warehouse.resource import WarehouseResource

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
    - name: work_orders
      resource: /work-orders
      key: [id]
      change_field: updated_at
      depends_on: [assets]
      references:
        - {columns: [asset_id], stream: assets, to: [id]}
"""


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
    with instance_for_test() as instance:
        first = defs.resolve_job_def("sync_plantdb").execute_in_process(instance=instance)
        assert first.success
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
        logs = [str(record) for run in (first, second) for record in instance.all_logs(run.run_id)]
        assert logs and not [line for line in logs if TOKEN in line]
    with engine.connect() as conn:
        table = Table("cmms_stream_state", MetaData(), autoload_with=conn)
        marks = conn.execute(select(func.count()).select_from(table).where(table.c.source == "plantdb")).scalar_one()
    assert marks == 2  # a high-water mark per stream
    engine.dispose()
