"""A run's console on the project's instance (`make ui`'s terminal, for runs launched from the UI) prints no DEBUG
event lines, while the event log keeps every event and the runs' own INFO lines.

Before: Dagster's default console logger printed every event at DEBUG there, one
`ASSET_MATERIALIZATION - Materialized value …` line per partition (407 lines for two runs of the demo).
"""

import os
import shutil
import subprocess
import sys

from ic3_pipeline.runs import INSTANCE_TEMPLATE

RUN = """
from dagster import DagsterEventType, DagsterInstance, job, op
from ic3_pipeline.definitions import defs
from ic3_pipeline.defs.status.definitions import REFRESH_JOB

@op
def talk(context):
    context.log.info("an info line the event log keeps")

@job
def talking():
    talk()

instance = DagsterInstance.get()
refresh = defs.resolve_job_def(REFRESH_JOB).execute_in_process(instance=instance)
said = talking.execute_in_process(instance=instance)
materialized = instance.all_logs(refresh.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
kept = [e.user_message for e in instance.all_logs(said.run_id) if "an info line" in e.user_message]
print("EVENT LOG", len(materialized), len(kept))
"""


def test_console_prints_no_debug_event_lines_and_the_event_log_keeps_everything(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")  # the project's instance, as `make ui` serves it
    env = {**os.environ, "DAGSTER_HOME": str(home), "IC3_DATABASE_URL": f"sqlite:///{tmp_path / 'ic3.sqlite'}"}
    completed = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True, check=True)
    printed = completed.stdout + completed.stderr
    assert " - DEBUG - " not in printed and "ASSET_MATERIALIZATION" not in printed, printed[-2000:]
    assert "an info line the event log keeps" in printed  # the runs' own lines still show
    # the whole database's status and each source's (innomaint, maximo, upkeep, fiix, sap_pm); the info line
    assert "EVENT LOG 6 1" in completed.stdout
