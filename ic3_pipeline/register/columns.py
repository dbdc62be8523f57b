"""The register's columns: where each goes in ``ic3_asset_master``, the headers users write for it, and its type.

Headers are matched after normalisation (case, surrounding spaces, ``_``/``-`` and repeated spaces do not matter), so
``Asset ID``, `` asset_id `` and ``ASSET-ID`` are one column. Add an alias here and the README's table in one change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "int", "float", "date"]


@dataclass(frozen=True)
class RegisterColumn:
    name: str  # column of ic3_asset_master
    header: str  # the header the sample register writes
    kind: Kind = "text"
    required: bool = False
    aliases: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None  # inclusive range for numbers
    max_length: int | None = None

    def accepted_headers(self) -> set[str]:
        return {normalize_header(h) for h in (self.header, self.name, *self.aliases)}


REGISTER_COLUMNS: tuple[RegisterColumn, ...] = (
    RegisterColumn(
        "cmms_asset_id",
        "Asset ID",
        required=True,
        aliases=("CMMS Asset ID", "Asset Code", "Serial Number", "Serial No", "serialnumber", "Asset Tag"),
        max_length=255,
    ),
    RegisterColumn("asset_name", "Asset Name", required=True, aliases=("Equipment Name", "Equipment", "Name")),
    RegisterColumn(
        "site_name", "Site", required=True, aliases=("Site Name", "Location", "Location Name"), max_length=255
    ),
    RegisterColumn("customer_name", "Customer", required=True, aliases=("Customer Name", "Client", "Client Name"), max_length=255),
    RegisterColumn("category_name", "Category", aliases=("Asset Category", "Equipment Category"), max_length=255),
    RegisterColumn("group_name", "Group", aliases=("Asset Group", "Group Name"), max_length=255),
    RegisterColumn("manufacturer_name", "Manufacturer", aliases=("Make", "OEM", "Brand"), max_length=255),
    RegisterColumn("model", "Model", aliases=("Model No", "Model Number", "Model Name")),
    RegisterColumn("criticality", "Criticality", aliases=("Criticality Level", "Priority"), max_length=64),
    RegisterColumn("latitude", "Latitude", kind="float", aliases=("Lat",), bounds=(-90.0, 90.0)),
    RegisterColumn("longitude", "Longitude", kind="float", aliases=("Lon", "Lng", "Long"), bounds=(-180.0, 180.0)),
    RegisterColumn("address", "Address", aliases=("Site Address", "Full Address")),
    RegisterColumn("installation_date", "Installation Date", kind="date", aliases=("Installed On", "Date of Installation")),
    RegisterColumn("amc_id", "AMC ID", aliases=("AMC No", "AMC Number", "AMC", "Contract ID"), max_length=128),
    RegisterColumn("contract_start_date", "Contract Start Date", kind="date", aliases=("AMC Start Date", "Contract Start")),
    RegisterColumn("contract_end_date", "Contract End Date", kind="date", aliases=("AMC End Date", "Contract End")),
    RegisterColumn(
        "report_sequence_no",
        "Report Sequence No",
        kind="int",
        aliases=("Report Seq No", "Report Sequence Number", "Report Sequence"),
        bounds=(0, 2**31 - 1),
    ),
)

REQUIRED_COLUMNS = tuple(column for column in REGISTER_COLUMNS if column.required)

# Criticality values are stored in this spelling whatever case the register uses; anything else refuses the file at
# import (naming sheet, row and column). The criticality check still watches the column for values that did not come
# through this import (a release before this one, a CMMS sync that writes it, a hand edit).
ALLOWED_CRITICALITY = ("Critical", "High", "Medium", "Low")

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalize_header(text: object) -> str:
    """``'  Asset_ID '`` → ``'asset id'``: the form in which headers are compared."""
    return _SEPARATORS.sub(" ", str(text if text is not None else "")).strip().casefold()


@dataclass
class HeaderMatch:
    """Which register column each sheet column feeds, and what was left over."""

    columns: dict[int, RegisterColumn] = field(default_factory=dict)  # sheet column index -> register column
    ignored: list[str] = field(default_factory=list)  # headers we do not import
    duplicates: list[tuple[int, int, RegisterColumn]] = field(default_factory=list)  # two sheet columns, one meaning

    @property
    def missing_required(self) -> list[RegisterColumn]:
        present = {column.name for column in self.columns.values()}
        return [column for column in REQUIRED_COLUMNS if column.name not in present]


_LOOKUP = {alias: column for column in REGISTER_COLUMNS for alias in column.accepted_headers()}


def match_headers(cells: list[object]) -> HeaderMatch:
    """Map a header row's cells to register columns."""
    match = HeaderMatch()
    seen: dict[str, int] = {}
    for index, cell in enumerate(cells):
        normalized = normalize_header(cell)
        if not normalized:
            continue
        column = _LOOKUP.get(normalized)
        if column is None:
            match.ignored.append(str(cell).strip())
        elif column.name in seen:
            match.duplicates.append((seen[column.name], index, column))
        else:
            seen[column.name] = index
            match.columns[index] = column
    return match


def looks_like_header(cells: list[object]) -> bool:
    """A row is the header row when it names the asset id column."""
    return any(_LOOKUP.get(normalize_header(cell)) is REGISTER_COLUMNS[0] for cell in cells)
