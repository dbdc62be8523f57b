"""The validation pass: read every row once, type every cell, and collect every problem before anything is written.

It keeps only what later steps need (the ids seen, the distinct master names), so its memory does not grow with the
width of the register; the loader reads the sheet a second time to write.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ic3_pipeline.register.cells import CellError, convert, is_blank
from ic3_pipeline.register.columns import REGISTER_COLUMNS
from ic3_pipeline.register.problems import RegisterProblem, RegisterRejected
from ic3_pipeline.register.workbook import RegisterSheet

MASTER_NAME_COLUMNS = ("customer_name", "site_name", "category_name", "group_name", "manufacturer_name")


@dataclass
class ValidatedRegister:
    """A register that passed validation, and what the loader needs to know about it up front."""

    sheet: RegisterSheet
    rows: int = 0
    blank_rows: int = 0
    ids: set[str] = field(default_factory=set)
    master_names: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in MASTER_NAME_COLUMNS})
    site_customer: dict[str, str] = field(default_factory=dict)  # first customer named for each site

    def records(self) -> Iterator[dict[str, object]]:
        """The typed rows (blank rows skipped), read afresh from the sheet."""
        for _row_number, cells in self.sheet.data_rows():
            record = _typed_record(self.sheet, cells, problems=None)
            if record is not None:
                yield record


def validate(sheet: RegisterSheet) -> ValidatedRegister:
    """Check every row; raise :class:`RegisterRejected` listing the problems (with their count) if any."""
    result = ValidatedRegister(sheet)
    problems: list[RegisterProblem] = []
    first_row_of: dict[str, int] = {}
    for row_number, cells in sheet.data_rows():
        row_problems: list[tuple[str, str]] = []
        record = _typed_record(sheet, cells, problems=row_problems)
        if record is None:
            result.blank_rows += 1
            continue
        result.rows += 1
        problems += [RegisterProblem(sheet.sheet_name, row_number, column, message) for column, message in row_problems]
        if row_problems:
            continue
        asset_id = record["cmms_asset_id"]
        if asset_id in first_row_of:
            problems.append(
                RegisterProblem(
                    sheet.sheet_name,
                    row_number,
                    _label(sheet, "cmms_asset_id"),
                    f"asset id {asset_id!r} is already used in row {first_row_of[asset_id]}",
                )
            )
            continue
        first_row_of[asset_id] = row_number
        _collect_names(result, record)
    if result.rows == 0 and not problems:
        problems.append(RegisterProblem(sheet.sheet_name, sheet.header_row, None, "the register has no asset rows"))
    if problems:
        raise RegisterRejected(sheet.path, problems)
    result.ids = set(first_row_of)
    return result


def _typed_record(
    sheet: RegisterSheet, cells: list[object], problems: list[tuple[str, str]] | None
) -> dict[str, object] | None:
    """The row as {column: typed value}; ``None`` for a blank row. Problems go to ``problems`` when given."""
    if all(is_blank(cell) for cell in cells):
        return None
    record: dict[str, object] = {column.name: None for column in REGISTER_COLUMNS}
    for index, column in sheet.match.columns.items():
        value = cells[index] if index < len(cells) else None
        try:
            record[column.name] = convert(column, value)
        except CellError as error:
            if problems is None:
                raise
            problems.append((sheet.column_label(index), str(error)))
    if problems is not None:
        for column_name in ("cmms_asset_id", "asset_name", "site_name", "customer_name"):
            if record[column_name] is None and not any(label == _label(sheet, column_name) for label, _ in problems):
                problems.append((_label(sheet, column_name), "is empty; every asset needs one"))
        start, end = record["contract_start_date"], record["contract_end_date"]
        if start and end and end < start:
            problems.append((_label(sheet, "contract_end_date"), f"contract ends ({end}) before it starts ({start})"))
    return record


def _label(sheet: RegisterSheet, column_name: str) -> str:
    index = next(i for i, column in sheet.match.columns.items() if column.name == column_name)
    return sheet.column_label(index)


def _collect_names(result: ValidatedRegister, record: dict[str, object]) -> None:
    for column_name in MASTER_NAME_COLUMNS:
        if record[column_name] is not None:
            result.master_names[column_name].add(record[column_name])
    result.site_customer.setdefault(record["site_name"], record["customer_name"])
