"""Which sources can take a work order, by source name (``defs/<source>/defs.yaml``), and the module saying how.

A source not listed here (Innomaint, Fiix, SAP PM today) is skipped with a logged reason; adding one is a module
like ``writeback.upkeep`` and a line here.
"""

from __future__ import annotations

import importlib

from ic3_pipeline.writeback.requests import WorkOrderShape

SHAPES: dict[str, str] = {
    "maximo": "ic3_pipeline.writeback.maximo",
    "upkeep": "ic3_pipeline.writeback.upkeep",
}


def shape_for(source: str) -> WorkOrderShape | None:
    module = SHAPES.get(source)
    return None if module is None else importlib.import_module(module).shape
