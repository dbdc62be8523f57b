"""The ``ic3`` command (``ic3_pipeline.cli:run``)."""

from ic3_pipeline.cli.app import main, run

__all__ = ["main", "run"]
