"""The Maximo fixtures (simulator, the source as defs/maximo/defs.yaml declares it, a database on SQLite and on
PostgreSQL, the Syncer), shared with the unified-model tests."""

from ic3_pipeline_tests.maximo.conftest import maximo_engine, simulator, spec, syncer  # noqa: F401 - fixtures
