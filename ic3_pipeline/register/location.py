"""Which register file an import reads: the one named in run config, else the newest ``.xlsx`` in the drop folder."""

from __future__ import annotations

import os
from pathlib import Path

REGISTER_DIR_ENV = "IC3_REGISTER_DIR"


class RegisterNotFound(FileNotFoundError):
    """No file to import; the message says where we looked."""


def register_dir() -> Path | None:
    value = os.environ.get(REGISTER_DIR_ENV)
    return Path(value) if value else None


def is_register_file(path: Path) -> bool:
    """A workbook to import: not Excel's ``~$`` lock file of an open workbook."""
    return path.is_file() and not path.name.startswith("~$")


def newest_register(directory: Path) -> Path | None:
    """The most recently modified ``.xlsx`` in ``directory`` (Excel's ``~$`` lock files ignored)."""
    candidates = [p for p in directory.glob("*.xlsx") if is_register_file(p)]
    return max(candidates, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def resolve_register_path(configured: str | None) -> Path:
    if configured:
        return Path(configured).expanduser()
    directory = register_dir()
    if directory is None:
        raise RegisterNotFound(
            f"No register file given: set `path` in the asset's run config or put .xlsx files in the folder named by {REGISTER_DIR_ENV}."
        )
    if not directory.is_dir():
        raise RegisterNotFound(f"{REGISTER_DIR_ENV} is {directory}, which is not a folder.")
    newest = newest_register(directory)
    if newest is None:
        raise RegisterNotFound(f"No .xlsx file in {directory} ({REGISTER_DIR_ENV}).")
    return newest
