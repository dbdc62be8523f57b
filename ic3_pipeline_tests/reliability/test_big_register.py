"""A 300,000-row register: five bad cells far apart are each named, and the refused file writes nothing.

The register is written once per session with openpyxl (``write_sample_register``: about 90 s here). The bad copy is
the same workbook with five cells rewritten in its sheet XML, which takes seconds where writing 300,000 rows again
would take another 90 s; the importer reads both through the same Excel reader (calamine) as any user's file.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import Engine, func, select

from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.problems import RegisterRejected
from ic3_pipeline.sandbox.register_generator import write_sample_register
from ic3_pipeline.warehouse import ensure_schema, make_engine, tables

ROWS = 300_000
SITES = 600
SHEET_XML = "xl/worksheets/sheet1.xml"
LAST_ROW = ROWS + 1  # row 1 is the header

# cell -> what is written there (None: the cell is removed, i.e. left blank)
BAD_CELLS: dict[str, str | float | None] = {
    "A2": None,  # the first asset has no id
    "M150000": "31/02/2024",  # no 31 February
    "A100000": "DUP-0001",
    "Q200000": 12.5,  # a report sequence number must be whole
    "A299990": "DUP-0001",  # the id of row 100,000 again
    f"J{LAST_ROW}": 123.4,  # the very last row: a latitude out of range
}
EXPECTED_PROBLEMS = [
    "sheet 'Assets', row 2, column A 'Asset ID': is empty; every asset needs one",
    "sheet 'Assets', row 150000, column M 'Installation Date': '31/02/2024' is not a date (use YYYY-MM-DD or DD/MM/YYYY)",
    "sheet 'Assets', row 200000, column Q 'Report Sequence No': 12.5 is not a whole number",
    "sheet 'Assets', row 299990, column A 'Asset ID': asset id 'DUP-0001' is already used in row 100000",
    f"sheet 'Assets', row {LAST_ROW}, column J 'Latitude': 123.4 is out of range (-90 to 90)",
]
REGISTER_TABLES = (
    tables.asset_master,
    tables.customer_master,
    tables.location_master,
    tables.category_master,
    tables.group_master,
    tables.manufacturer_master,
)


@dataclass(frozen=True)
class BigRegisters:
    good: Path
    bad: Path


@pytest.fixture(scope="session")
def big_registers(tmp_path_factory) -> BigRegisters:
    folder = tmp_path_factory.mktemp("big_register")
    good = write_sample_register(folder / "register_300k.xlsx", assets=ROWS, sites=SITES, seed=11)
    return BigRegisters(good=good, bad=rewrite_cells(good, folder / "register_300k_bad.xlsx", BAD_CELLS))


def rewrite_cells(source: Path, target: Path, cells: Mapping[str, str | float | None]) -> Path:
    """Copy the workbook ``source`` to ``target`` with the given cells of its sheet replaced (text, number, or blank).

    An .xlsx is a zip of XML parts; each cell is one ``<c r="A2" …>…</c>`` element of the sheet part, so a cell is
    rewritten by replacing that element. Each must be found exactly once, or the file's layout is not what we think.
    """
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == SHEET_XML:
                data = _replace_cells(data, cells)
            copy.writestr(item, data, compresslevel=1)
    return target


def _replace_cells(xml: bytes, cells: Mapping[str, str | float | None]) -> bytes:
    for ref, value in cells.items():
        element = re.compile(rb'<c r="' + ref.encode() + rb'"(?:[^>]*/>|[^>]*>.*?</c>)')
        xml, found = element.subn(_cell_xml(ref, value), xml, count=2)
        assert found == 1, f"cell {ref} found {found} times in {SHEET_XML}"
    return xml


def _cell_xml(ref: str, value: str | float | None) -> bytes:
    if value is None:
        return b""
    if isinstance(value, float | int):
        return f'<c r="{ref}" t="n"><v>{value}</v></c>'.encode()
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'.encode()


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in REGISTER_TABLES}


@pytest.mark.slow
def test_a_bad_300k_register_is_refused_whole(db_url, big_registers):
    """Every problem is found, wherever it sits in the file, each named by sheet, row and column; nothing is written."""
    engine = make_engine(db_url)
    ensure_schema(engine)
    with pytest.raises(RegisterRejected) as refused:
        import_register(engine, big_registers.bad)
    error = refused.value
    assert [str(problem) for problem in error.problems] == EXPECTED_PROBLEMS
    assert error.total == len(EXPECTED_PROBLEMS)
    assert str(error).splitlines()[0] == "Register register_300k_bad.xlsx refused, nothing was imported: 5 problems"
    assert row_counts(engine) == {t.name: 0 for t in REGISTER_TABLES}
    engine.dispose()


@pytest.mark.slow
def test_the_good_300k_register_imports_completely(tmp_path, big_registers):
    """The same file without the bad cells: every row lands. SQLite only (45 s): on PostgreSQL the same write takes 90 s
    on an idle 2-core machine, past this case's budget; the refusal above runs on both."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ic3.sqlite'}")
    ensure_schema(engine)
    summary, _ = import_register(engine, big_registers.good)
    assert (summary.rows_read, summary.inserted, summary.updated, summary.blank_rows) == (ROWS, ROWS, 0, 0)
    asset = tables.asset_master
    with engine.connect() as conn:
        rows, ids = conn.execute(select(func.count(), func.count(func.distinct(asset.c.cmms_asset_id)))).one()
        unplaced = conn.execute(select(func.count()).where(asset.c.location_id.is_(None))).scalar_one()
    assert rows == ids == ROWS
    assert unplaced == 0
    assert row_counts(engine)["ic3_location_master"] == summary.sites == SITES
    engine.dispose()
