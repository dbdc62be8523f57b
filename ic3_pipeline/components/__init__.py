"""The CMMS connector component: a ``defs/<source>/defs.yaml`` becomes that source's Dagster definitions."""

from ic3_pipeline.components.connection import CmmsConnection

__all__ = ["CmmsConnection"]
