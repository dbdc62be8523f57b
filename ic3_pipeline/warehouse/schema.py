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

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
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
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_current_head()


def schema_state(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        return SchemaState(MigrationContext.configure(conn).get_current_revision(), head_revision())


def upgrade_schema(engine: Engine) -> list[str]:
    """Apply the revisions the database lacks; return their ids (empty when it was up to date)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        before = MigrationContext.configure(conn).get_current_revision()
        if before == head_revision():
            return []
        _check_known(before)
        command.upgrade(alembic_config(conn), "head")
        after = MigrationContext.configure(conn).get_current_revision()
    applied = _revisions_between(before, after)
    log.info("schema upgraded from %s to %s (%s)", before or "no revision", after, ", ".join(applied))
    return applied


def ensure_schema(engine: Engine) -> list[str]:
    """Upgrade ``engine``'s database unless this process already did; return the revisions applied."""
    key = engine.url.render_as_string(hide_password=False)
    with _upgraded_lock:
        if key in _upgraded:
            return []
        applied = upgrade_schema(engine)
        _upgraded.add(key)
        return applied


def is_known_revision(revision: str | None) -> bool:
    if revision is None:
        return True
    try:
        ScriptDirectory(str(MIGRATIONS)).get_revision(revision)
    except CommandError:
        return False
    return True


def _check_known(revision: str | None) -> None:
    if not is_known_revision(revision):
        raise UnknownRevision(
            f"The database is at schema revision {revision!r}, which this release does not know (it is at "
            f"{head_revision()!r}): a newer release of ic3_pipeline wrote it. Upgrade ic3_pipeline; nothing was changed."
        ) from None


def _revisions_between(before: str | None, after: str | None) -> list[str]:
    script = ScriptDirectory(str(MIGRATIONS))
    revisions = [rev.revision for rev in script.iterate_revisions(after, before)] if after else []
    return list(reversed(revisions))
