"""Markdown tables for Dagster metadata: what a person reads at a glance in the UI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

MAX_CELL = 200


def markdown_table(rows: Iterable[Mapping[str, object]], columns: Sequence[str], *, empty: str = "_none_") -> str:
    """A GitHub-style table of ``rows`` restricted to ``columns``; pipes and newlines in values are escaped."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join(lines) if len(lines) > 2 else empty


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "…"
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
