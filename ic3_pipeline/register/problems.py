"""What is wrong with a register, said so a person can find it in Excel and fix it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_REPORTED = 20


@dataclass(frozen=True)
class RegisterProblem:
    sheet: str | None
    row: int | None  # 1-based Excel row
    column: str | None  # e.g. "C 'Latitude'"
    message: str

    def __str__(self) -> str:
        where = [f"sheet '{self.sheet}'"] if self.sheet else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class RegisterRejected(Exception):
    """The register was refused before anything was written; carries every problem found (the first 20 are shown)."""

    def __init__(self, path: str | Path, problems: list[RegisterProblem], total: int | None = None):
        self.path = Path(path)
        self.problems = problems[:MAX_REPORTED]
        self.total = total if total is not None else len(problems)
        super().__init__(self.describe())

    def describe(self) -> str:
        count = f"{self.total} problem{'s' if self.total != 1 else ''}"
        shown = f" (first {len(self.problems)} shown)" if self.total > len(self.problems) else ""
        lines = [f"Register {self.path.name} refused, nothing was imported: {count}{shown}"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)
