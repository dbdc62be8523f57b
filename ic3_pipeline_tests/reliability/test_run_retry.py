"""Dagster's run-level retry re-launches a crashed run, and the retry resumes where the crash left off.

A run is launched the way the UI, a sensor or a backfill launches one: a remote job origin, the code location served
by a gRPC code server, the instance's run queue and ``DefaultRunLauncher``, all configured by the project's own
``dagster.yaml``. Its run worker is SIGKILLed mid-batch. No daemon runs here; the test calls the functions the
daemon's loops call, in the order they would call them: the queue's dequeue iteration (``QueuedRunCoordinatorDaemon``),
run monitoring's iteration (``MonitoringDaemon``: it frees the dead run's pool slot) and the event-log consumer's
automatic re-execution. The gRPC code server itself notices the dead worker and marks the run failed.

Runs started by ``ic3 sync`` have no remote origin and are not re-launched by Dagster (``ic3`` reaps them and the next
``ic3 sync`` resumes: ``test_crashes.py``); this is the path of everything launched from the UI or by automation.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter, instance_for_test
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.remote_representation.code_location import CodeLocation
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import consume_new_runs_for_automatic_reexecution
from dagster._daemon.monitoring import execute_concurrency_slots_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from sqlalchemy import Engine, select

from ic3_pipeline.sync.partitions import RANGE_END_TAG, RANGE_START_TAG, range_tags
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.partitions import register_site_partitions
from ic3_pipeline.runs import INSTANCE_TEMPLATE
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig
from ic3_pipeline.warehouse import ensure_schema, make_engine, tables
from ic3_pipeline.warehouse.engine import DATABASE_URL_ENV, PROJECT_ROOT
from ic3_pipeline_tests.innomaint.conftest import TOKEN
from ic3_pipeline_tests.reliability.conftest import assert_exact
from ic3_pipeline_tests.sources import INNOMAINT

POOL, ENRICH_JOB, ONE_ASSET_JOB = INNOMAINT.pool_name, INNOMAINT.enrich_job, INNOMAINT.one_asset_job
BASE_URL_ENV, TOKEN_ENV = INNOMAINT.base_url_env, INNOMAINT.secrets["token"]

LOCATION = "ic3_pipeline"
REPOSITORY = "__repository__"  # the repository Dagster makes of a module's `defs`
PARENT_RUN_TAG, RETRY_NUMBER_TAG, WILL_RETRY_TAG = "dagster/parent_run_id", "dagster/retry_number", "dagster/will_retry"
KILL_AFTER_SYNCED = 25  # of 120: well inside the batch
logger = logging.getLogger(__name__)


@dataclass
class Deployment:
    """The project as deployed: its dagster.yaml, its code location on a gRPC server, its database and an API."""

    instance: DagsterInstance
    context: WorkspaceProcessContext
    engine: Engine
    simulator: InnomaintSimulator
    partition_keys: list[str]
    asset_ids: list[str]

    def launch(self, job_name: str, *, tags: Mapping[str, str], run_config: Mapping | None = None) -> DagsterRun:
        """Create and submit a run as the sensor daemon does (``_create_sensor_run``), then dequeue it."""
        workspace = self.context.create_request_context()
        location = workspace.get_code_location(LOCATION)
        run = create_remote_run(self.instance, location, job_name, dict(tags), dict(run_config or {}))
        self.instance.submit_run(run.run_id, workspace)
        self.dequeue()
        return run

    def dequeue(self) -> None:
        """One iteration of the run queue daemon: launch the queued runs the limits allow."""
        with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
            list(daemon.run_iteration(self.context))

    def free_slots_of_ended_runs(self) -> None:
        """One iteration of run monitoring's pool-slot sweep (what the daemon's MonitoringDaemon runs each poll)."""
        list(execute_concurrency_slots_iteration(self.context, logger))

    def retry_crashed_runs(self, run_ids: list[str]) -> None:
        """What the daemon's EventLogConsumer does with the runs whose RUN_FAILURE it has just read."""
        records = self.instance.get_run_records(filters=RunsFilter(run_ids=run_ids))
        list(consume_new_runs_for_automatic_reexecution(self.context, records, logger))

    def pool_holders(self) -> set[str]:
        """The runs holding a slot of the Innomaint API pool."""
        return self.instance.event_log_storage.get_concurrency_info(POOL).active_run_ids

    def status(self, run_id: str) -> DagsterRunStatus:
        return self.instance.get_run_by_id(run_id).status

    def will_retry(self, run_id: str) -> str:
        """The ``dagster/will_retry`` tag (what the UI shows), which the instance adds just after the failure."""
        wait_for(lambda: WILL_RETRY_TAG in self.instance.get_run_by_id(run_id).tags, "the will_retry tag", 10)
        return self.instance.get_run_by_id(run_id).tags[WILL_RETRY_TAG]

    def synced_ids(self) -> set[str]:
        asset = tables.asset_master
        with self.engine.connect() as conn:
            return set(conn.execute(select(asset.c.cmms_asset_id).where(asset.c.last_sync_status == "success")).scalars())

    def attempts(self) -> dict[str, object]:
        """asset id -> when its last sync attempt was written (an asset fetched again gets a new one)."""
        asset = tables.asset_master
        with self.engine.connect() as conn:
            return dict(conn.execute(select(asset.c.cmms_asset_id, asset.c.last_attempt_at)).all())

    def logged_by(self, run_id: str) -> list[tuple[str, str]]:
        """(asset id, status) of every attempt ``ic3_sync_log`` holds for the run, in id order."""
        log = tables.sync_log
        query = select(log.c.serialnumber, log.c.status).where(log.c.run_id == run_id).order_by(log.c.serialnumber)
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def batches_of(self, run_id: str) -> list[tuple[int, int]]:
        """(assets due, assets synced) of each batch ``cmms_sync_log`` recorded for the run."""
        batch = tables.cmms_sync_log
        query = select(batch.c.assets_due, batch.c.assets_synced).where(batch.c.run_id == run_id)
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]


def create_remote_run(
    instance: DagsterInstance, location: CodeLocation, job_name: str, tags: dict[str, str], run_config: dict
) -> DagsterRun:
    """A run carrying its remote job origin and snapshots, exactly what a run launched from the UI holds; without the
    origin Dagster could not re-launch it (``retry_run`` reports "Run does not have an external job origin")."""
    remote_job = location.get_job(JobSubsetSelector(LOCATION, REPOSITORY, job_name, op_selection=None))
    plan = location.get_execution_plan(
        remote_job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
    )
    return instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config=run_config,
        resolved_op_selection=remote_job.resolved_op_selection,
        step_keys_to_execute=None,
        status=DagsterRunStatus.NOT_STARTED,
        op_selection=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**(remote_job.run_tags or {}), **tags},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=location.get_repository(REPOSITORY).asset_graph,
    )


@pytest.fixture
def deployment(db_url, sample_register, tmp_path: Path, monkeypatch) -> Iterator[Deployment]:
    """The sample register imported, a slow simulated API, and the code location served by a gRPC code server whose
    environment names them (so the run workers it spawns use this database and this API)."""
    engine = make_engine(db_url)
    ensure_schema(engine)
    summary, validated = import_register(engine, sample_register)
    sites = {r["cmms_asset_id"]: r["site_name"] for r in validated.records()}
    # ~4 s for the whole batch at the resource's own settings: long enough to land a kill inside it.
    config = SimulatorConfig(token=TOKEN, seed=7, latency_ms=150.0, rate_limit=30.0)
    home = tmp_path / "dagster_home"
    home.mkdir()
    overrides = yaml.safe_load(INSTANCE_TEMPLATE.read_text())  # the project's run retries, monitoring and pools
    with (
        InnomaintSimulator(sites, config) as simulator,
        instance_for_test(temp_dir=str(home), overrides=overrides) as instance,
    ):
        for name, value in ((DATABASE_URL_ENV, db_url), (BASE_URL_ENV, simulator.base_url), (TOKEN_ENV, TOKEN)):
            monkeypatch.setenv(name, value)
        register_site_partitions(instance, summary.site_partition_keys)
        target = ModuleTarget(
            module_name="ic3_pipeline.definitions",
            attribute="defs",
            working_directory=str(PROJECT_ROOT),
            location_name=LOCATION,
        )
        with create_test_daemon_workspace_context(target, instance) as context:
            keys = list(instance.get_dynamic_partitions("sites"))
            yield Deployment(instance, context, engine, simulator, keys, sorted(sites))
    engine.dispose()


def wait_for(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.05)


def quiet_for(simulator: InnomaintSimulator, seconds: float) -> bool:
    """No request reached the API for ``seconds``: whatever the killed worker had in flight has been answered."""
    last = simulator.stats()["last_request_at"]
    return last is None or time.time() - last > seconds


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid the run worker announced in its "Started process for run (pid: N)" engine event."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            return int(pid.value)
    return None


def engine_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    return [r.dagster_event.message or "" for r in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)]


def launch_when_the_pool_allows(deployment: Deployment, run_id: str, timeout: float = 40) -> None:
    """Drive the queue and the slot sweep as the daemon would (each every few seconds) until the run leaves the
    queue. The killed run still holds the API pool's only slot until run monitoring frees it."""
    deadline = time.monotonic() + timeout
    while deployment.status(run_id) == DagsterRunStatus.QUEUED:
        assert time.monotonic() < deadline, (
            f"the retry run stayed queued for {timeout:.0f} s: pool {POOL!r} is held by {deployment.pool_holders()}"
        )
        deployment.free_slots_of_ended_runs()
        deployment.dequeue()
        time.sleep(0.5)


@pytest.mark.slow
def test_a_crashed_run_is_relaunched_and_resumes(deployment: Deployment):
    """SIGKILL the run worker mid-batch: the code server marks the run failed, the slot it held in the API pool is
    freed, the automatic retry re-executes the step, fetches only the assets still due, and the database ends exact."""
    instance, simulator = deployment.instance, deployment.simulator
    keys = deployment.partition_keys
    run = deployment.launch(ENRICH_JOB, tags=range_tags(keys[0], keys[-1]))

    wait_for(lambda: len(deployment.synced_ids()) >= KILL_AFTER_SYNCED, f"{KILL_AFTER_SYNCED} assets synced", 60)
    pid = run_worker_pid(instance, run.run_id)
    assert pid in {p.pid for p in psutil.Process().children(recursive=True)}, "kill only the run worker this test started"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: deployment.status(run.run_id) == DagsterRunStatus.FAILURE, "the killed run to be marked failed", 10)

    synced_before = deployment.synced_ids()
    attempts_before = deployment.attempts()
    assert KILL_AFTER_SYNCED <= len(synced_before) < len(deployment.asset_ids), "the kill must land mid-batch"
    crash = f"Run execution process for {run.run_id} was terminated by signal 9 (SIGKILL)."
    assert any(crash in message for message in engine_messages(instance, run.run_id)), "the code server saw the kill"
    assert deployment.will_retry(run.run_id) == "true", "Dagster promises a retry: the crash was no step's failure"
    assert deployment.pool_holders() == {run.run_id}, "the dead run still holds the API pool's only slot"
    wait_for(lambda: quiet_for(simulator, 0.5), "the dead worker's last requests to be answered", 10)
    simulator.reset_stats()

    deployment.retry_crashed_runs([run.run_id])
    (retry,) = instance.get_runs(filters=RunsFilter(tags={PARENT_RUN_TAG: run.run_id}))
    assert retry.tags[RETRY_NUMBER_TAG] == "1" and retry.root_run_id == run.run_id
    assert retry.remote_job_origin is not None
    assert (retry.tags[RANGE_START_TAG], retry.tags[RANGE_END_TAG]) == (keys[0], keys[-1])
    launch_when_the_pool_allows(deployment, retry.run_id)
    wait_for(lambda: deployment.status(retry.run_id) in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE),
             "the retry run to finish", 60)
    assert deployment.status(retry.run_id) == DagsterRunStatus.SUCCESS
    assert deployment.pool_holders() == set()

    assert_exact(deployment.engine, set(deployment.asset_ids))
    still_due = set(deployment.asset_ids) - synced_before
    stats = simulator.stats()
    assert set(stats["hits"]) == still_due, "the retry fetched exactly the assets the crash left due"
    assert stats["ok"] == len(still_due)
    attempts_after = deployment.attempts()
    assert {i: attempts_after[i] for i in synced_before} == {i: attempts_before[i] for i in synced_before}
    assert deployment.logged_by(run.run_id) == [(i, "success") for i in sorted(synced_before)]
    assert deployment.logged_by(retry.run_id) == [(i, "success") for i in sorted(still_due)]
    assert deployment.batches_of(retry.run_id) == [(len(still_due), len(still_due))]

    print(f"killed with {len(synced_before)} of {len(deployment.asset_ids)} synced; the retry fetched the other "
          f"{len(still_due)} ({stats['requests']} requests)")

    deployment.retry_crashed_runs([run.run_id])  # the daemon may read the same failure again: still one retry
    assert len(instance.get_runs(filters=RunsFilter(tags={PARENT_RUN_TAG: run.run_id}))) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # Dagster's decision; the database plays no part
def test_a_run_failed_by_its_own_step_is_not_relaunched(deployment: Deployment):
    """``retry_on_asset_or_op_failure: false``: a step failure (here: a one-asset sync of an id the database does not
    hold, refused without retries) is the step's own retry policy's business, so Dagster does not launch the run again."""
    unknown_asset = {"ops": {"sync_asset_innomaint": {"config": {"asset_id": "NO-SUCH"}}}}
    run = deployment.launch(ONE_ASSET_JOB, tags={}, run_config=unknown_asset)
    wait_for(lambda: deployment.status(run.run_id) == DagsterRunStatus.FAILURE, "the run to fail", 60)
    assert deployment.will_retry(run.run_id) == "false"
    deployment.retry_crashed_runs([run.run_id])
    assert deployment.instance.get_runs(filters=RunsFilter(tags={PARENT_RUN_TAG: run.run_id})) == []
