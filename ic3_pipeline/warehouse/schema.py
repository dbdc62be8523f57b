"""Bringing the target database to the schema this release writes, with Alembic (``warehouse/migrations``).

Every database upgrades in place: an empty one is built by the same revisions as an old one, and a database written
before Alembic (no ``alembic_version``) starts at the baseline revision, which reaches that release's schema without
touching its rows. A process upgrades a database once, the first time it opens it (``connected_engine``), not on every
resource call, check or sensor tick; ``ic3 db upgrade`` does it on demand and ``ic3 db current`` says where it stands.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions (a test holds the two equal). Knowing it without Alembic lets a process
# that finds its database up to date — nearly always — skip importing Alembic, a third of `ic3 status`'s start-up.
HEAD_REVISION = "0007_alert_work_orders"
# Two processes opening one PostgreSQL database at once (a code server and `ic3`) take turns on this lock.
_ADVISORY_LOCK_ID = 7_261_003_001

_upgraded: set[str] = set()
_upgraded_lock = threading.Lock()


class UnknownRevision(RuntimeError):
    """The database is at a revision this release does not know: a newer release wrote it."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the database's revision (None: not under Alembic yet, or empty)
    head: str  # the revision this release writes

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def known(self) -> bool:
        """False when a newer release wrote the database (its revision is not among this release's)."""
        return is_known_revision(self.current)


def alembic_config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    return _scripts().get_current_head()


def schema_state(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        return SchemaState(current_revision(conn), head_revision())


def current_revision(conn: Connection) -> str | None:
    """The database's revision, read from ``alembic_version`` (None: not under Alembic yet, or empty)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade_schema(engine: Engine) -> list[str]:
    """Apply the revisions the database lacks; return their ids (empty when it was up to date)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        before = current_revision(conn)
        if before == head_revision():
            return []
        _check_known(before)
        from alembic import command

        command.upgrade(alembic_config(conn), "head")
        after = current_revision(conn)
    applied = _revisions_between(before, after)
    log.info("schema upgraded from %s to %s (%s)", before or "no revision", after, ", ".join(applied))
    return applied


def ensure_schema(engine: Engine) -> list[str]:
    """Upgrade ``engine``'s database unless this process already did; return the revisions applied."""
    key = engine.url.render_as_string(hide_password=False)
    with _upgraded_lock:
        if key in _upgraded:
            return []
        with engine.connect() as conn:
            up_to_date = current_revision(conn) == HEAD_REVISION
        applied = [] if up_to_date else upgrade_schema(engine)
        _upgraded.add(key)
        return applied


def is_known_revision(revision: str | None) -> bool:
    from alembic.util.exc import CommandError

    if revision is None:
        return True
    try:
        _scripts().get_revision(revision)
    except CommandError:
        return False
    return True


def _check_known(revision: str | None) -> None:
    if not is_known_revision(revision):
        raise UnknownRevision(
            f"The database is at schema revision {revision!r}, which this release does not know (it is at "
            f"{head_revision()!r}): a newer release of ic3_pipeline wrote it. Upgrade ic3_pipeline; nothing was changed."
        ) from None


def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def _revisions_between(before: str | None, after: str | None) -> list[str]:
    script = _scripts()
    revisions = [rev.revision for rev in script.iterate_revisions(after, before)] if after else []
    return list(reversed(revisions))
