"""The Dagster home every ``ic3`` command and ``make ui`` share, set up without importing Dagster (seconds of
start-up that ``make ui`` would pay before starting anything)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ic3_pipeline.warehouse.engine import PROJECT_ROOT

DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"
# The project's instance settings, copied into DAGSTER_HOME (Dagster reads them only from there). `dg dev` warns that
# a dagster.yaml in the folder it starts from is not used: it is, through this copy (README, Troubleshooting).
INSTANCE_TEMPLATE = PROJECT_ROOT / "dagster.yaml"


def prepare_dagster_home() -> Path:
    """Make sure ``DAGSTER_HOME`` names a folder with a ``dagster.yaml`` (the project's, when it has none)."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if INSTANCE_TEMPLATE.is_file() and (not config.exists() or home == DEFAULT_DAGSTER_HOME.resolve()):
        shutil.copyfile(INSTANCE_TEMPLATE, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
