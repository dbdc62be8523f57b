"""The code location: every source's definitions, plus the resources they share."""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from ic3_pipeline.innomaint import definitions as innomaint
from ic3_pipeline.register import definitions as register
from ic3_pipeline.status import definitions as status
from ic3_pipeline.warehouse.engine import DATABASE_URL_ENV
from ic3_pipeline.warehouse.resource import WarehouseResource


def _warehouse() -> WarehouseResource:
    # EnvVar keeps the URL (which may hold a password) out of run config; unset means the SQLite default.
    if os.environ.get(DATABASE_URL_ENV):
        return WarehouseResource(database_url=EnvVar(DATABASE_URL_ENV))
    return WarehouseResource()


defs = Definitions.merge(
    register.defs,
    innomaint.defs,
    status.defs,
    Definitions(resources={"warehouse": _warehouse()}),
)
