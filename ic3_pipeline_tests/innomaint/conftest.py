"""Fixtures for enrichment tests: an imported register, its site partitions, the simulator, and a job runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job, in_process_executor, instance_for_test

from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.partitions import register_site_partitions
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig
from ic3_pipeline.sync.partitions import RANGE_END_TAG, RANGE_START_TAG
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline_tests.sources import INNOMAINT, api_resource, source_defs

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
               raise_on_error: bool = False, resource=None, **resource_overrides):
        """Run the enrichment job over a range of partitions (default: all), in process, on the real instance."""
        keys = keys or self.partition_keys
        resource = resource or api_resource(INNOMAINT, self.simulator.base_url, token, **resource_overrides)
        job = define_asset_job("enrich", AssetSelection.assets(*INNOMAINT.table_keys()), executor_def=in_process_executor)
        defs = source_defs(self.db_url, INNOMAINT, resource, Definitions(jobs=[job]))
        tags = {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]} if len(keys) > 1 else {"dagster/partition": keys[0]}
        return defs.resolve_job_def("enrich").execute_in_process(
            instance=self.instance,
            tags=tags,
            run_config=INNOMAINT.enrich_run_config(**(config or {})),
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


@pytest.fixture
def cli_env(pipeline, tmp_path, monkeypatch) -> Path:
    """The environment of an `ic3` command against the pipeline's database and simulator; the Dagster home."""
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("IC3_DATABASE_URL", pipeline.db_url)
    monkeypatch.setenv("INNOMAINT_BASE_URL", pipeline.simulator.base_url)
    monkeypatch.setenv("INNOMAINT_API_TOKEN", TOKEN)
    return home
