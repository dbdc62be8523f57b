"""Header matching: case-, space- and separator-insensitive, with documented aliases."""

import pytest

from ic3_pipeline.register.columns import REGISTER_COLUMNS, match_headers, normalize_header
from ic3_pipeline.register.validation import validate
from ic3_pipeline.register.workbook import open_register
from ic3_pipeline_tests.registers import write_register


@pytest.mark.parametrize(
    "header, column",
    [
        ("Asset ID", "cmms_asset_id"),
        ("  asset   id ", "cmms_asset_id"),
        ("ASSET_ID", "cmms_asset_id"),
        ("cmms_asset_id", "cmms_asset_id"),
        ("Serial Number", "cmms_asset_id"),
        ("serialnumber", "cmms_asset_id"),
        ("Equipment Name", "asset_name"),
        ("Location Name", "site_name"),
        ("site-name", "site_name"),
        ("Client", "customer_name"),
        ("Make", "manufacturer_name"),
        ("Lat", "latitude"),
        ("lng", "longitude"),
        ("AMC No", "amc_id"),
        ("Report Seq No", "report_sequence_no"),
    ],
)
def test_aliases_map_to_columns(header, column):
    match = match_headers([header])
    assert [c.name for c in match.columns.values()] == [column]


def test_every_column_accepts_its_own_header_and_name():
    for column in REGISTER_COLUMNS:
        assert match_headers([column.header]).columns[0] is column
        assert match_headers([column.name.upper()]).columns[0] is column


def test_unknown_headers_are_ignored_and_reported():
    match = match_headers(["Asset ID", "Colour", None, "  "])
    assert match.ignored == ["Colour"]
    assert list(match.columns) == [0]


def test_normalize_header():
    assert normalize_header("  Asset__ID\t") == "asset id"
    assert normalize_header(None) == ""


def test_a_register_with_alias_headers_imports(tmp_path):
    header = ["serial number", " EQUIPMENT NAME ", "location", "client name", "Colour"]
    path = write_register(tmp_path / "r.xlsx", [["P-1", "Pump", "Site A", "DJB", "red"]], header=header)
    validated = validate(open_register(path))
    (record,) = list(validated.records())
    assert record["cmms_asset_id"] == "P-1" and record["site_name"] == "Site A" and record["customer_name"] == "DJB"
    assert validated.sheet.match.ignored == ["Colour"]


def test_header_below_a_title_row_is_found(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Assets"
    sheet.append(["Asset register — exported 2026-10-01"])
    sheet.append([])
    sheet.append(["Asset ID", "Asset Name", "Site", "Customer"])
    sheet.append(["P-1", "Pump", "Site A", "DJB"])
    workbook.save(tmp_path / "r.xlsx")
    validated = validate(open_register(tmp_path / "r.xlsx"))
    assert validated.sheet.header_row == 3 and validated.rows == 1
