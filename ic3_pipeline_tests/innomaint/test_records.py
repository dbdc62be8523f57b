"""Turning an asset-detail response into table rows (ic3_pipeline.connectors.innomaint.records).

The reference response is a literal copy of the one in shared/reference/innomaint-api.md. The property tests run
the parser over records the simulator generates and recompute every expectation independently from the raw JSON.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from ic3_pipeline.connectors.innomaint.records import (
    MASTER_FIELDS,
    PERFORMANCE_FIELDS,
    PERIODS,
    WORKORDER_FIELDS,
    ApiFailure,
    AssetRecord,
    MalformedResponse,
    parse_asset_detail,
    parse_body,
)
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig

ASSET_ID = "Delhi Cantt Naraina_BP_01"

REFERENCE_BODY = """
{
  "status": true,
  "response_code": 200,
  "response": {
    "data": {
      "id": 577833, "traceid": 577833,
      "serialnumber": "Delhi Cantt Naraina_BP_01",
      "barcode": "MOD135692/SER577833",
      "criticality": "High", "capacity_rating": "90KW",
      "customer_id": 24463, "customer_name": "DJB Khyala",
      "location_id": 34801, "location_name": "Naraina D.Cantt UGR_Zone",
      "building_id": 16420, "building_name": "Naraina D.Cantt UGR_Zone",
      "floor_id": 12030, "floor_name": "UGR",
      "department_id": 12250, "department_name": "Working",
      "asset_floor_id": 20025, "asset_building_id": 21852, "asset_department_id": 27422,
      "installation_date": null,
      "ticketcount": 5, "schedulecount": 44,
      "schedule_configured": 1, "schedule_initiate": 1,
      "in_charge_person": "JWIL",
      "iot_device_mapped": 0, "status": 1, "asset_live_status": 1,
      "traceability_updated_on": "2026-03-19 04:21:46+00",
      "fk_customers_equipment_mapping_id": 550822,
      "customers_locations_serialnumber_mapping_id": 505836,
      "customer_traceability_id": 550822, "customer_model_id": 225345,
      "location_traceability_id": 505836, "location_model_id": 252933
    },
    "performance": {
      "equipments_name": "LT-Panel", "equipment_model_name": "NA",
      "criticality_type_label": "Non-Critical",
      "total_ticket": 2,
      "mttr": "00:08:30", "mtbf": "8526:06:43", "availability": "100",
      "total_ticket_breakdown_hrs": "00:17:00", "total_schedule_breakdown_hrs": "0",
      "asset_created_date": "09/07/2024 16:59",
      "total_actual_hrs": "17052:30:27"
    },
    "workorder_transactional": {
      "upto":      {"work_estimate_count": "2", "work_estimate_cost": "0.00", "schedule_count": "0", "schedule_cost": "0.00", "ticket_count": "2", "ticket_cost": "0.00"},
      "last_year": {"work_estimate_count": "0", "work_estimate_cost": "0.00", "schedule_count": "0", "schedule_cost": "0.00", "ticket_count": "0", "ticket_cost": "0.00"}
    }
  }
}
"""

# Master columns filled only by the "may appear" keys the reference lists; absent from its sample response.
OPTIONAL_MASTER_COLUMNS = (
    "mapping_status", "traceability_status", "year_of_manufacturing",
    "is_loaner", "is_ble_tracking", "is_rfid_tracking", "is_qr_tracking", "is_tracking_enabled",
)
# typed hours column -> the text column it is read from
HOUR_COLUMNS = {
    "mttr_hours": "mttr",
    "mtbf_hours": "mtbf",
    "total_ticket_breakdown_hours": "total_ticket_breakdown_hrs",
    "total_schedule_breakdown_hours": "total_schedule_breakdown_hrs",
    "total_actual_hours": "total_actual_hrs",
}
TYPED_PAIRS = [(name, text, typed) for name, (text, typed, _) in PERFORMANCE_FIELDS.items() if typed is not None]


def reference() -> dict[str, Any]:
    """A fresh, mutable copy of the reference document."""
    return json.loads(REFERENCE_BODY)


def parse(document: dict[str, Any], requested_id: str = ASSET_ID) -> AssetRecord:
    return parse_asset_detail(document, requested_id)


def data_of(document: dict[str, Any]) -> dict[str, Any]:
    return document["response"]["data"]


# --- the reference response, into every part ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_record() -> AssetRecord:
    return parse(dict(parse_body(REFERENCE_BODY.encode("utf-8"))))


def test_reference_master_columns(reference_record):
    assert reference_record.serialnumber == ASSET_ID
    assert reference_record.master == {
        "cmms_internal_id": 577833,
        "traceability_id": 577833,
        "barcode": "MOD135692/SER577833",
        "criticality": "High",
        "capacity_rating": "90KW",
        "cmms_customer_id": 24463,
        "cmms_customer_name": "DJB Khyala",
        "cmms_location_id": 34801,
        "cmms_location_name": "Naraina D.Cantt UGR_Zone",
        "building_id": 16420,
        "floor_id": 12030,
        "department_id": 12250,
        "asset_building_id": 21852,
        "asset_floor_id": 20025,
        "asset_department_id": 27422,
        "fk_customers_equipment_mapping_id": 550822,
        "customers_locations_serialnumber_mapping_id": 505836,
        "customer_traceability_id": 550822,
        "customer_model_id": 225345,
        "location_traceability_id": 505836,
        "location_model_id": 252933,
        "in_charge_person": "JWIL",
        "ticketcount": 5,
        "schedulecount": 44,
        "schedule_configured": 1,
        "schedule_initiate": 1,
        "iot_device_mapped": 0,
        "status": 1,
        "asset_live_status": 1,
        "cmms_installation_date": None,
        "traceability_updated_on": "2026-03-19 04:21:46+00",
        # keys the sample does not carry
        **{column: None for column in OPTIONAL_MASTER_COLUMNS},
    }
    assert reference_record.warnings == []


def test_reference_building_floor_department(reference_record):
    assert reference_record.building == {
        "building_id": 16420, "customer_id": 24463, "building_name": "Naraina D.Cantt UGR_Zone",
    }
    assert reference_record.floor == {
        "floor_id": 12030, "floor_name": "UGR", "location_id": 34801, "asset_floor_id": 20025,
    }
    assert reference_record.department == {
        "department_id": 12250, "department_name": "Working", "floor_id": 12030, "location_id": 34801,
        "asset_department_id": 27422,
    }


def test_reference_performance_text_and_typed(reference_record):
    performance = dict(reference_record.performance)
    hours = {column: performance.pop(column) for column in HOUR_COLUMNS}
    assert performance == {
        "equipments_name": "LT-Panel",
        "equipment_model_name": "NA",
        "criticality_type_label": "Non-Critical",
        "total_ticket": 2,
        # the users' text columns, verbatim
        "mttr": "00:08:30",
        "mtbf": "8526:06:43",
        "availability": "100",
        "total_ticket_breakdown_hrs": "00:17:00",
        "total_schedule_breakdown_hrs": "0",
        "asset_created_date": "09/07/2024 16:59",
        "total_actual_hrs": "17052:30:27",
        # typed columns beside them
        "availability_pct": 100.0,
        "asset_created_at": datetime(2024, 7, 9, 16, 59),
    }
    assert hours == {
        "mttr_hours": pytest.approx(0.141667, abs=1e-6),
        "mtbf_hours": pytest.approx(8526.111944, abs=1e-6),
        "total_ticket_breakdown_hours": pytest.approx(0.283333, abs=1e-6),
        "total_schedule_breakdown_hours": 0.0,
        "total_actual_hours": pytest.approx(17052.5075, abs=1e-6),
    }
    assert all(type(value) is float for value in hours.values())
    assert type(performance["availability_pct"]) is float


def test_reference_workorder_periods(reference_record):
    zero = Decimal("0.00")
    assert reference_record.workorders == {
        "upto": {
            "work_estimate_count": 2, "work_estimate_cost": zero, "schedule_count": 0, "schedule_cost": zero,
            "ticket_count": 2, "ticket_cost": zero,
        },
        "last_year": {
            "work_estimate_count": 0, "work_estimate_cost": zero, "schedule_count": 0, "schedule_cost": zero,
            "ticket_count": 0, "ticket_cost": zero,
        },
    }
    assert list(reference_record.workorders) == ["upto", "last_year"]
    for row in reference_record.workorders.values():
        for name, value in row.items():
            if name.endswith("_count"):
                assert type(value) is int
            else:
                assert isinstance(value, Decimal) and str(value) == "0.00"  # a zero cost, not a NULL


def test_body_as_text_or_bytes_is_the_same():
    assert parse_body(REFERENCE_BODY) == parse_body(REFERENCE_BODY.encode("utf-8")) == reference()


# --- bodies that are not a JSON object ------------------------------------------------------------------------------

GATEWAY_PAGE = b"<html><head><title>502 Bad Gateway</title></head></html>"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", "empty response body", id="empty bytes"),
        pytest.param("", "empty response body", id="empty text"),
        pytest.param(
            GATEWAY_PAGE,
            "body is not valid JSON (Expecting value at position 0): "
            "'<html><head><title>502 Bad Gateway</title></head></html>'",
            id="html",
        ),
        pytest.param(
            b'{"status": true, "response_code": 200, "resp',
            "body is not valid JSON (Unterminated string starting at at position 39): "
            "'{\"status\": true, \"response_code\": 200, \"resp'",
            id="truncated",
        ),
        pytest.param(
            b'{"status": true,}',
            "body is not valid JSON (Expecting property name enclosed in double quotes at position 16): "
            "'{\"status\": true,}'",
            id="trailing comma",
        ),
        pytest.param(b"   ", "body is not valid JSON (Expecting value at position 3): '   '", id="blank"),
        pytest.param(b"[1, 2]", "body is a JSON array, not an object", id="array"),
        pytest.param(b'"ok"', "body is a JSON string, not an object", id="string"),
        pytest.param(b"null", "body is a JSON null, not an object", id="null"),
        pytest.param(b"200", "body is a JSON number, not an object", id="number"),
        # A Latin-1 body (PHP without utf8_encode) must be reported, not crash with AttributeError.
        pytest.param(
            b'{"status": true, "name": "caf\xe9"}',
            "body is not valid UTF-8 (invalid continuation byte at byte 29): "
            "'{\"status\": true, \"name\": \"caf\ufffd\"}'",
            id="not utf-8",
        ),
    ],
)
def test_parse_body_names_what_is_wrong(body, message):
    with pytest.raises(MalformedResponse) as caught:
        parse_body(body)
    assert str(caught.value) == message


def test_half_a_body_is_malformed():
    body = REFERENCE_BODY.encode("utf-8")
    with pytest.raises(MalformedResponse, match=r"^body is not valid JSON \("):
        parse_body(body[: len(body) // 2])


def test_long_bodies_are_quoted_only_in_part():
    page = b"<html>" + b"x" * 500 + b"</html>"
    with pytest.raises(MalformedResponse) as caught:
        parse_body(page)
    assert str(caught.value) == f"body is not valid JSON (Expecting value at position 0): {page[:60].decode()!r}"


# --- documents that are JSON objects but not usable -----------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], Any]


def replace_document(new: dict[str, Any]) -> Mutation:
    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        return new
    return mutate


def set_path(path: str, value: object) -> Mutation:
    """Set a dotted path of the document ("response.data.building_id")."""
    *parents, leaf = path.split(".")

    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        node = document
        for key in parents:
            node = node[key]
        node[leaf] = value
        return document
    return mutate


def delete_path(path: str) -> Mutation:
    *parents, leaf = path.split(".")

    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        node = document
        for key in parents:
            node = node[key]
        del node[leaf]
        return document
    return mutate


REJECTED = [
    # envelope
    ("missing status", delete_path("status"), MalformedResponse, "field 'status' is missing"),
    ("status null", set_path("status", None), MalformedResponse, "field 'status' is missing"),
    (
        "status false with message",
        replace_document(
            {"status": False, "response_code": 500, "message": "Something went wrong. Please try again later."}
        ),
        ApiFailure,
        "API answered status false (response_code 500): Something went wrong. Please try again later.",
    ),
    (
        "status false without message",
        set_path("status", False),
        ApiFailure,
        "API answered status false (response_code 200)",
    ),
    (
        "status 'false' as text", set_path("status", "false"), ApiFailure,
        "API answered status false (response_code 200)",
    ),
    ("response_code '500'", set_path("response_code", "500"), ApiFailure, "API answered response_code 500"),
    (
        "response_code 404 with message",
        replace_document({"status": True, "response_code": 404, "message": "Asset not found."}),
        ApiFailure,
        "API answered response_code 404: Asset not found.",
    ),
    (
        "status false with error key",
        replace_document({"status": False, "response_code": 401, "error": "Unauthenticated."}),
        ApiFailure,
        "API answered status false (response_code 401): Unauthenticated.",
    ),
    # structure
    ("response missing", delete_path("response"), MalformedResponse, "field 'response' is missing, expected an object"),
    ("response null", set_path("response", None), MalformedResponse, "field 'response' is missing, expected an object"),
    ("response a list", set_path("response", []), MalformedResponse, "field 'response' is a JSON array, expected an object"),
    (
        "data missing", delete_path("response.data"), MalformedResponse,
        "field 'response.data' is missing, expected an object",
    ),
    (
        "data a string", set_path("response.data", "no data"), MalformedResponse,
        "field 'response.data' is a JSON string, expected an object",
    ),
    (
        "performance a list", set_path("response.performance", [{"mttr": "00:08:30"}]), MalformedResponse,
        "field 'response.performance' is a JSON array, expected an object",
    ),
    (
        "performance a string", set_path("response.performance", "n/a"), MalformedResponse,
        "field 'response.performance' is a JSON string, expected an object",
    ),
    (
        "workorders a list", set_path("response.workorder_transactional", [1, 2]), MalformedResponse,
        "field 'response.workorder_transactional' is a JSON array, expected an object",
    ),
    (
        "period a string", set_path("response.workorder_transactional.upto", "2"), MalformedResponse,
        "field 'response.workorder_transactional.upto' is not an object",
    ),
    (
        "period a list", set_path("response.workorder_transactional.last_year", ["0"]), MalformedResponse,
        "field 'response.workorder_transactional.last_year' is not an object",
    ),
    # identity
    (
        "serialnumber of another asset", set_path("response.data.serialnumber", "Okhla_BP_02"), MalformedResponse,
        "response.data.serialnumber is 'Okhla_BP_02', not the requested 'Delhi Cantt Naraina_BP_01'",
    ),
    (
        "serialnumber differing in case", set_path("response.data.serialnumber", "delhi cantt naraina_bp_01"),
        MalformedResponse,
        "response.data.serialnumber is 'delhi cantt naraina_bp_01', not the requested 'Delhi Cantt Naraina_BP_01'",
    ),
    # values
    (
        "non-numeric building_id", set_path("response.data.building_id", "abc"), MalformedResponse,
        "field 'response.data.building_id': 'abc' is not a whole number",
    ),
    (
        "fractional traceid", set_path("response.data.traceid", "577833.5"), MalformedResponse,
        "field 'response.data.traceid': '577833.5' is not a whole number",
    ),
    (
        "ticketcount as a word", set_path("response.data.ticketcount", "five"), MalformedResponse,
        "field 'response.data.ticketcount': 'five' is not a whole number",
    ),
    (
        "building_name an object", set_path("response.data.building_name", {"en": "UGR"}), MalformedResponse,
        "field 'response.data.building_name': expected text, got dict",
    ),
    (
        "barcode a list", set_path("response.data.barcode", ["MOD1"]), MalformedResponse,
        "field 'response.data.barcode': expected text, got list",
    ),
    (
        "bad mtbf", set_path("response.performance.mtbf", "8526h"), MalformedResponse,
        "field 'response.performance.mtbf': '8526h' is not a duration (H:MM:SS)",
    ),
    (
        "minutes past 59", set_path("response.performance.mttr", "00:75:00"), MalformedResponse,
        "field 'response.performance.mttr': '00:75:00' is not a duration (H:MM:SS)",
    ),
    (
        "availability n/a", set_path("response.performance.availability", "n/a"), MalformedResponse,
        "field 'response.performance.availability': 'n/a' is not a number",
    ),
    (
        "month-first created date", set_path("response.performance.asset_created_date", "07/13/2024 16:59"),
        MalformedResponse,
        "field 'response.performance.asset_created_date': '07/13/2024 16:59' is not a DD/MM/YYYY HH:MM date",
    ),
    (
        "total_ticket fractional", set_path("response.performance.total_ticket", "2.5"), MalformedResponse,
        "field 'response.performance.total_ticket': '2.5' is not a whole number",
    ),
    (
        "bad cost", set_path("response.workorder_transactional.last_year.ticket_cost", "abc"), MalformedResponse,
        "field 'response.workorder_transactional.last_year.ticket_cost': 'abc' is not an amount",
    ),
    (
        "fractional count", set_path("response.workorder_transactional.upto.schedule_count", "2.5"),
        MalformedResponse,
        "field 'response.workorder_transactional.upto.schedule_count': '2.5' is not a whole number",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [pytest.param(mutate, error, message, id=name) for name, mutate, error, message in REJECTED],
)
def test_unusable_documents_name_the_field(mutate, error, message):
    document = mutate(reference())
    with pytest.raises(error) as caught:
        parse(document)
    assert str(caught.value) == message


def test_api_failure_and_malformed_are_distinct():
    """Callers tell "the API said no" from "the API said nonsense" by type."""
    assert not issubclass(ApiFailure, MalformedResponse)
    assert not issubclass(MalformedResponse, ApiFailure)


# --- what is tolerated ---------------------------------------------------------------------------------------------

ALL_NULL_PERFORMANCE = {
    column: None
    for text, typed, _ in PERFORMANCE_FIELDS.values()
    for column in (text, typed)
    if column is not None
}
ALL_NULL_PERIOD = {name: None for name in WORKORDER_FIELDS}


@pytest.mark.parametrize("mutate", [delete_path("response.performance"), set_path("response.performance", None),
                                    set_path("response.performance", {})], ids=["missing", "null", "empty"])
def test_missing_performance_gives_an_all_null_row(mutate):
    record = parse(mutate(reference()))
    assert record.performance == ALL_NULL_PERFORMANCE
    assert record.master["traceability_id"] == 577833  # the rest of the record still parses


@pytest.mark.parametrize(
    "mutate",
    [delete_path("response.workorder_transactional"), set_path("response.workorder_transactional", None),
     set_path("response.workorder_transactional", {})],
    ids=["missing", "null", "empty"],
)
def test_missing_workorders_give_two_all_null_rows(mutate):
    record = parse(mutate(reference()))
    assert record.workorders == {"upto": ALL_NULL_PERIOD, "last_year": ALL_NULL_PERIOD}


def test_one_missing_period_is_all_null_and_the_other_is_kept():
    document = delete_path("response.workorder_transactional.last_year")(reference())
    record = parse(document)
    assert list(record.workorders) == ["upto", "last_year"]
    assert record.workorders["last_year"] == ALL_NULL_PERIOD
    assert record.workorders["upto"]["ticket_count"] == 2


@pytest.mark.parametrize(
    "key",
    ["installation_date", "in_charge_person", "capacity_rating", "ticketcount", "schedulecount", "criticality",
     "traceability_updated_on", "customer_model_id", "asset_live_status"],
)
def test_missing_optional_keys_read_as_none(key):
    document = delete_path(f"response.data.{key}")(reference())
    column = MASTER_FIELDS[key][0]
    assert parse(document).master[column] is None


@pytest.mark.parametrize("blank", [None, "", "   ", "null"], ids=repr)
def test_blank_data_values_read_as_none_never_zero(blank):
    document = reference()
    for key in ("ticketcount", "schedulecount", "iot_device_mapped", "in_charge_person", "barcode"):
        data_of(document)[key] = blank
    master = parse(document).master
    assert [master[column] for column in ("ticketcount", "schedulecount", "iot_device_mapped",
                                          "in_charge_person", "barcode")] == [None] * 5


@pytest.mark.parametrize("blank", [None, "", "null"], ids=repr)
@pytest.mark.parametrize(("name", "text_column", "typed_column"), TYPED_PAIRS, ids=[p[0] for p in TYPED_PAIRS])
def test_blank_performance_values_null_both_columns(name, text_column, typed_column, blank):
    record = parse(set_path(f"response.performance.{name}", blank)(reference()))
    assert record.performance[text_column] is None
    assert record.performance[typed_column] is None


@pytest.mark.parametrize("blank", [None, "", "null"], ids=repr)
def test_blank_workorder_values_are_null_not_zero(blank):
    document = reference()
    for name in WORKORDER_FIELDS:
        document["response"]["workorder_transactional"]["upto"][name] = blank
    assert parse(document).workorders["upto"] == ALL_NULL_PERIOD


def test_numbers_sent_as_strings():
    document = reference()
    data_of(document).update(
        {"id": "577833", "traceid": "577833", "building_id": "16420", "ticketcount": "5.0", "schedulecount": " 44 ",
         "status": "1", "iot_device_mapped": False}
    )
    document["response"]["performance"].update({"total_ticket": "2", "availability": "99.87%"})
    document["response"]["workorder_transactional"]["upto"].update(
        {"ticket_count": 7, "ticket_cost": "1,520.50", "schedule_cost": 12}
    )
    record = parse(document)
    assert {k: record.master[k] for k in ("cmms_internal_id", "traceability_id", "building_id", "ticketcount",
                                          "schedulecount", "status", "iot_device_mapped")} == {
        "cmms_internal_id": 577833, "traceability_id": 577833, "building_id": 16420, "ticketcount": 5,
        "schedulecount": 44, "status": 1, "iot_device_mapped": 0,
    }
    assert record.building["building_id"] == 16420
    assert record.performance["total_ticket"] == 2
    assert record.performance["availability"] == "99.87%"
    assert record.performance["availability_pct"] == pytest.approx(99.87)
    upto = record.workorders["upto"]
    assert (upto["ticket_count"], upto["ticket_cost"], upto["schedule_cost"]) == (
        7, Decimal("1520.50"), Decimal("12.00"),
    )


def test_text_values_sent_as_numbers_become_text():
    document = reference()
    data_of(document).update({"barcode": 135692, "capacity_rating": 90, "floor_name": 1})
    document["response"]["performance"].update({"availability": 100, "mttr": 0, "equipment_model_name": 400})
    record = parse(document)
    master, floor = record.master, record.floor
    assert (master["barcode"], master["capacity_rating"], floor["floor_name"]) == ("135692", "90", "1")
    assert (record.performance["availability"], record.performance["availability_pct"]) == ("100", 100.0)
    assert (record.performance["mttr"], record.performance["mttr_hours"]) == ("0", 0.0)
    assert record.performance["equipment_model_name"] == "400"


def test_envelope_accepts_text_status_and_code():
    document = reference()
    document.update({"status": "true", "response_code": "200"})
    assert parse(document).master["traceability_id"] == 577833


def test_envelope_without_response_code_is_accepted():
    document = delete_path("response_code")(reference())
    assert parse(document).master["traceability_id"] == 577833


def test_missing_serialnumber_takes_the_requested_id():
    document = delete_path("response.data.serialnumber")(reference())
    assert parse(document).serialnumber == ASSET_ID


@pytest.mark.parametrize(
    "asset_id", ["A/B.C D_01", "  padded _9 ", 'Quote "x"_2', "Pümp—ü_7", "back\\slash_1"], ids=repr
)
def test_opaque_ids_are_matched_exactly(asset_id):
    document = set_path("response.data.serialnumber", asset_id)(reference())
    assert parse(document, asset_id).serialnumber == asset_id


@pytest.mark.parametrize(
    ("key", "master_row"),
    [("building_id", "building"), ("floor_id", "floor"), ("department_id", "department")],
)
@pytest.mark.parametrize("absent", [delete_path, lambda path: set_path(path, None), lambda path: set_path(path, "")],
                         ids=["missing", "null", "empty"])
def test_master_rows_only_for_ids_present(key, master_row, absent):
    record = parse(absent(f"response.data.{key}")(reference()))
    assert getattr(record, master_row) is None
    others = {"building", "floor", "department"} - {master_row}
    assert all(getattr(record, other) is not None for other in others)


def test_optional_fields_when_present():
    document = reference()
    data_of(document).update(
        {"mapping_status": 1, "traceability_status": "0", "year_of_manufacturing": "2019", "is_loaner": 0,
         "is_ble_tracking": "1", "is_rfid_tracking": None, "is_qr_tracking": "", "is_tracking_enabled": True,
         "latitude": "28.61", "amc_id": "4512", "amc_end_date": None}
    )
    record = parse(document)
    assert {column: record.master[column] for column in OPTIONAL_MASTER_COLUMNS} == {
        "mapping_status": "1", "traceability_status": "0", "year_of_manufacturing": 2019, "is_loaner": 0,
        "is_ble_tracking": 1, "is_rfid_tracking": None, "is_qr_tracking": None, "is_tracking_enabled": 1,
    }
    assert record.warnings == []


def test_unreadable_optional_field_is_null_with_a_warning_not_a_failed_asset():
    """The reference gives no type for the "may appear" fields; a status label must not fail the whole asset."""
    document = reference()
    data_of(document).update({"mapping_status": "Mapped", "traceability_status": "Active", "is_loaner": "no"})
    record = parse(document)
    assert (record.master["mapping_status"], record.master["traceability_status"], record.master["is_loaner"]) == (
        "Mapped", "Active", None,
    )
    assert record.warnings == [
        "field 'response.data.is_loaner': 'no' is not a whole number; stored as NULL",
    ]
    assert record.performance["mttr"] == "00:08:30"


def test_unknown_keys_are_ignored():
    document = reference()
    document["extra"] = {"x": 1}
    data_of(document)["brand_new_field"] = [1, 2]
    document["response"]["performance"]["new_kpi"] = "12:00:00"
    document["response"]["workorder_transactional"]["next_year"] = "n/a"
    document["response"]["workorder_transactional"]["upto"]["overdue_count"] = "3"
    record = parse(document)
    assert list(record.workorders) == ["upto", "last_year"]
    assert set(record.workorders["upto"]) == set(WORKORDER_FIELDS)
    assert set(record.performance) == set(ALL_NULL_PERFORMANCE)


def test_parsing_does_not_modify_the_document():
    document = reference()
    before = copy.deepcopy(document)
    parse(document)
    assert document == before


# --- property: every record the simulator generates --------------------------------------------------------------

SITES = ["Delhi Cantt Naraina", "Okhla Phase.2", "Rohini/Sec 9", "Chandni Chowk ü", 'Jal "Vihar"', "Dwarka Sec-16"]
EQUIPMENT_CODES = ["BP", "LT", "MTR", "DG", "VFD"]
NASTY_IDS = ["A/B.C D_01", "Pümp—ü_7", 'Quote "x"_2', "  padded _9 ", "back\\slash_1"]
SIMULATED_IDS = [
    f"{SITES[n % len(SITES)]}_{EQUIPMENT_CODES[n % len(EQUIPMENT_CODES)]}_{n:03d}" for n in range(300 - len(NASTY_IDS))
] + NASTY_IDS

HMS = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})$")
# master row -> {column: the data key it comes from}
MASTER_ROW_SOURCES = {
    "building": {"building_id": "building_id", "customer_id": "customer_id", "building_name": "building_name"},
    "floor": {"floor_id": "floor_id", "floor_name": "floor_name", "location_id": "location_id",
              "asset_floor_id": "asset_floor_id"},
    "department": {"department_id": "department_id", "department_name": "department_name", "floor_id": "floor_id",
                   "location_id": "location_id", "asset_department_id": "asset_department_id"},
}
TEXT_MASTER_KEYS = {"barcode", "criticality", "capacity_rating", "customer_name", "location_name", "in_charge_person",
                    "installation_date", "traceability_updated_on", "mapping_status", "traceability_status"}


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "null"))


def hours_of(raw: str) -> float:
    """H:MM:SS (hours unbounded) or a bare number of hours, computed here independently of the product."""
    match = HMS.match(raw.strip())
    if match:
        hours, minutes, seconds = (int(part) for part in match.groups())
        return (hours * 3600 + minutes * 60 + seconds) / 3600
    return float(raw)


@pytest.fixture(scope="module", params=[7, 2024], ids=lambda seed: f"seed{seed}")
def simulated(request) -> list[tuple[str, dict[str, Any], AssetRecord]]:
    simulator = InnomaintSimulator(SIMULATED_IDS, SimulatorConfig(seed=request.param))
    triples = []
    for asset_id in SIMULATED_IDS:
        document = simulator.expected_record(asset_id)
        raw = copy.deepcopy(document)
        triples.append((asset_id, raw, parse_asset_detail(document, asset_id)))  # must never raise
    return triples


def test_simulated_records_all_parse(simulated):
    assert len(simulated) == 300
    assert all(record.serialnumber == asset_id for asset_id, _, record in simulated)


def test_simulated_master_matches_the_raw_data(simulated):
    for asset_id, document, record in simulated:
        data = data_of(document)
        warned = {re.match(r"field 'response\.data\.(\w+)'", w).group(1) for w in record.warnings}
        assert warned <= set(OPTIONAL_MASTER_COLUMNS), (asset_id, record.warnings)
        for key, (column, _) in MASTER_FIELDS.items():
            sent, got = data.get(key), record.master[column]
            if is_blank(sent) or key in warned:
                assert got is None, (asset_id, key, sent, got)
            elif key in TEXT_MASTER_KEYS:
                assert got == sent, (asset_id, key, sent, got)
            else:
                assert got == int(sent) and type(got) is int, (asset_id, key, sent, got)


def test_simulated_master_rows_match_the_raw_data(simulated):
    for asset_id, document, record in simulated:
        data = data_of(document)
        for row_name, sources in MASTER_ROW_SOURCES.items():
            row = getattr(record, row_name)
            assert row is not None, (asset_id, row_name)
            assert set(row) == set(sources)
            for column, key in sources.items():
                sent = data[key]
                assert row[column] == (sent if isinstance(sent, str) else int(sent)), (asset_id, row_name, column)


def test_simulated_typed_columns_null_exactly_when_text_is(simulated):
    for asset_id, document, record in simulated:
        performance = document["response"]["performance"]
        for name, text_column, typed_column in TYPED_PAIRS:
            sent = performance.get(name)
            text_value, typed_value = record.performance[text_column], record.performance[typed_column]
            assert (text_value is None) == is_blank(sent), (asset_id, name, sent)
            assert (typed_value is None) == (text_value is None), (asset_id, name, sent, typed_value)
            if text_value is not None:
                assert text_value == str(sent), (asset_id, name)  # verbatim


def test_simulated_typed_values_agree_with_the_text(simulated):
    for asset_id, _, record in simulated:
        performance = record.performance
        for column, text_column in HOUR_COLUMNS.items():
            if performance[text_column] is not None:
                expected = hours_of(performance[text_column])
                assert performance[column] == pytest.approx(expected, abs=1e-6), (asset_id, column)
                assert performance[column] >= 0
        if performance["availability"] is not None:
            assert performance["availability_pct"] == float(performance["availability"])
            assert 0.0 <= performance["availability_pct"] <= 100.0
        if performance["asset_created_date"] is not None:
            created = datetime.strptime(performance["asset_created_date"], "%d/%m/%Y %H:%M")
            assert performance["asset_created_at"] == created


def test_simulated_workorders_have_exactly_two_periods(simulated):
    for asset_id, document, record in simulated:
        assert tuple(record.workorders) == PERIODS == ("upto", "last_year")
        sent = document["response"]["workorder_transactional"]
        for period, row in record.workorders.items():
            assert set(row) == set(WORKORDER_FIELDS)
            for name, value in row.items():
                raw = sent[period][name]
                if name.endswith("_count"):
                    assert value == int(raw) and type(value) is int, (asset_id, period, name)
                else:
                    assert value == Decimal(raw) and value.as_tuple().exponent == -2, (asset_id, period, name)
        assert record.workorders["last_year"]["ticket_count"] <= record.workorders["upto"]["ticket_count"]


def test_simulated_records_are_nasty_enough_to_mean_something(simulated):
    """Guard against a tame simulator making the property tests pass vacuously."""
    durations = [
        document["response"]["performance"][name]
        for _, document, _ in simulated
        for name in ("mttr", "mtbf", "total_ticket_breakdown_hrs", "total_schedule_breakdown_hrs", "total_actual_hrs")
    ]
    assert None in durations and "" in durations and "0" in durations
    assert any(isinstance(d, str) and HMS.match(d) and int(d.split(":")[0]) > 24 for d in durations)
    ticketcounts = [data_of(document)["ticketcount"] for _, document, _ in simulated]
    assert any(isinstance(t, str) for t in ticketcounts) and any(isinstance(t, int) for t in ticketcounts)
    assert any(data_of(document).get("in_charge_person") in ("", None) for _, document, _ in simulated)
    assert any("mapping_status" not in data_of(document) for _, document, _ in simulated)
    assert any(document["response"]["performance"]["asset_created_date"] is None for _, document, _ in simulated)
