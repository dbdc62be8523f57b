"""The code location: every source's connection (``defs/<source>/defs.yaml``), the register and status definitions
(``defs/register``, ``defs/status``), plus the resource they all share: the target database."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, EnvVar, load_from_defs_folder

from ic3_pipeline.warehouse.engine import DATABASE_URL_ENV
from ic3_pipeline.warehouse.resource import WarehouseResource


def _warehouse() -> WarehouseResource:
    # EnvVar keeps the URL (which may hold a password) out of run config; unset means the SQLite default.
    if os.environ.get(DATABASE_URL_ENV):
        return WarehouseResource(database_url=EnvVar(DATABASE_URL_ENV))
    return WarehouseResource()


defs = Definitions.merge(
    load_from_defs_folder(path_within_project=Path(__file__).parent),
    Definitions(resources={"warehouse": _warehouse()}),
)
