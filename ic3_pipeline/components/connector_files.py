"""One connector's ``defs/<name>/defs.yaml``, loaded on its own the way Dagster loads it, for ``ic3 connector``.

``ic3 connector check NAME`` must judge exactly the file ``dg check defs`` would (templates resolved, the component's
models and checks, mistakes named by file, line and key), but only that file: a mistake in another source's YAML is
not this connector's problem, and loading the whole code location would build every source's assets for nothing. So
the file's folder is loaded as the root of a component tree of its own.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path

from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.components.connection import RESERVED_SOURCES, _SOURCE_NAME

DEFS_FILE = "defs.yaml"


def project_defs_dir() -> Path:
    """``ic3_pipeline/defs``: where the code location finds its sources (``dg check defs`` loads every folder)."""
    return Path(__file__).resolve().parents[1] / "defs"


class ConnectorFileError(Exception):
    """The connector's file is missing or wrong; the message is what the user sees (file, line and key)."""


@dataclass(frozen=True)
class LoadedConnector:
    path: Path
    spec: CollectionSourceSpec


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a source (its folder, tables and asset keys), or None."""
    if not _SOURCE_NAME.match(name):
        return (f"{name!r} is not a source name: lower-case letters, digits and _ only, starting with a letter, at "
                "most 48 characters (it prefixes the tables: <name>_<stream>)")
    if name in RESERVED_SOURCES:
        return f"{name!r} is reserved (not one of {', '.join(sorted(RESERVED_SOURCES))})"
    return None


def connector_file(name: str, defs_dir: Path | None = None) -> Path:
    return (defs_dir or project_defs_dir()) / name / DEFS_FILE


def available(defs_dir: Path | None = None) -> list[str]:
    """Folders of ``defs_dir`` whose ``defs.yaml`` declares a ``CmmsCollections`` source (a light text test)."""
    folder = defs_dir or project_defs_dir()
    names = []
    for path in sorted(folder.glob(f"*/{DEFS_FILE}")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if "CmmsCollections" in text:
            names.append(path.parent.name)
    return names


def load_connector(name: str, defs_dir: Path | None = None) -> LoadedConnector:
    """The source ``defs_dir/<name>/defs.yaml`` declares, resolved and validated exactly as Dagster does."""
    from dagster.components.core.component_tree import ComponentTree

    from ic3_pipeline.components.collections import CmmsCollections  # not at import: it scaffolds with this module

    problem = name_problem(name)
    if problem:
        raise ConnectorFileError(problem)
    path = connector_file(name, defs_dir)
    if not path.is_file():
        known = available(defs_dir)
        raise ConnectorFileError(f"No {path}. Connectors here: {', '.join(known) or 'none'} "
                                 f"(`ic3 connector new {name}` scaffolds one).")
    folder = path.parent
    # The folder as the root of its own tree: only this file is read. Dagster needs the root as a module object
    # only for its name and path (a YAML-only folder imports nothing).
    module = types.ModuleType(f"ic3_connector_{name}")
    module.__file__ = str(folder / "__init__.py")
    module.__path__ = [str(folder)]
    tree = ComponentTree.from_module(defs_module=module, project_root=folder)
    try:
        tree.load_root_component()
        found = tree.get_all_components(of_type=CmmsCollections)
    except Exception as error:  # Dagster wraps the component's error; the user needs the innermost located one
        raise ConnectorFileError(load_error_text(error)) from None
    if not found and "CmmsConnection" in path.read_text(encoding="utf-8"):
        raise ConnectorFileError(f"{path}: {name} is a CmmsConnection (one asset per call); "
                                 "`ic3 connector check` reads collection sources (CmmsCollections) only.")
    if len(found) != 1:
        raise ConnectorFileError(f"{path}: declares {len(found)} CmmsCollections components; `ic3 connector check` "
                                 "reads a file with exactly one (type: ic3_pipeline.components.CmmsCollections)")
    return LoadedConnector(path=path, spec=found[0].spec())


def load_error_text(error: BaseException) -> str:
    """What a failed load says to a person: the first message in the chain that is not Dagster's tree drawing (that
    one names the folder only), i.e. the one naming the file, line and key."""
    from dagster.components.core.component_tree import ComponentTreeException

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not isinstance(current, ComponentTreeException):
            return f"{type(current).__name__}: {current}" if not str(current) else str(current)
        current = current.__cause__ or current.__context__
    return str(error)
