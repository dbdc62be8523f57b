"""The sources configured in ``defs/``, loaded the way Dagster loads them (templates resolved and validated)."""

from __future__ import annotations

import importlib
from pathlib import Path

from dagster.components.core.component_tree import ComponentTree

from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.components.collections import CmmsCollections
from ic3_pipeline.components.connection import CmmsConnection
from ic3_pipeline.components.source import SourceSpec

DEFS_MODULE = "ic3_pipeline.defs"


def _tree() -> ComponentTree:
    defs_module = importlib.import_module(DEFS_MODULE)
    return ComponentTree.from_module(defs_module=defs_module, project_root=Path(defs_module.__file__).parents[2])


def configured_sources() -> list[SourceSpec]:
    """Every ``defs/<source>/defs.yaml`` connection answering one asset per call, in source-name order."""
    return configured()[0]


def configured() -> tuple[list[SourceSpec], list[CollectionSourceSpec]]:
    """(entity sources, collection sources), each in source-name order."""
    tree = _tree()
    entity = sorted((c.spec() for c in tree.get_all_components(of_type=CmmsConnection)), key=lambda s: s.source)
    collections = sorted((c.spec() for c in tree.get_all_components(of_type=CmmsCollections)), key=lambda s: s.source)
    return entity, collections
