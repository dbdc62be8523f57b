"""Fixtures for enrichment tests: an imported register, its site partitions, the simulator, and a job runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dagster import DagsterInstance, Definitions, define_asset_job, in_process_executor, instance_for_test

from ic3_pipeline.innomaint.assets import innomaint_enrichment
from ic3_pipeline.innomaint.checks import innomaint_checks
from ic3_pipeline.innomaint.launch import RANGE_END_TAG, RANGE_START_TAG
from ic3_pipeline.innomaint.resource import InnomaintResource
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.partitions import register_site_partitions
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline.warehouse.resource import WarehouseResource

TOKEN = "test-token-not-a-secret-7f3a9"  # distinctive, so tests can search for leaks


@dataclass
class Pipeline:
    """An imported register on a real database, a Dagster instance with its partitions, and a simulator."""

    db_url: str
    instance: DagsterInstance
    simulator: InnomaintSimulator
    partition_keys: list[str]
    asset_ids: list[str]

    @property
    def engine(self):
        return make_engine(self.db_url)

    def enrich(self, keys: list[str] | None = None, *, config: dict | None = None, token: str = TOKEN,
               raise_on_error: bool = False, **resource_overrides):
        """Run the enrichment job over a range of partitions (default: all), in process, on the real instance."""
        keys = keys or self.partition_keys
        resource = InnomaintResource(
            base_url=self.simulator.base_url, api_token=token,
            **{"initial_rate_per_s": 50.0, "timeout_s": 2.0, "max_attempts": 5, **resource_overrides},
        )
        defs = Definitions(
            assets=[innomaint_enrichment],
            asset_checks=innomaint_checks,
            jobs=[define_asset_job("enrich", executor_def=in_process_executor)],
            resources={"warehouse": WarehouseResource(database_url=self.db_url), "innomaint": resource},
        )
        tags = {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]} if len(keys) > 1 else {"dagster/partition": keys[0]}
        return defs.resolve_job_def("enrich").execute_in_process(
            instance=self.instance,
            tags=tags,
            run_config={"ops": {"innomaint_enrichment": {"config": config or {}}}},
            raise_on_error=raise_on_error,
        )


@pytest.fixture
def pipeline(db_url, sample_register) -> Iterator[Pipeline]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    summary, validated = import_register(engine, sample_register)
    sites = {r["cmms_asset_id"]: r["site_name"] for r in validated.records()}
    engine.dispose()
    config = SimulatorConfig(token=TOKEN, seed=7)
    with instance_for_test() as instance, InnomaintSimulator(sites, config) as simulator:
        register_site_partitions(instance, summary.site_partition_keys)
        keys = list(instance.get_dynamic_partitions("sites"))
        yield Pipeline(db_url, instance, simulator, keys, sorted(sites))
