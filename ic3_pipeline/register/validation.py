"""The validation pass: read every row once, type every cell, and collect every problem before anything is written.

The sheet is typed in chunks of rows, a column at a time (``columnar``): a 300,000-row register is 5 million cells,
and a function call per cell was most of an import's time. Problems are still listed row by row, each row's in the
order of the sheet's columns, then its empty required cells, then its contract dates, then a duplicate id — exactly as
when each row was checked on its own.

The typed chunks of a file that passes are kept, and the loader writes them: the sheet is read and typed once. They
fit in memory calamine has already taken: decoding a 300,000-row sheet peaks about 190 MB above what the decoded
cells then keep, and the typed columns hold each repeated value (site, customer, model, criticality, dates…) once.
The sheet's decoded cells are released once validation is done. A refused file keeps nothing but its problems.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ic3_pipeline.register.cells import is_blank
from ic3_pipeline.register.columnar import convert_column
from ic3_pipeline.register.columns import REGISTER_COLUMNS
from ic3_pipeline.register.problems import RegisterProblem, RegisterRejected
from ic3_pipeline.register.workbook import RegisterSheet

MASTER_NAME_COLUMNS = ("customer_name", "site_name", "category_name", "group_name", "manufacturer_name")
REQUIRED_CELLS = ("cmms_asset_id", "asset_name", "site_name", "customer_name")
# Text columns whose values repeat across rows: each distinct cell text is typed once (``columnar``'s ``known``).
REPEATED_TEXT_COLUMNS = (*MASTER_NAME_COLUMNS, "model", "criticality")
# Date columns whose equal values are made one object (numbers are not: 0.0 and -0.0 are equal, not the same value).
SHARED_DATE_COLUMNS = ("installation_date", "contract_start_date", "contract_end_date")
CHUNK_ROWS = 5000  # rows typed together: large enough to amortise, small enough that a chunk's cells stay a few MB


@dataclass
class TypedChunk:
    """Consecutive non-blank rows of a sheet, typed: ``columns[name][i]`` is row ``row_numbers[i]``'s value."""

    row_numbers: list[int]
    columns: dict[str, list[object]]

    def __len__(self) -> int:
        return len(self.row_numbers)

    def records(self) -> Iterator[dict[str, object]]:
        names = list(self.columns)
        for values in zip(*self.columns.values()):
            yield dict(zip(names, values))


@dataclass
class _CheckedChunk:
    chunk: TypedChunk
    blank_rows: int
    problems: dict[int, list[tuple[str, str]]]  # position in chunk -> (column label, message), in reporting order


@dataclass
class ValidatedRegister:
    """A register that passed validation, and what the loader needs to know about it up front."""

    sheet: RegisterSheet
    rows: int = 0
    blank_rows: int = 0
    ids: set[str] = field(default_factory=set)
    master_names: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in MASTER_NAME_COLUMNS})
    site_customer: dict[str, str] = field(default_factory=dict)  # first customer named for each site
    chunks: list[TypedChunk] = field(default_factory=list, repr=False)

    def typed_chunks(self) -> Iterator[TypedChunk]:
        """The typed rows (blank rows skipped) in chunks, as validation typed them."""
        yield from self.chunks

    def records(self) -> Iterator[dict[str, object]]:
        """The typed rows (blank rows skipped) as ``{column: value}``."""
        for chunk in self.typed_chunks():
            yield from chunk.records()


def validate(sheet: RegisterSheet) -> ValidatedRegister:
    """Check every row; raise :class:`RegisterRejected` listing the problems (with their count) if any.

    On success the register holds the typed rows and ``sheet``'s decoded cells are released (``sheet`` can no longer
    be read; its name, headers and matched columns stay).
    """
    result = ValidatedRegister(sheet)
    problems: list[RegisterProblem] = []
    first_row_of: dict[str, int] = {}
    id_label = _label(sheet, "cmms_asset_id")
    known: dict[str, dict[str, object]] = {name: {} for name in REPEATED_TEXT_COLUMNS}
    shared: dict[str, dict[object, object]] = {name: {} for name in SHARED_DATE_COLUMNS}
    for first_row, cells in sheet.data_chunks(CHUNK_ROWS):
        checked = _check_chunk(sheet, first_row, cells, known)
        del cells
        chunk = checked.chunk
        result.blank_rows += checked.blank_rows
        result.rows += len(chunk)
        for position, (row_number, asset_id) in enumerate(zip(chunk.row_numbers, chunk.columns["cmms_asset_id"])):
            row_problems = checked.problems.get(position)
            if row_problems:
                problems += [RegisterProblem(sheet.sheet_name, row_number, label, text) for label, text in row_problems]
            elif asset_id in first_row_of:
                message = f"asset id {asset_id!r} is already used in row {first_row_of[asset_id]}"
                problems.append(RegisterProblem(sheet.sheet_name, row_number, id_label, message))
            else:
                first_row_of[asset_id] = row_number
        if problems:  # once the file is refused, neither the rows nor the names are needed
            result.chunks.clear()
        else:
            _share_values(chunk, shared)
            _collect_names(result, chunk)
            result.chunks.append(chunk)
    if result.rows == 0 and not problems:
        problems.append(RegisterProblem(sheet.sheet_name, sheet.header_row, None, "the register has no asset rows"))
    if problems:
        raise RegisterRejected(sheet.path, problems)
    result.ids = set(first_row_of)
    sheet.release()
    return result


def _share_values(chunk: TypedChunk, shared: dict[str, dict[object, object]]) -> None:
    """Make equal dates one object: a register repeats its dates, and each cell arrived from calamine as an object of
    its own (repeated texts are shared as they are typed)."""
    for name, seen in shared.items():
        chunk.columns[name] = [seen.setdefault(value, value) for value in chunk.columns[name]]


def _check_chunk(
    sheet: RegisterSheet, first_row: int, cells: list[list[object]], known: dict[str, dict[str, object]]
) -> _CheckedChunk:
    """Type one chunk column by column and list each row's problems; ``known``: the typed texts of repeated columns."""
    row_numbers = list(range(first_row, first_row + len(cells)))
    width = max(map(len, cells))
    sheet_columns = list(zip(*(row if len(row) == width else row + [None] * (width - len(row)) for row in cells)))
    columns: dict[str, list[object]] = {column.name: [None] * len(cells) for column in REGISTER_COLUMNS}
    problems: dict[int, list[tuple[str, str]]] = {}
    for index, column in sheet.match.columns.items():
        typed, errors = convert_column(column, sheet_columns[index], known.get(column.name))
        columns[column.name] = typed
        for position, message in errors.items():
            problems.setdefault(position, []).append((sheet.column_label(index), message))
    blank = _blank_positions(sheet_columns, columns["cmms_asset_id"], problems)
    _required_and_contract_problems(sheet, columns, problems, blank)
    if blank:
        keep = [position for position in range(len(cells)) if position not in blank]
        row_numbers = [row_numbers[p] for p in keep]
        columns = {name: [values[p] for p in keep] for name, values in columns.items()}
        new_position = {old: new for new, old in enumerate(keep)}
        problems = {new_position[p]: found for p, found in problems.items()}
    return _CheckedChunk(TypedChunk(row_numbers, columns), len(blank), problems)


def _blank_positions(sheet_columns: list[tuple[object, ...]], ids: list[object], problems: dict) -> set[int]:
    """Rows whose every cell is blank. Such a row has a blank id, which few rows have: only those are looked at."""
    return {
        position
        for position, asset_id in enumerate(ids)
        if asset_id is None and position not in problems and all(is_blank(c[position]) for c in sheet_columns)
    }


def _required_and_contract_problems(
    sheet: RegisterSheet, columns: dict[str, list[object]], problems: dict[int, list[tuple[str, str]]], blank: set[int]
) -> None:
    """Empty required cells (unless that cell already has a problem), then contracts that end before they start."""
    for column_name in REQUIRED_CELLS:
        label = _label(sheet, column_name)
        for position, value in enumerate(columns[column_name]):
            if value is None and position not in blank and not _has_label(problems.get(position), label):
                problems.setdefault(position, []).append((label, "is empty; every asset needs one"))
    for position, (start, end) in enumerate(zip(columns["contract_start_date"], columns["contract_end_date"])):
        if start and end and end < start:  # both columns are then in the sheet
            label = _label(sheet, "contract_end_date")
            problems.setdefault(position, []).append((label, f"contract ends ({end}) before it starts ({start})"))


def _has_label(found: list[tuple[str, str]] | None, label: str) -> bool:
    return found is not None and any(existing == label for existing, _ in found)


def _label(sheet: RegisterSheet, column_name: str) -> str:
    index = next(i for i, column in sheet.match.columns.items() if column.name == column_name)
    return sheet.column_label(index)


def _collect_names(result: ValidatedRegister, chunk: TypedChunk) -> None:
    for column_name in MASTER_NAME_COLUMNS:
        names = result.master_names[column_name]
        names.update(chunk.columns[column_name])
        names.discard(None)
    site_customer = result.site_customer
    for site, customer in zip(chunk.columns["site_name"], chunk.columns["customer_name"]):
        if site not in site_customer:
            site_customer[site] = customer
