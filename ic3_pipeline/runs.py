"""Launching the code location's jobs as real Dagster runs on the instance at ``DAGSTER_HOME``.

The CLI goes through here so that everything it changes shows in the UI like a run started there: same jobs, same
event log, same asset history. Runs execute synchronously in this process's child (the jobs use the in-process
executor), which keeps the ~2 s a run costs on this machine from multiplying.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository

from ic3_pipeline.dagster_home import DEFAULT_DAGSTER_HOME, INSTANCE_TEMPLATE, prepare_dagster_home

__all__ = ["DEFAULT_DAGSTER_HOME", "INSTANCE_TEMPLATE", "RunOutcome", "get_instance", "prepare_dagster_home",
           "reap_dead_runs", "run_job"]

DEFINITIONS_MODULE = "ic3_pipeline.definitions"
HOST_TAG, PID_TAG = "ic3/host", "ic3/pid"
# Runs `ic3` executes in its own process have no code server to re-launch them from; saying so keeps Dagster from
# tagging a reaped one "will retry" and its daemon from trying. The next `ic3` command resumes them instead.
NOT_RELAUNCHABLE = {"dagster/max_retries": "0"}
# The CLI prints its own summary; the run's full event stream is in the UI (and in `dagster` logs), not the terminal.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    failure: str | None  # the failing step's own message (e.g. the register's problems)
    materializations: dict[str, list[Mapping[str, Any]]]  # asset key -> metadata of each materialization, in order


def run_job(
    instance: DagsterInstance,
    job_name: str,
    *,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    asset_selection: Sequence[AssetKey] | None = None,
) -> RunOutcome:
    """Execute ``job_name`` from the code location as a run on ``instance`` and report what it did."""
    reap_dead_runs(instance)
    tags = {**(tags or {}), **NOT_RELAUNCHABLE, HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    job = ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs", working_directory=os.getcwd())
    result = execute_job(
        job.get_reconstructable_job(job_name),
        instance=instance,
        run_config={**QUIET_CONSOLE, **(run_config or {})},
        tags=tags,
        asset_selection=list(asset_selection) if asset_selection else None,
    )
    return RunOutcome(
        run_id=result.run_id,
        success=result.success,
        failure=None if result.success else _failure_message(instance, result.run_id),
        materializations=_materializations(instance, result.run_id),
    )


def reap_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed the runs this host's ``ic3`` started whose process is gone (killed, crashed), and free their pool
    slots — otherwise the next run would wait forever for the API pool. The daemon's run monitoring does the same for
    runs it launched; the CLI has no daemon, so it tidies up before it starts."""
    reaped = []
    active = RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED], tags={HOST_TAG: socket.gethostname()})
    for run in instance.get_runs(filters=active):
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and _alive(pid):
            continue
        instance.report_run_failed(
            run, "The process running this run ended without finishing (killed or crashed); ic3 marked it failed "
            "and freed its concurrency slots. Whatever it had written is complete per asset; the rest is still due."
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _materializations(instance: DagsterInstance, run_id: str) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = {}
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.asset_materialization
        if materialization is not None:
            metadata = {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
            found.setdefault(materialization.asset_key.to_user_string(), []).append(metadata)
    return found


def _failure_message(instance: DagsterInstance, run_id: str) -> str:
    for record in instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}):
        event = record.dagster_event
        data = getattr(event, "step_failure_data", None) if event else None
        if data is not None:
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error is not None:
                return data.error.message.strip()
        if event is not None and event.message:
            return event.message
    return "the run failed; see its logs in the Dagster UI"
