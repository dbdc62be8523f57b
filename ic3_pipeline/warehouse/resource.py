"""The thin Dagster resource that hands assets an engine on the target database."""

from __future__ import annotations

from dagster import ConfigurableResource, Failure
from pydantic import PrivateAttr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from ic3_pipeline.warehouse.engine import DatabaseUnavailable, connected_engine, default_database_url, describe_url


class WarehouseResource(ConfigurableResource):
    """The target database (``IC3_DATABASE_URL``; default a SQLite file in the project's data folder).

    The URL may carry a password, so definitions pass it as ``EnvVar`` and it never lands in run config; the schema is
    brought up to date the first time this process opens the database.
    """

    database_url: str | None = None

    _engine: Engine | None = PrivateAttr(default=None)

    @property
    def url(self) -> str:
        return self.database_url or default_database_url()

    def engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = connected_engine(self.url)
            except DatabaseUnavailable as error:
                # A clear one-line failure in the UI instead of a driver traceback; the step's retry policy may retry.
                raise Failure(description=str(error)) from None
        return self._engine

    def describe(self) -> str:
        """The URL with any password masked, for logs and metadata."""
        return describe_url(self.url)

    def teardown_after_execution(self, context) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def warehouse_kind() -> str:
    """``sqlite`` or ``postgres``: the kind tag the UI shows on table assets, from the configured URL."""
    return "postgres" if make_url(default_database_url()).get_backend_name() == "postgresql" else "sqlite"
