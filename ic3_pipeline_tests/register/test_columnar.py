"""Typing a column at a time gives exactly what typing each cell on its own gives: values, messages, hashes, order."""

from datetime import date, datetime

import pytest
from sqlalchemy import text

from ic3_pipeline.register import validation
from ic3_pipeline.register.cells import CellError, convert
from ic3_pipeline.register.columnar import convert_column
from ic3_pipeline.register.columns import REGISTER_COLUMNS
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.loader import register_hash, register_hashes
from ic3_pipeline.register.problems import RegisterRejected
from ic3_pipeline.register.validation import validate
from ic3_pipeline.register.workbook import open_register
from ic3_pipeline_tests.registers import HEADER, row, write_register

COLUMN = {column.name: column for column in REGISTER_COLUMNS}
ODD_CELLS = [
    "", "   ", None, "  P-1 ", "P\x01-2", "tab\there", "line\nbreak", "x" * 300, "é" * 255, 1001.0, 12.5, 7, True,
    "high", "HIGH", " Medium ", "Super", "28.5", "1,234.5", "north", float("nan"), float("inf"), -90.0, 90.0000001,
    123.4, 3.0, "4", "2021-03-04", "04/03/2021", "31/31/2024", "2024-02-30T10:00", 45000.0, 0.0, 2958466.0,
    date(2020, 5, 6), datetime(2020, 5, 6, 7, 8), False, "∞", "\x7f",
]


def one_by_one(column, values):
    typed, errors = [], {}
    for position, value in enumerate(values):
        try:
            typed.append(convert(column, value))
        except CellError as error:
            typed.append(None)
            errors[position] = str(error)
    return typed, errors


@pytest.mark.parametrize(
    "name", ["cmms_asset_id", "criticality", "asset_name", "latitude", "longitude", "installation_date", "report_sequence_no"]
)
def test_a_column_is_typed_as_its_cells_are(name):
    typed, errors = convert_column(COLUMN[name], ODD_CELLS)
    expected_typed, expected_errors = one_by_one(COLUMN[name], ODD_CELLS)
    assert errors == expected_errors
    assert [(type(v), v) for v in typed] == [(type(v), v) for v in expected_typed]
    assert errors or name == "asset_name"  # every column but free text refuses some of these cells


@pytest.mark.parametrize("name", ["site_name", "criticality", "model"])
def test_a_repeated_column_typed_once_per_text_is_typed_as_its_cells_are(name):
    """Texts remembered from earlier chunks (``known``) give the same values and messages as typing every cell, and
    equal cells share one typed object; numbers equal to a remembered text's value are not taken for it."""
    known: dict[str, object] = {}
    chunks = [ODD_CELLS, [*reversed(ODD_CELLS), "high", 1, 1.0, True, "True", "1"]]
    typed_chunks = []
    for values in chunks:
        typed, errors = convert_column(COLUMN[name], values, known)
        expected_typed, expected_errors = one_by_one(COLUMN[name], values)
        assert errors == expected_errors
        assert [(type(v), v) for v in typed] == [(type(v), v) for v in expected_typed]
        typed_chunks.append(typed)
    assert known  # the second chunk was typed partly from what the first taught
    first, second = typed_chunks
    assert second[ODD_CELLS[::-1].index("  P-1 ")] is first[ODD_CELLS.index("  P-1 ")]


def test_a_column_that_does_not_repeat_is_typed_cell_by_cell_past_the_limit(monkeypatch):
    from ic3_pipeline.register import columnar

    monkeypatch.setattr(columnar, "KNOWN_LIMIT", 3)
    known: dict[str, object] = {}
    values = [f" M-{i} " for i in range(10)] + ["x" * 300]
    typed, errors = convert_column(COLUMN["cmms_asset_id"], values, known)
    assert (typed, errors) == one_by_one(COLUMN["cmms_asset_id"], values) and not known


def test_hashes_of_columns_are_the_hashes_of_rows():
    records = [
        {c.name: None for c in REGISTER_COLUMNS} | {"cmms_asset_id": "P-1", "asset_name": "Zürich №5 \"pump\""},
        {c.name: None for c in REGISTER_COLUMNS}
        | {"cmms_asset_id": "P-2", "latitude": 28.61, "report_sequence_no": 3, "installation_date": date(2021, 3, 4),
           "contract_end_date": date(2021, 3, 4), "address": "a\\b\tc"},
    ]
    columns = {c.name: [record[c.name] for record in records] for c in REGISTER_COLUMNS}
    assert register_hashes(columns) == [register_hash(record) for record in records]


def test_hashes_of_columns_keep_every_value_text_of_the_row_encoder():
    """Numbers, dates and text whose JSON text is easy to get wrong, each value in several rows (values met before
    are encoded once): the column-wise hash hashes exactly the text of the row-wise one, so a re-import after this
    change still finds every unchanged row unchanged."""
    odd_text = ["Zürich", 'q"uote', "back\\slash", "tab\tnew\nline", "\u2028sep", "emoji \U0001f527", "", "\x7fdel"]
    odd_float = [0.0, -0.0, 1e-7, 12.5, -90.0, 1e16, 123456789.123456789, 2.5e-300]
    odd_int = [0, 7, 2**31 - 1, 10**20]
    odd_date = [date(2021, 3, 4), date(1, 1, 1), date(9999, 12, 31)]
    records = []
    for i in range(24):
        record = {c.name: None for c in REGISTER_COLUMNS} | {"cmms_asset_id": f"P-{i}"}
        record["asset_name"] = odd_text[i % len(odd_text)]
        record["latitude"] = odd_float[i % len(odd_float)] if i % 5 else None
        record["longitude"] = odd_float[(i * 3) % len(odd_float)]
        record["report_sequence_no"] = odd_int[i % len(odd_int)]
        record["installation_date"] = odd_date[i % len(odd_date)] if i % 4 else None
        record["contract_end_date"] = odd_date[(i + 1) % len(odd_date)]
        records.append(record)
    columns = {c.name: [record[c.name] for record in records] for c in REGISTER_COLUMNS}
    assert register_hashes(columns) == [register_hash(record) for record in records]


def problems_of(path) -> list[str] | None:
    try:
        validate(open_register(path))
    except RegisterRejected as rejected:
        return [str(problem) for problem in rejected.problems] + [f"total {rejected.total}"]
    return None


def test_chunk_boundaries_change_nothing(tmp_path, monkeypatch):
    """Blank rows, bad cells and a duplicate id on either side of chunk boundaries: the same messages, same order."""
    rows = [row(f"P-{i}") for i in range(10)]
    rows[2] = [None] * len(HEADER)  # blank row: skipped, not reported
    rows[3] = row("P-3", Latitude="north", Customer="")
    rows[5] = row("P-1")  # duplicate of row 3
    rows[6] = row("", Longitude=999)
    rows[8] = row("P-8", **{"Installation Date": "31/31/2024"})
    path = write_register(tmp_path / "r.xlsx", rows)
    whole = problems_of(path)
    assert whole == [
        "sheet 'Assets', row 5, column F 'Latitude': 'north' is not a number",
        "sheet 'Assets', row 5, column D 'Customer': is empty; every asset needs one",
        "sheet 'Assets', row 7, column A 'Asset ID': asset id 'P-1' is already used in row 3",
        "sheet 'Assets', row 8, column G 'Longitude': 999 is out of range (-180 to 180)",
        "sheet 'Assets', row 8, column A 'Asset ID': is empty; every asset needs one",
        "sheet 'Assets', row 10, column H 'Installation Date': '31/31/2024' is not a date (use YYYY-MM-DD or DD/MM/YYYY)",
        "total 6",
    ]
    for size in (1, 2, 3, 4):
        monkeypatch.setattr(validation, "CHUNK_ROWS", size)
        assert problems_of(path) == whole, size


def test_records_and_counts_do_not_depend_on_chunks(tmp_path, monkeypatch):
    rows = [row(f"P-{i}", Latitude=str(i)) for i in range(7)]
    rows[3] = [None] * len(HEADER)
    path = write_register(tmp_path / "r.xlsx", rows)
    whole = validate(open_register(path))
    monkeypatch.setattr(validation, "CHUNK_ROWS", 2)
    chunked = validate(open_register(path))
    assert (chunked.rows, chunked.blank_rows, chunked.ids) == (whole.rows, whole.blank_rows, whole.ids) == (
        6, 1, {f"P-{i}" for i in range(7) if i != 3})
    assert list(chunked.records()) == list(whole.records())
    assert [r["latitude"] for r in whole.records()] == [0.0, 1.0, 2.0, 4.0, 5.0, 6.0]


def test_the_import_leaves_sqlite_page_cache_as_it_was(tmp_path):
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'ic3.sqlite'}")
    ensure_schema(engine)
    with engine.connect() as conn:  # the pool hands this one connection to the import, then back here
        before = conn.execute(text("PRAGMA cache_size")).scalar_one()
    import_register(engine, write_register(tmp_path / "r.xlsx", [row("P-1")]))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA cache_size")).scalar_one() == before
    assert engine.pool.checkedin() == 1  # one connection served all three
    engine.dispose()
