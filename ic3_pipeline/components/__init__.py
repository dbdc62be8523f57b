"""The CMMS connector components: a ``defs/<source>/defs.yaml`` becomes that source's Dagster definitions —
``CmmsConnection`` for an API answering one asset per call, ``CmmsCollections`` for one answering paged collections."""

from ic3_pipeline.components.collections import CmmsCollections
from ic3_pipeline.components.connection import CmmsConnection

__all__ = ["CmmsCollections", "CmmsConnection"]
