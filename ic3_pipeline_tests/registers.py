"""Writing hand-made registers (good and broken) with openpyxl, the way users' files arrive."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook

HEADER = ["Asset ID", "Asset Name", "Site", "Customer", "Criticality", "Latitude", "Longitude", "Installation Date"]


def row(asset_id: str, site: str = "Delhi Khyala", **overrides: object) -> list[object]:
    values = {
        "Asset ID": asset_id,
        "Asset Name": f"Pump {asset_id}",
        "Site": site,
        "Customer": "DJB Khyala",
        "Criticality": "High",
        "Latitude": 28.61,
        "Longitude": 77.21,
        "Installation Date": "2021-03-04",
    }
    values.update(overrides)
    return [values[h] for h in HEADER]


def write_register(
    path: Path, rows: Sequence[Sequence[object]], header: Sequence[object] = HEADER, sheet: str = "Assets"
) -> Path:
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    worksheet.append(list(header))
    for values in rows:
        worksheet.append(list(values))
    workbook.save(path)
    return path
