"""Import a register file end to end (open, validate, load): the one call the asset, the CLI and benchmarks share."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from ic3_pipeline.register.loader import ImportSummary, load_register
from ic3_pipeline.register.validation import ValidatedRegister, validate
from ic3_pipeline.register.workbook import open_register


def import_register(engine: Engine, path: str | Path, *, sheet: str | None = None) -> tuple[ImportSummary, ValidatedRegister]:
    """Validate the whole file, then write it in one transaction. Raises ``RegisterRejected`` before any write."""
    validated = validate(open_register(path, sheet))
    return load_register(engine, validated, source_name=Path(path).name), validated
