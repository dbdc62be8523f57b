"""The sources configured in ``defs/``, loaded the way Dagster loads them (templates resolved and validated)."""

from __future__ import annotations

import importlib
from pathlib import Path

from dagster.components.core.component_tree import ComponentTree

from ic3_pipeline.components.connection import CmmsConnection
from ic3_pipeline.components.source import SourceSpec

DEFS_MODULE = "ic3_pipeline.defs"


def configured_sources() -> list[SourceSpec]:
    """Every ``defs/<source>/defs.yaml`` connection, in source-name order."""
    defs_module = importlib.import_module(DEFS_MODULE)
    tree = ComponentTree.from_module(defs_module=defs_module, project_root=Path(defs_module.__file__).parents[2])
    return sorted((component.spec() for component in tree.get_all_components(of_type=CmmsConnection)),
                  key=lambda spec: spec.source)
