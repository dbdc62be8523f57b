"""An asset-detail response, validated into the rows it contributes to each table.

The response shape is the one in ``shared/reference/innomaint-api.md``. Parsing is strict where a wrong value would
corrupt data (an id that is not a number, a response for another asset) and lenient where the API is known to be
sloppy (numbers as strings, missing optional keys, empty strings): every problem names the field it is in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ic3_pipeline.connectors.innomaint import values
from ic3_pipeline.connectors.innomaint.values import BadValue

PERIODS = ("upto", "last_year")


class MalformedResponse(ValueError):
    """The body is not a usable asset-detail response; the message names the field."""


class ApiFailure(ValueError):
    """The API answered ``status: false`` (or a non-200 ``response_code``) inside an HTTP 200."""


Reader = Callable[[object], object]

# data field -> (ic3_asset_master column, reader)
MASTER_FIELDS: dict[str, tuple[str, Reader]] = {
    "id": ("cmms_internal_id", values.integer),
    "traceid": ("traceability_id", values.integer),
    "barcode": ("barcode", values.text),
    "criticality": ("criticality", values.text),
    "capacity_rating": ("capacity_rating", values.text),
    "customer_id": ("cmms_customer_id", values.integer),
    "customer_name": ("cmms_customer_name", values.text),
    "location_id": ("cmms_location_id", values.integer),
    "location_name": ("cmms_location_name", values.text),
    "building_id": ("building_id", values.integer),
    "floor_id": ("floor_id", values.integer),
    "department_id": ("department_id", values.integer),
    "asset_building_id": ("asset_building_id", values.integer),
    "asset_floor_id": ("asset_floor_id", values.integer),
    "asset_department_id": ("asset_department_id", values.integer),
    "fk_customers_equipment_mapping_id": ("fk_customers_equipment_mapping_id", values.integer),
    "customers_locations_serialnumber_mapping_id": ("customers_locations_serialnumber_mapping_id", values.integer),
    "customer_traceability_id": ("customer_traceability_id", values.integer),
    "customer_model_id": ("customer_model_id", values.integer),
    "location_traceability_id": ("location_traceability_id", values.integer),
    "location_model_id": ("location_model_id", values.integer),
    "in_charge_person": ("in_charge_person", values.text),
    "ticketcount": ("ticketcount", values.integer),
    "schedulecount": ("schedulecount", values.integer),
    "schedule_configured": ("schedule_configured", values.integer),
    "schedule_initiate": ("schedule_initiate", values.integer),
    "iot_device_mapped": ("iot_device_mapped", values.integer),
    "status": ("status", values.integer),
    "asset_live_status": ("asset_live_status", values.integer),
    # Untyped in the reference and seen as labels ("Mapped"): kept verbatim as text.
    "mapping_status": ("mapping_status", values.text),
    "traceability_status": ("traceability_status", values.text),
    "year_of_manufacturing": ("year_of_manufacturing", values.integer),
    "is_loaner": ("is_loaner", values.integer),
    "is_ble_tracking": ("is_ble_tracking", values.integer),
    "is_rfid_tracking": ("is_rfid_tracking", values.integer),
    "is_qr_tracking": ("is_qr_tracking", values.integer),
    "is_tracking_enabled": ("is_tracking_enabled", values.integer),
    "installation_date": ("cmms_installation_date", values.text),
    "traceability_updated_on": ("traceability_updated_on", values.text),
}

# The reference only says these "may appear" and gives no type for the statuses (the simulator sends labels such as
# "Mapped"): a value their reader cannot take is stored as NULL with a warning instead of failing the whole asset.
OPTIONAL_MASTER_FIELDS = frozenset({
    "mapping_status", "traceability_status", "year_of_manufacturing",
    "is_loaner", "is_ble_tracking", "is_rfid_tracking", "is_qr_tracking", "is_tracking_enabled",
})

# performance field -> (text column as the API sent it, typed column beside it or None, reader for the typed column)
PERFORMANCE_FIELDS: dict[str, tuple[str, str | None, Reader]] = {
    "equipments_name": ("equipments_name", None, values.text),
    "equipment_model_name": ("equipment_model_name", None, values.text),
    "criticality_type_label": ("criticality_type_label", None, values.text),
    "total_ticket": ("total_ticket", None, values.integer),
    "mttr": ("mttr", "mttr_hours", values.duration_hours),
    "mtbf": ("mtbf", "mtbf_hours", values.duration_hours),
    "availability": ("availability", "availability_pct", values.number),
    "total_ticket_breakdown_hrs": ("total_ticket_breakdown_hrs", "total_ticket_breakdown_hours", values.duration_hours),
    "total_schedule_breakdown_hrs": (
        "total_schedule_breakdown_hrs",
        "total_schedule_breakdown_hours",
        values.duration_hours,
    ),
    "asset_created_date": ("asset_created_date", "asset_created_at", values.day_first_datetime),
    "total_actual_hrs": ("total_actual_hrs", "total_actual_hours", values.duration_hours),
}

WORKORDER_FIELDS: dict[str, Reader] = {
    "work_estimate_count": values.integer,
    "work_estimate_cost": values.money,
    "schedule_count": values.integer,
    "schedule_cost": values.money,
    "ticket_count": values.integer,
    "ticket_cost": values.money,
}


@dataclass
class AssetRecord:
    """What one successful response says about one asset, as rows for each table (typed, not yet keyed by asset_id)."""

    serialnumber: str
    master: dict[str, Any]
    performance: dict[str, Any]
    workorders: dict[str, dict[str, Any]]  # period_type -> row
    building: dict[str, Any] | None = None
    floor: dict[str, Any] | None = None
    department: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


def parse_body(body: bytes | str) -> Mapping[str, Any]:
    """Decode a response body, naming what is wrong with it (empty, truncated, not JSON, not an object)."""
    if not body:
        raise MalformedResponse("empty response body")
    snippet = (body[:60] if isinstance(body, str) else body[:60].decode("utf-8", "replace")).replace("\n", " ")
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise MalformedResponse(f"body is not valid JSON ({error.msg} at position {error.pos}): {snippet!r}") from None
    except UnicodeDecodeError as error:
        reason = f"{error.reason} at byte {error.start}"
        raise MalformedResponse(f"body is not valid UTF-8 ({reason}): {snippet!r}") from None
    if not isinstance(document, dict):
        raise MalformedResponse(f"body is a JSON {json_type(document)}, not an object")
    return document


def parse_response(body: bytes | str, requested_id: str) -> AssetRecord:
    """A whole body (as received or as landed) into an :class:`AssetRecord`: :func:`parse_body`, then
    :func:`parse_asset_detail`. Looked up at call time, so a re-parse uses whatever parser this module holds now."""
    return parse_asset_detail(parse_body(body), requested_id)


def parse_asset_detail(document: Mapping[str, Any], requested_id: str) -> AssetRecord:
    """Validate the envelope and turn it into an :class:`AssetRecord` for ``requested_id``."""
    _check_envelope(document)
    response = _object(document, "response", document.get("response"))
    data = _object(document, "response.data", response.get("data"))
    serialnumber = data.get("serialnumber")
    if serialnumber is not None and str(serialnumber) != requested_id:
        raise MalformedResponse(f"response.data.serialnumber is {serialnumber!r}, not the requested {requested_id!r}")
    master: dict[str, Any] = {}
    warnings: list[str] = []
    for name, (column, reader) in MASTER_FIELDS.items():
        try:
            master[column] = _read("response.data", name, data, reader)
        except MalformedResponse as problem:
            if name not in OPTIONAL_MASTER_FIELDS:
                raise
            master[column] = None
            warnings.append(f"{problem}; stored as NULL")
    record = AssetRecord(
        serialnumber=requested_id,
        master=master,
        performance=_performance(response.get("performance")),
        workorders=_workorders(response.get("workorder_transactional")),
        warnings=warnings,
    )
    _masters_from_data(record, data)
    return record


def _check_envelope(document: Mapping[str, Any]) -> None:
    status = document.get("status")
    code = document.get("response_code")
    message = document.get("message") or document.get("error") or ""
    if status is False or str(status).lower() == "false":
        raise ApiFailure(f"API answered status false (response_code {code}){': ' + str(message) if message else ''}")
    if code is not None and str(code).strip() != "200":
        raise ApiFailure(f"API answered response_code {code}{': ' + str(message) if message else ''}")
    if status is None:
        raise MalformedResponse("field 'status' is missing")


def _object(document: Mapping[str, Any], path: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        shown = "missing" if value is None else f"a JSON {json_type(value)}"
        raise MalformedResponse(f"field '{path}' is {shown}, expected an object")
    return value


def _read(path: str, name: str, source: Mapping[str, Any], reader: Reader) -> object:
    try:
        return reader(source.get(name))
    except BadValue as error:
        raise MalformedResponse(f"field '{path}.{name}': {error}") from None


def _performance(section: object) -> dict[str, Any]:
    """The performance row; all-null when the API sent no performance block (so the row still records the sync)."""
    section = _empty_array_as_object(section)
    if section is not None and not isinstance(section, dict):
        raise MalformedResponse(f"field 'response.performance' is a JSON {json_type(section)}, expected an object")
    section = section or {}
    row: dict[str, Any] = {}
    for name, (text_column, typed_column, reader) in PERFORMANCE_FIELDS.items():
        if typed_column is None:
            row[text_column] = _read("response.performance", name, section, reader)
        else:
            row[text_column] = _read("response.performance", name, section, values.text)
            row[typed_column] = _read("response.performance", name, section, reader)
    return row


def _workorders(section: object) -> dict[str, dict[str, Any]]:
    section = _empty_array_as_object(section)
    if section is not None and not isinstance(section, dict):
        raise MalformedResponse(
            f"field 'response.workorder_transactional' is a JSON {json_type(section)}, expected an object"
        )
    rows: dict[str, dict[str, Any]] = {}
    for period in PERIODS:
        block = _empty_array_as_object((section or {}).get(period))
        if block is not None and not isinstance(block, dict):
            raise MalformedResponse(f"field 'response.workorder_transactional.{period}' is not an object")
        path = f"response.workorder_transactional.{period}"
        rows[period] = {name: _read(path, name, block or {}, reader) for name, reader in WORKORDER_FIELDS.items()}
    return rows


def _empty_array_as_object(value: object) -> object:
    """PHP backends encode an empty associative array as ``[]``: that is an empty object, not a wrong type."""
    return {} if value == [] else value


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages a non-Python reader understands."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _masters_from_data(record: AssetRecord, data: Mapping[str, Any]) -> None:
    """The building, floor and department rows the record names (only those whose id is present)."""
    master = record.master
    if master["building_id"] is not None:
        record.building = {
            "building_id": master["building_id"],
            "customer_id": master["cmms_customer_id"],
            "building_name": _read("response.data", "building_name", data, values.text),
        }
    if master["floor_id"] is not None:
        record.floor = {
            "floor_id": master["floor_id"],
            "floor_name": _read("response.data", "floor_name", data, values.text),
            "location_id": master["cmms_location_id"],
            "asset_floor_id": master["asset_floor_id"],
        }
    if master["department_id"] is not None:
        record.department = {
            "department_id": master["department_id"],
            "department_name": _read("response.data", "department_name", data, values.text),
            "floor_id": master["floor_id"],
            "location_id": master["cmms_location_id"],
            "asset_department_id": master["asset_department_id"],
        }
