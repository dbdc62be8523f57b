"""Each validation problem is found before any write and named by sheet, row and column."""

from datetime import date, datetime

import pytest

from ic3_pipeline.register.problems import RegisterRejected
from ic3_pipeline.register.validation import validate
from ic3_pipeline.register.workbook import open_register
from ic3_pipeline_tests.registers import HEADER, row, write_register


def rejected(path, sheet=None) -> RegisterRejected:
    with pytest.raises(RegisterRejected) as info:
        validate(open_register(path, sheet))
    return info.value


def messages(error: RegisterRejected) -> list[str]:
    return [str(problem) for problem in error.problems]


def test_missing_required_columns(tmp_path):
    path = write_register(tmp_path / "r.xlsx", [["P-1", "Pump"]], header=["Asset ID", "Asset Name"])
    error = rejected(path)
    assert messages(error) == [
        "sheet 'Assets', row 1: required column 'Site' is missing (accepted headers: Site, Site Name, Location, Location Name)",
        "sheet 'Assets', row 1: required column 'Customer' is missing (accepted headers: Customer, Customer Name, Client, Client Name)",
    ]
    assert "Register r.xlsx refused, nothing was imported: 2 problems" in str(error)


def test_two_headers_for_one_column(tmp_path):
    path = write_register(tmp_path / "r.xlsx", [row("P-1") + ["X"]], header=HEADER + ["Serial Number"])
    assert messages(rejected(path)) == [
        "sheet 'Assets', row 1, column I 'Serial Number': duplicates column A 'Asset ID': both mean 'Asset ID'"
    ]


def test_blank_and_duplicate_ids(tmp_path):
    path = write_register(tmp_path / "r.xlsx", [row("P-1"), row("   "), row("P-2"), row("P-1 ")])
    assert messages(rejected(path)) == [
        "sheet 'Assets', row 3, column A 'Asset ID': is empty; every asset needs one",
        "sheet 'Assets', row 5, column A 'Asset ID': asset id 'P-1' is already used in row 2",
    ]


def test_blank_site_and_customer(tmp_path):
    path = write_register(tmp_path / "r.xlsx", [row("P-1", site=None, Customer="")])
    assert messages(rejected(path)) == [
        "sheet 'Assets', row 2, column C 'Site': is empty; every asset needs one",
        "sheet 'Assets', row 2, column D 'Customer': is empty; every asset needs one",
    ]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"Latitude": 123.4}, "column F 'Latitude': 123.4 is out of range (-90 to 90)"),
        ({"Longitude": "east"}, "column G 'Longitude': 'east' is not a number"),
        ({"Installation Date": "31/31/2024"}, "column H 'Installation Date': '31/31/2024' is not a date (use YYYY-MM-DD or DD/MM/YYYY)"),
        ({"Criticality": "Super"}, "column E 'Criticality': 'Super' is not a criticality (Critical, High, Medium or Low, any case)"),
        ({"Criticality": "Very High"}, "column E 'Criticality': 'Very High' is not a criticality (Critical, High, Medium or Low, any case)"),
        ({"Criticality": " mEdIuM "}, None),
        ({"Asset Name": "x"}, None),
    ],
)
def test_cell_types(tmp_path, overrides, expected):
    path = write_register(tmp_path / "r.xlsx", [row("P-1", **overrides)])
    if expected is None:
        assert validate(open_register(path)).rows == 1
    else:
        assert messages(rejected(path)) == [f"sheet 'Assets', row 2, {expected}"]


def test_whole_numbers_and_contract_order(tmp_path):
    header = ["Asset ID", "Asset Name", "Site", "Customer", "Report Sequence No", "Contract Start Date", "Contract End Date"]
    rows = [
        ["P-1", "Pump", "S", "C", 3.5, "2024-01-01", "2025-01-01"],
        ["P-2", "Pump", "S", "C", 4, "2024-01-01", "2023-01-01"],
    ]
    assert messages(rejected(write_register(tmp_path / "r.xlsx", rows, header=header))) == [
        "sheet 'Assets', row 2, column E 'Report Sequence No': 3.5 is not a whole number",
        "sheet 'Assets', row 3, column G 'Contract End Date': contract ends (2023-01-01) before it starts (2024-01-01)",
    ]


def test_too_long_id(tmp_path):
    path = write_register(tmp_path / "r.xlsx", [row("P" * 300)])
    assert messages(rejected(path)) == ["sheet 'Assets', row 2, column A 'Asset ID': is 300 characters long; at most 255 fit"]


def test_only_the_first_20_problems_are_listed_with_the_total(tmp_path):
    path = write_register(tmp_path / "r.xlsx", [row(f"P-{i}", Latitude=99) for i in range(30)])
    error = rejected(path)
    assert error.total == 30 and len(error.problems) == 20
    assert "30 problems (first 20 shown)" in str(error)


def test_whole_file_is_checked_even_when_the_problem_is_last(tmp_path):
    rows = [row(f"P-{i}") for i in range(500)] + [row("P-last", Latitude="north")]
    assert messages(rejected(write_register(tmp_path / "r.xlsx", rows))) == [
        "sheet 'Assets', row 502, column F 'Latitude': 'north' is not a number"
    ]


def test_files_that_are_not_registers(tmp_path):
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    assert messages(rejected(empty)) == ["the file is empty"]
    text = tmp_path / "notes.xlsx"
    text.write_text("Asset ID,Site\nP-1,S\n")
    assert messages(rejected(text))[0].startswith("not a readable Excel workbook")
    assert messages(rejected(tmp_path / "absent.xlsx")) == [f"file not found: {tmp_path / 'absent.xlsx'}"]


def test_sheets_without_a_register(tmp_path):
    path = write_register(tmp_path / "r.xlsx", [["a", "b"]], header=["Name", "Value"], sheet="Notes")
    assert messages(rejected(path))[0].startswith("sheet 'Notes': no header row found in the first 20 rows")
    assert messages(rejected(path, sheet="Assets")) == ["sheet 'Assets': no sheet named 'Assets'; the workbook has ['Notes']"]
    only_header = write_register(tmp_path / "h.xlsx", [])
    assert messages(rejected(only_header)) == ["sheet 'Assets', row 1: the register has no asset rows"]


def test_blank_rows_skipped_values_trimmed_and_typed(tmp_path):
    rows = [
        row("  P-1  ", site=" Site A ", Criticality="high", Latitude="28.5", **{"Installation Date": "04/03/2021"}),
        [None] * len(HEADER),
        row(1001.0, **{"Installation Date": datetime(2020, 5, 6, 7, 8)}),
    ]
    validated = validate(open_register(write_register(tmp_path / "r.xlsx", rows)))
    first, second = validated.records()
    assert validated.rows == 2 and validated.blank_rows == 1
    assert first["cmms_asset_id"] == "P-1" and first["site_name"] == "Site A"
    assert first["criticality"] == "High" and first["latitude"] == 28.5
    assert first["installation_date"] == date(2021, 3, 4)
    assert second["cmms_asset_id"] == "1001" and second["installation_date"] == date(2020, 5, 6)


def test_prefers_the_assets_sheet(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.title = "Read me"
    workbook.active.append(["This workbook holds the register"])
    assets = workbook.create_sheet("ASSETS")
    assets.append(HEADER)
    assets.append(row("P-1"))
    workbook.save(tmp_path / "r.xlsx")
    assert validate(open_register(tmp_path / "r.xlsx")).sheet.sheet_name == "ASSETS"


def test_a_validated_register_keeps_its_typed_rows_and_releases_the_sheet(tmp_path):
    """The sheet is read once: the loader writes the rows validation typed, and calamine's cells are let go."""
    write_register(tmp_path / "r.xlsx", [row("P-1"), [None] * len(HEADER), row("P-2")])
    sheet = open_register(tmp_path / "r.xlsx")
    validated = validate(sheet)
    assert [r["cmms_asset_id"] for r in validated.records()] == ["P-1", "P-2"]
    assert [r["cmms_asset_id"] for r in validated.records()] == ["P-1", "P-2"]  # as often as asked
    assert (validated.rows, validated.blank_rows) == (2, 1)
    with pytest.raises(RuntimeError, match="released"):
        next(sheet.data_chunks(10))
