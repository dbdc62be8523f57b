"""Shared fixtures: a target database on SQLite and on the real PostgreSQL server, sample registers, a Dagster home."""

from __future__ import annotations

import os

# Read when the definitions load: steps retry systemic failures after 0.2 s here instead of 30 s.
os.environ.setdefault("IC3_STEP_RETRY_DELAY_S", "0.2")
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ic3_pipeline.sandbox.register_generator import write_sample_register
from ic3_pipeline.warehouse import ensure_schema, make_engine, normalize_database_url

POSTGRES_URL_ENV = "IC3_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    return normalize_database_url(os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL)


_postgres_unavailable: str | None | bool = False  # False: not probed yet; None: available; str: why not


def postgres_unavailable_reason() -> str | None:
    """None when the PostgreSQL test server answers; otherwise why not (probed once per session)."""
    global _postgres_unavailable
    if _postgres_unavailable is False:
        url = postgres_base_url()
        try:
            engine = create_engine(url, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _postgres_unavailable = None
        except Exception as error:  # any failure to connect means: skip, and say why
            shown = make_url(url).render_as_string(hide_password=True)
            _postgres_unavailable = f"no PostgreSQL server answers at {shown} (set {POSTGRES_URL_ENV}): {error}".splitlines()[0]
    return _postgres_unavailable


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL on the real PostgreSQL server whose connections see only a fresh schema, dropped afterwards."""
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    schema = f"ic3_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_base_url())
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path: Path) -> str:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ic3.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url: str):
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sample_register(tmp_path_factory) -> Path:
    """A small realistic register: 120 assets over 8 sites."""
    return write_sample_register(tmp_path_factory.mktemp("registers") / "register.xlsx", assets=120, sites=8, seed=7)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch) -> Path:
    """An empty DAGSTER_HOME (the CLI fills it with the project's dagster.yaml)."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
