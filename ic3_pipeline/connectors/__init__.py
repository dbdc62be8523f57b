"""What is one CMMS's own, by connector name. The engine and the component look a connector up here by the name a
``defs.yaml`` gives (``connector: innomaint``), so neither imports a CMMS."""

from __future__ import annotations

import importlib

from ic3_pipeline.sync.connector import EntityConnector
from ic3_pipeline.sync.streams import CollectionConnector

# connector name -> "module:attribute" of its connector object; imported only when a source uses it.
CONNECTORS: dict[str, str] = {
    "innomaint": "ic3_pipeline.connectors.innomaint.connector:connector",
    "maximo": "ic3_pipeline.connectors.maximo.connector:connector",
}


class UnknownConnector(LookupError):
    """A defs.yaml names a connector this release does not have."""


def get_connector(name: str) -> EntityConnector | CollectionConnector:
    try:
        module_name, attribute = CONNECTORS[name].split(":")
    except KeyError:
        raise UnknownConnector(f"unknown connector {name!r}; this release has: {', '.join(sorted(CONNECTORS))}") from None
    return getattr(importlib.import_module(module_name), attribute)
