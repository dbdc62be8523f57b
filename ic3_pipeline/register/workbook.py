"""Opening a register workbook and finding its header row, with errors a person can act on.

Reading uses calamine (Rust): it parses a 300,000-row sheet in seconds where openpyxl takes minutes. It decodes the
whole sheet into its own memory first (about 300 MB for 300,000 rows of 17 columns; python-calamine has no lazier
reader), then hands out rows as Python lists one at a time; validation reads them once, a chunk at a time, and keeps
the typed values, and then releases the decoded cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import python_calamine

from ic3_pipeline.register.columns import HeaderMatch, looks_like_header, match_headers
from ic3_pipeline.register.problems import RegisterProblem, RegisterRejected

HEADER_SEARCH_ROWS = 20
PREFERRED_SHEETS = ("assets", "asset register", "register")


@dataclass
class RegisterSheet:
    """One sheet of a register, positioned after its header row."""

    path: Path
    sheet_name: str
    header_row: int  # 1-based Excel row of the header
    headers: list[str]
    match: HeaderMatch
    _sheet: python_calamine.CalamineSheet | None
    _first_row: int  # 1-based Excel row of the sheet's first used row
    _first_col: int  # 0-based Excel column of the sheet's first used column

    def data_rows(self) -> Iterator[tuple[int, list[object]]]:
        """(Excel row number, cells) for every row below the header; each call reads the sheet afresh."""
        for offset, cells in enumerate(self._cells().iter_rows()):
            row_number = self._first_row + offset
            if row_number > self.header_row:
                yield row_number, cells

    def data_chunks(self, size: int) -> Iterator[tuple[int, list[list[object]]]]:
        """(Excel row number of the first, up to ``size`` rows of cells) for the rows below the header, read afresh.

        The same rows as :meth:`data_rows`, taken from calamine's iterator a chunk at a time with no work per row.
        """
        rows = self._cells().iter_rows()
        for _ in islice(rows, self.header_row - self._first_row + 1):
            pass
        first = self.header_row + 1
        while chunk := list(islice(rows, size)):
            yield first, chunk
            first += len(chunk)

    def release(self) -> None:
        """Drop calamine's decoded cells (about 280 MB at 300,000 rows); reading rows afterwards raises."""
        self._sheet = None

    def _cells(self) -> python_calamine.CalamineSheet:
        if self._sheet is None:
            raise RuntimeError(f"sheet '{self.sheet_name}' of {self.path.name} was released after validation")
        return self._sheet

    def column_label(self, index: int) -> str:
        """``C 'Latitude'``: the Excel column letter and the header as the user wrote it."""
        header = self.headers[index] if index < len(self.headers) else ""
        return f"{excel_column_letter(self._first_col + index)} '{header}'"


def open_register(path: str | Path, sheet: str | None = None) -> RegisterSheet:
    """Open ``path`` and locate the register's header; raise :class:`RegisterRejected` with a clear reason if unusable."""
    path = Path(path)
    if not path.is_file():
        raise RegisterRejected(path, [RegisterProblem(None, None, None, f"file not found: {path}")])
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises several unrelated types for zip, xml and format problems
        reason = "the file is empty" if path.stat().st_size == 0 else f"not a readable Excel workbook ({error})"
        raise RegisterRejected(path, [RegisterProblem(None, None, None, reason)]) from None
    sheet_name = _choose_sheet(path, workbook.sheet_names, sheet)
    calamine_sheet = workbook.get_sheet_by_name(sheet_name)
    first_row, first_col = (calamine_sheet.start or (0, 0))
    header_row, headers = _find_header(path, sheet_name, calamine_sheet, first_row + 1)
    match = match_headers(headers)
    register_sheet = RegisterSheet(
        path, sheet_name, header_row, [str(h).strip() for h in headers], match, calamine_sheet, first_row + 1, first_col
    )
    _check_header(register_sheet)
    return register_sheet


def _choose_sheet(path: Path, names: list[str], wanted: str | None) -> str:
    if not names:
        raise RegisterRejected(path, [RegisterProblem(None, None, None, "the workbook has no sheets")])
    if wanted is not None:
        if wanted in names:
            return wanted
        raise RegisterRejected(
            path, [RegisterProblem(wanted, None, None, f"no sheet named {wanted!r}; the workbook has {names}")]
        )
    by_folded = {name.strip().casefold(): name for name in names}
    return next((by_folded[p] for p in PREFERRED_SHEETS if p in by_folded), names[0])


def _find_header(path: Path, sheet_name: str, sheet, first_row: int) -> tuple[int, list[object]]:
    for offset, cells in enumerate(sheet.iter_rows()):
        if offset >= HEADER_SEARCH_ROWS:
            break
        if looks_like_header(cells):
            return first_row + offset, cells
    reason = (
        "no header row found in the first 20 rows: expected a column named 'Asset ID' "
        "(or an alias such as 'cmms_asset_id', 'Serial Number')"
    )
    if sheet.height == 0:
        reason = "the sheet is empty"
    raise RegisterRejected(path, [RegisterProblem(sheet_name, None, None, reason)])


def _check_header(sheet: RegisterSheet) -> None:
    problems = [
        RegisterProblem(
            sheet.sheet_name,
            sheet.header_row,
            None,
            f"required column '{column.header}' is missing (accepted headers: {', '.join((column.header, *column.aliases))})",
        )
        for column in sheet.match.missing_required
    ]
    problems += [
        RegisterProblem(
            sheet.sheet_name,
            sheet.header_row,
            sheet.column_label(second),
            f"duplicates column {sheet.column_label(first)}: both mean '{column.header}'",
        )
        for first, second, column in sheet.match.duplicates
    ]
    if problems:
        raise RegisterRejected(sheet.path, problems)


def excel_column_letter(index: int) -> str:
    """0 → ``A``, 27 → ``AB``."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
