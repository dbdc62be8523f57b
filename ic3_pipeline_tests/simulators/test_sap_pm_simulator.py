"""The SAP PM OData V2 simulator, met the way a client meets it: plain httpx over loopback, following ``__next``.

What the answers must look like comes from shared/reference/other-cmms-apis.md and OData V2, not from the client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from ic3_pipeline.sandbox.sap_odata import ODataQueryError, parse_filter
from ic3_pipeline.sandbox.sap_pm_simulator import ENTITY_SETS, SapPmSimConfig, SapPmSimulator
from ic3_pipeline_tests.simulators.conftest import free_port, run_simulate

USER, PASSWORD = "PM_READER", "pw-sap-123"
EQUIPMENT = "/sap/opu/odata/sap/API_EQUIPMENT/Equipment"
ORDERS = "/sap/opu/odata/sap/API_MAINTENANCEORDER;v=2/MaintenanceOrder"
PLANS = "/sap/opu/odata/sap/API_MAINTENANCEPLAN/MaintenancePlan"
PATHS = {"assets": EQUIPMENT, "work_orders": ORDERS, "schedules": PLANS}
DATE = re.compile(r"^/Date\(\d+\)/$")
DATE_OFFSET = re.compile(r"^/Date\(\d+\+0000\)/$")


@pytest.fixture
def sap(start_sim) -> Callable[..., SapPmSimulator]:
    def factory(**knobs: Any) -> SapPmSimulator:
        knobs.setdefault("user", USER)
        knobs.setdefault("password", PASSWORD)
        return start_sim(SapPmSimulator, **knobs)
    return factory


def client(sim: SapPmSimulator, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, auth=(USER, PASSWORD), timeout=timeout)


def get(http: httpx.Client, path: str, **options: Any) -> httpx.Response:
    return http.get(path, params={"$format": "json", **{f"${k}": v for k, v in options.items()}})


def odata_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innererror"} and error["message"]["lang"] == "en"
    assert error["innererror"]["application"]["service_namespace"] == "/SAP/"
    return error


def read_all(http: httpx.Client, first: httpx.Response) -> tuple[list[dict[str, Any]], list[int]]:
    """Every record following ``d.__next`` (opaque, absolute), and the size of each page."""
    records, sizes, response = [], [], first
    while True:
        assert response.status_code == 200, response.text
        body = response.json()["d"]
        records += body["results"]
        sizes.append(len(body["results"]))
        assert len(sizes) < 500
        if "__next" not in body:
            return records, sizes
        response = http.get(body["__next"])


def test_basic_auth_accepted_and_refused_with_the_logon_page(sap) -> None:
    sim = sap()
    with client(sim) as http:
        assert get(http, EQUIPMENT, top=1).status_code == 200
    for auth in (None, (USER, "wrong"), ("OTHER", PASSWORD)):
        refused = httpx.get(sim.base_url + EQUIPMENT, params={"$format": "json"}, auth=auth)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic realm=")
        assert refused.headers["content-type"].startswith("text/html") and "Logon failed" in refused.text
    assert sim.stats()["unauthorized"] == 3


@pytest.mark.parametrize("collection", list(PATHS))
def test_server_driven_paging_walks_every_record_once(sap, collection: str) -> None:
    sim = sap(default_page_size=10)
    with client(sim) as http:
        records, sizes = read_all(http, get(http, PATHS[collection], inlinecount="allpages"))
        first = get(http, PATHS[collection], inlinecount="allpages").json()["d"]
    assert records == sim.truth(collection)
    assert len(records) == len(sim.records(collection)) and first["__count"] == str(len(records))
    assert all(5 <= size <= 10 for size in sizes[:-1]) and any(size < 10 for size in sizes[:-1])
    token = re.search(r"\$skiptoken=([^&]+)", first["__next"]).group(1)
    assert not token.isdigit(), "the skiptoken is opaque"
    assert first["__next"].startswith(sim.base_url + PATHS[collection].replace(";", "%3B")) or \
        first["__next"].startswith(sim.base_url + PATHS[collection])


def test_pages_may_hold_fewer_rows_than_top(sap) -> None:
    sim = sap(max_page_size=20, default_page_size=10)
    with client(sim) as http:
        records, sizes = read_all(http, get(http, ORDERS, top=30, skip=5))
        even = sap(max_page_size=20, default_page_size=10, uneven_pages=False)
        with client(even) as other:
            _, even_sizes = read_all(other, get(other, ORDERS, top=45))
    assert len(sim.records("work_orders")) > 45
    assert records == sim.truth("work_orders")[5:35] and sizes[0] < 20 and sum(sizes) == 30
    assert even_sizes == [20, 20, 5]


def test_no_next_when_top_is_served_and_skip_past_the_end(sap) -> None:
    sim = sap()
    with client(sim) as http:
        body = get(http, EQUIPMENT, top=3).json()["d"]
        past = get(http, EQUIPMENT, skip=10_000, inlinecount="allpages").json()["d"]
    assert len(body["results"]) == 3 and "__next" not in body
    assert past == {"results": [], "__count": str(len(sim.records("assets")))}


def test_every_record_has_metadata_and_odata_dates(sap) -> None:
    sim = sap()
    with client(sim) as http:
        raw = get(http, ORDERS, top=5).text
    assert '"\\/Date(' in raw, "dates are written with escaped slashes, as SAP does"
    for record in sim.truth("work_orders"):
        meta = record["__metadata"]
        assert meta["type"] == "API_MAINTENANCEORDER.A_MaintenanceOrderType"
        assert meta["uri"].endswith(f"MaintenanceOrder('{record['MaintenanceOrder']}')") and meta["id"] == meta["uri"]
        assert DATE_OFFSET.match(record["LastChangeDateTime"]) and DATE_OFFSET.match(record["MaintOrdBasicStartDateTime"])
        assert (record["TechnicalCompletionDateTime"] is None) == (record["MaintOrderSystemStatus"] != "TECO")
        assert record["TechnicalCompletionDateTime"] is None or DATE.match(record["TechnicalCompletionDateTime"])
    equipment = sim.truth("assets")[0]
    assert "ValidityEndDate=datetime'9999-12-31T00%3A00%3A00'" in equipment["__metadata"]["uri"]
    assert equipment["ValidityEndDate"] == "/Date(253402214400000)/" and DATE.match(equipment["CreationDate"])


def test_orders_reference_equipment_and_plans(sap) -> None:
    sim = sap()
    equipment = {e["Equipment"]: e for e in sim.truth("assets")}
    plans = {p["MaintenancePlan"] for p in sim.truth("schedules")}
    for order in sim.truth("work_orders"):
        assert order["Equipment"] in equipment
        assert equipment[order["Equipment"]]["MaintenancePlant"] == order["MaintenancePlant"]
        assert order["MaintenancePlan"] == "" or order["MaintenancePlan"] in plans
        assert order["MaintPriority"] in {"1", "2", "3", "4"}
        assert order["MaintOrderSystemStatus"] in {"CRTD", "REL", "TECO", "DLFL"}
    for plan in sim.truth("schedules"):
        assert plan["Equipment"] in equipment and int(plan["CycleLength"]) > 0 and plan["CycleUnit"] == "DAY"


def test_filter_on_last_change_and_plant(sap) -> None:
    sim = sap(default_page_size=7)
    before = max(int(o["LastChangeDateTime"][6:19]) for o in sim.truth("work_orders"))
    changed = sim.change("work_orders", count=3)
    since = datetime.fromtimestamp(before / 1000 + 1, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with client(sim) as http:
        recent, _ = read_all(http, get(http, ORDERS, filter=f"LastChangeDateTime ge datetimeoffset'{since}'"))
        plant, _ = read_all(http, get(http, ORDERS, filter="MaintenancePlant eq '1020' and MaintPriority le '2'"))
    assert [o["MaintenanceOrder"] for o in recent] == [str(4000000 + i) for i in changed]
    assert plant == [o for o in sim.truth("work_orders")
                     if o["MaintenancePlant"] == "1020" and o["MaintPriority"] in ("1", "2")] != []


@pytest.mark.parametrize("options, message", [
    ({"filter": "LastChangeDateTime ge datetime'2025-03-01T13:00:00'"}, "Invalid parametertype used at function 'ge'"),
    ({"filter": "Nope eq 'x'"}, "Property Nope not found"),
    ({"filter": "MaintenancePlant eq 1010"}, "Invalid filter expression"),
    ({"select": "Equipment,Nope"}, "Property Nope not found"),
    ({"top": "-1"}, "$top"),
    ({"skiptoken": "forged"}, "Invalid $skiptoken"),
    ({"orderby": "Equipment sideways"}, "Invalid $orderby"),
])
def test_bad_query_options_are_400_envelopes(sap, options: dict[str, str], message: str) -> None:
    sim = sap()
    with client(sim) as http:
        error = odata_error(get(http, EQUIPMENT, **options), 400)
    assert message in error["message"]["value"] and error["code"] == "/IWBEP/CM_MGW_RT/022"


def test_select_orderby_unknown_sets_and_json_only(sap) -> None:
    sim = sap()
    with client(sim) as http:
        picked = get(http, EQUIPMENT, select="Equipment,SerialNumber", top=2).json()["d"]["results"]
        newest = read_all(http, get(http, EQUIPMENT, orderby="LastChangeDateTime desc"))[0]
        missing = odata_error(http.get("/sap/opu/odata/sap/API_NOPE/Thing", params={"$format": "json"}), 404)
        wrong_set = odata_error(http.get("/sap/opu/odata/sap/API_EQUIPMENT/Nope", params={"$format": "json"}), 404)
        atom = http.get(EQUIPMENT)
        by_accept = http.get(EQUIPMENT, params={"$top": 1}, headers={"Accept": "application/json"})
    assert [set(r) for r in picked] == [{"__metadata", "Equipment", "SerialNumber"}] * 2
    stamps = [int(r["LastChangeDateTime"][6:19]) for r in newest]
    assert stamps == sorted(stamps, reverse=True)
    assert "API_NOPE" in missing["message"]["value"] and "Nope" in wrong_set["message"]["value"]
    assert atom.status_code == 406 and by_accept.status_code == 200


def test_throttled_is_429_envelope_with_retry_after(sap) -> None:
    sim = sap(rate_limit=0.1, burst=1)
    with client(sim) as http:
        assert get(http, EQUIPMENT, top=1).status_code == 200
        throttled = get(http, ORDERS, top=1)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert odata_error(throttled, 429)["message"]["value"].startswith("Too many requests")
    stats = sim.stats()
    assert stats["throttled"] == 1 and stats["per_path"] == {"API_EQUIPMENT/Equipment": 1,
                                                             "API_MAINTENANCEORDER;v=2/MaintenanceOrder": 1}


def test_faults(sap) -> None:
    sim = sap(fault_rate=1.0, fault_kinds=("503",), hang_seconds=0.5)
    with client(sim, timeout=2) as http:
        page = get(http, EQUIPMENT, top=5)
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
        sim.configure(fault_kinds=("500",))
        odata_error(get(http, EQUIPMENT, top=5), 500)
        sim.configure(fault_kinds=("truncated",))
        cut = get(http, EQUIPMENT, top=5)
        assert cut.status_code == 200 and cut.text.startswith('{"d":{"results":[')
        with pytest.raises(json.JSONDecodeError):
            cut.json()
        sim.configure(fault_kinds=("reset",))
        with pytest.raises(httpx.TransportError):
            get(http, EQUIPMENT, top=5)
        sim.configure(fault_kinds=("hang",))
        with pytest.raises(httpx.ReadTimeout):
            http.get(EQUIPMENT, params={"$format": "json"}, timeout=0.1)
    assert sim.stats()["faults"] == {"503": 1, "500": 1, "truncated": 1, "reset": 1, "hang": 1}


def test_deterministic_per_seed_deletes_visible_and_register_codes(sap) -> None:
    a, b, c = sap(seed=2), sap(seed=2), sap(seed=3)
    strip = lambda records: [{k: v for k, v in r.items() if k != "__metadata"} for r in records]  # noqa: E731
    assert all(strip(a.truth(k)) == strip(b.truth(k)) for k in PATHS) and strip(a.truth("assets")) != strip(
        c.truth("assets"))
    gone = a.delete("assets", ids=[1, 2])
    with client(a) as http:
        remaining, _ = read_all(http, get(http, EQUIPMENT))
    assert gone == [1, 2] and {"10000001", "10000002"}.isdisjoint(r["Equipment"] for r in remaining)
    register = {"Pune Kharadi_BP_01": "Pune Kharadi", "Pune Kharadi_DG_01": "Pune Kharadi"}
    with_register = sap(register=register)
    assert sorted(e["TechnicalObjectSortField"] for e in with_register.truth("assets")) == sorted(register)
    assert {e["MaintenancePlant"] for e in with_register.truth("assets")} == {"1010"}


def test_filter_grammar_refuses_what_gateway_refuses() -> None:
    schema = ENTITY_SETS[("API_EQUIPMENT", "Equipment")].schema
    (test,) = parse_filter("EquipmentName eq 'O''Brien pump'", schema)
    assert test({"EquipmentName": "O'Brien pump"})
    for bad in ("LastChangeDateTime ge datetimeoffset'2025-03-01T13:00:00'", "CreationDate ge datetime'2025-03-01Z'",
                "EquipmentIsInactive eq 'false'", "Equipment eq '1' or Equipment eq '2'"):
        with pytest.raises(ODataQueryError):
            parse_filter(bad, schema)


def test_config_is_checked() -> None:
    for bad in ({"default_page_size": 0}, {"default_page_size": 10, "max_page_size": 5}, {"password": ""}):
        with pytest.raises(ValueError):
            SapPmSimConfig(**bad)


def test_cli_simulate_sap_pm_takes_its_user_from_the_environment() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}{EQUIPMENT}"
    response, output = run_simulate(
        ["sap_pm", "--port", str(port), "--assets-per-site", "3"],
        {"SAP_PM_USER": "CLI_USER", "SAP_PM_PASSWORD": "cli-sap-secret"},
        lambda: httpx.get(url, params={"$format": "json", "$inlinecount": "allpages"},
                          auth=("CLI_USER", "cli-sap-secret")),
        "SAP PM simulator at")
    assert response.status_code == 200 and response.json()["d"]["__count"] == "6"
    assert "cli-sap-secret" not in output and f"SAP PM simulator at http://127.0.0.1:{port}" in output


def test_deletion_flag_marks_equipment_and_moves_last_change(sap) -> None:
    sim = sap(deletion_flag=True)
    before = max(int(e["LastChangeDateTime"][6:19]) for e in sim.truth("assets"))
    flagged = sim.delete("assets", ids=[3, 4])
    assert sim.delete("assets", ids=[3]) == [], "already flagged"
    since = datetime.fromtimestamp(before / 1000 + 1, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with client(sim) as http:
        recent, _ = read_all(http, get(http, EQUIPMENT, filter=f"LastChangeDateTime ge datetimeoffset'{since}'"))
        everything, _ = read_all(http, get(http, EQUIPMENT))
        live, _ = read_all(http, get(http, EQUIPMENT, filter="EquipmentIsMarkedForDeletion eq false"))
    assert flagged == [3, 4] and [e["Equipment"] for e in recent] == ["10000003", "10000004"]
    assert all(e["EquipmentIsMarkedForDeletion"] for e in recent)
    assert len(everything) == len(sim.records("assets")) == len(live) + 2
    sim.delete("work_orders", ids=[1])
    assert 1 not in {r["id"] for r in sim.records("work_orders")}, "orders are still removed"
