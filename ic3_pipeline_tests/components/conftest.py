"""Helpers for the component tests: a ``defs.yaml`` written into a Dagster components sandbox, and the error text a
user sees when one does not load."""

from __future__ import annotations

import textwrap
from pathlib import Path

from dagster.components.testing import DefsFolderSandbox

from ic3_pipeline.components import CmmsConnection

CONNECTION_TYPE = "ic3_pipeline.components.CmmsConnection"


def write_connection(sandbox: DefsFolderSandbox, folder: str, yaml_text: str) -> Path:
    """Scaffold a ``CmmsConnection`` at ``defs/<folder>`` the way ``dg scaffold defs`` does, then give its
    ``defs.yaml`` exactly ``yaml_text`` (written by hand, so the test knows each key's line number)."""
    defs_path = sandbox.scaffold_component(component_cls=CmmsConnection, defs_path=folder)
    (defs_path / "defs.yaml").write_text(textwrap.dedent(yaml_text).lstrip("\n"), encoding="utf-8")
    return defs_path


def user_text(error: BaseException) -> str:
    """What ``dg check defs`` / ``dagster dev`` print for a load error: the exception and each one it was raised from."""
    parts, seen = [], set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)
