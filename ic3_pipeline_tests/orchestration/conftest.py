"""The daemon-free path: build definitions with test resources, tick sensors, execute the runs they request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    Definitions,
    RunRequest,
    SensorResult,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
    partition_loading_context,
)

from ic3_pipeline.defs.register.definitions import defs as register_defs
from ic3_pipeline.defs.status.definitions import defs as status_defs
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig
from ic3_pipeline.sync.retry_plan import RetryPolicySettings
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline_tests.sources import INNOMAINT, api_resource, innomaint_spec, source_defs

TOKEN = "orchestration-test-token-4be1"


def build_defs(db_url: str, base_url: str, *, retry: RetryPolicySettings | None = None,
               **innomaint_overrides) -> Definitions:
    """The code location as the project builds it — register, the innomaint source, status — on a test database and
    a simulator (``retry``: the retry sensor's settings, else the defs.yaml's)."""
    spec = innomaint_spec(retry=retry) if retry else INNOMAINT
    resource = api_resource(spec, base_url, TOKEN, **{"max_attempts": 3, **innomaint_overrides})
    return source_defs(db_url, spec, resource, register_defs, status_defs)


@dataclass
class Orchestra:
    instance: DagsterInstance
    defs: Definitions
    db_url: str
    cursors: dict[str, str | None]

    @property
    def engine(self):
        return make_engine(self.db_url)

    def tick(self, sensor_name: str):
        """Evaluate one tick of a sensor with the cursor its previous tick left, and apply its partition requests."""
        sensor = self.defs.resolve_sensor_def(sensor_name)
        with build_sensor_context(
            instance=self.instance, cursor=self.cursors.get(sensor_name), definitions=self.defs,
            resources=self.defs.resources,
        ) as context, partition_loading_context(dynamic_partitions_store=self.instance):
            # The daemon evaluates ticks inside this context; a test must set it up itself.
            data = sensor.evaluate_tick(context)
        if data.cursor is not None:
            self.cursors[sensor_name] = data.cursor
        for request in data.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return data

    def schedule_tick(self, name: str = "innomaint_resync"):
        schedule = self.defs.resolve_schedule_def(name)
        with partition_loading_context(dynamic_partitions_store=self.instance):
            return schedule.evaluate_tick(build_schedule_context(
                instance=self.instance, repository_def=self.defs.get_repository_def(),
                scheduled_execution_time=datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc),
            ))

    def execute(self, request: RunRequest, job_name: str):
        """Execute a requested run the way the daemon would: its job, config and tags, on the instance."""
        job = self.defs.resolve_job_def(job_name)
        tags = dict(request.tags or {})
        if request.partition_key:
            tags["dagster/partition"] = request.partition_key
        return job.execute_in_process(
            instance=self.instance, run_config=request.run_config or {}, tags=tags, raise_on_error=False
        )


@pytest.fixture
def orchestra(db_url) -> Iterator[Orchestra]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    engine.dispose()
    with instance_for_test() as instance:
        yield Orchestra(instance, build_defs(db_url, "http://127.0.0.1:9"), db_url, {})


@pytest.fixture
def register_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    monkeypatch.setenv("IC3_REGISTER_DIR", str(folder))
    return folder


def simulator_for(sites: dict[str, str], **config) -> InnomaintSimulator:
    return InnomaintSimulator(sites, SimulatorConfig(token=TOKEN, seed=7, **config))
