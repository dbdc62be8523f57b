"""Whether the write-back sends anything: dry-run (record and log what would be created) unless told otherwise.

Raising a work order in a production CMMS is an action people act on, so it is never the default: ``IC3_WRITE_BACK``
must say ``live`` (read when the write-back runs). ``dry_run`` (or unset) records and logs; anything else is refused
with a message rather than guessed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

MODE_ENV = "IC3_WRITE_BACK"
MODES = ("dry_run", "live")


class BadWriteBackMode(ValueError):
    """``IC3_WRITE_BACK`` holds something other than ``dry_run`` or ``live``."""


def live_from_env(env: Mapping[str, str] | None = None) -> bool:
    """True only when ``IC3_WRITE_BACK`` is ``live`` (any case, spaces ignored)."""
    env = os.environ if env is None else env
    raw = (env.get(MODE_ENV) or "").strip().lower().replace("-", "_")
    if raw in ("", "dry_run", "dryrun"):
        return False
    if raw == "live":
        return True
    raise BadWriteBackMode(f"{MODE_ENV}={env.get(MODE_ENV)!r}: expected 'dry_run' (the default) or 'live'")
