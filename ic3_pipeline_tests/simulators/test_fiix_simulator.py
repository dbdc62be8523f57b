"""The Fiix simulator, met the way a client meets it: signed FindRequests over loopback with plain httpx.

The signing here is written from shared/reference/other-cmms-apis.md, not taken from the product's client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from ic3_pipeline.sandbox.fiix_simulator import FIELDS, FiixSimConfig, FiixSimulator
from ic3_pipeline_tests.simulators.conftest import free_port, run_simulate

APP, ACCESS, SECRET = "app-123", "access-456", "secret-789"
CLASSES = {"Asset": "assets", "WorkOrder": "work_orders", "ScheduledMaintenance": "schedules"}


@pytest.fixture
def fiix(start_sim) -> Callable[..., FiixSimulator]:
    def factory(**knobs: Any) -> FiixSimulator:
        knobs.setdefault("app_key", APP)
        knobs.setdefault("access_key", ACCESS)
        knobs.setdefault("secret_key", SECRET)
        return start_sim(FiixSimulator, **knobs)
    return factory


def find(sim: FiixSimulator, body: dict[str, Any] | str, *, secret: str = SECRET, timestamp: int | None = None,
         app: str = APP, content_type: str = "text/plain", signature: str | None = None,
         timeout: float = 5.0) -> httpx.Response:
    """One signed call: Authorization = hex HMAC-SHA256(secret, URL without scheme)."""
    query = urlencode({"action": "FindRequest", "service": "cmms", "appKey": app, "accessKey": ACCESS,
                       "timestamp": timestamp if timestamp is not None else int(time.time() * 1000),
                       "signatureMethod": "HmacSHA256", "signatureVersion": "1"})
    url = f"{sim.base_url}/api/?{query}"
    digest = hmac.new(secret.encode(), url.split("://", 1)[1].encode(), hashlib.sha256).hexdigest()
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.post(url, content=content.encode(), timeout=timeout,
                      headers={"Content-Type": content_type, "Authorization": signature or digest})


def request(class_name: str, **extra: Any) -> dict[str, Any]:
    return {"_maCn": "FindRequest", "className": class_name, **extra}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["_maCn"] == "FindResponse" and "error" not in body, body
    return body


def fiix_error(response: httpx.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["_maCn"] == "FindResponse" and set(body) == {"_maCn", "error"}
    assert body["error"]["code"] == code and body["error"]["leg"].startswith("SERVER_")
    return body["error"]["message"]


def read_all(sim: FiixSimulator, class_name: str, page: int, **extra: Any) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    while True:
        body = ok(find(sim, request(class_name, startIndex=len(objects), maxObjects=page, **extra)))
        objects += body["objects"]
        if len(objects) >= body["totalObjects"] or not body["objects"]:
            return objects


def test_signed_request_is_accepted_and_bad_ones_refused(fiix) -> None:
    sim = fiix()
    assert ok(find(sim, request("Asset", maxObjects=1)))["totalObjects"] == len(sim.records("assets"))
    assert "signature" in fiix_error(find(sim, request("Asset"), secret="wrong"), 401, 1011)
    assert "signature" in fiix_error(find(sim, request("Asset"), signature="A" * 64), 401, 1011)
    good = find(sim, request("Asset"))
    assert good.status_code == 200
    assert "key" in fiix_error(find(sim, request("Asset"), app="other"), 401, 1010)
    stale = int(time.time() * 1000) - 10 * 60 * 1000
    assert "timestamp" in fiix_error(find(sim, request("Asset"), timestamp=stale), 401, 1012)
    assert "text/plain" in fiix_error(find(sim, request("Asset"), content_type="application/json"), 400, 1020)
    assert sim.stats()["unauthorized"] == 4 and sim.stats()["bad_request"] == 1


def test_signature_covers_the_exact_query(fiix) -> None:
    sim = fiix()
    query = urlencode({"action": "FindRequest", "service": "cmms", "appKey": APP, "accessKey": ACCESS,
                       "timestamp": int(time.time() * 1000), "signatureMethod": "HmacSHA256",
                       "signatureVersion": "1"})
    signed_url = f"{sim.base_url}/api/?{query}"
    digest = hmac.new(SECRET.encode(), signed_url.split("://", 1)[1].encode(), hashlib.sha256).hexdigest()
    tampered = signed_url.replace("service=cmms", "service=cmms&x=1")
    response = httpx.post(tampered, content=json.dumps(request("Asset")).encode(),
                          headers={"Content-Type": "text/plain", "Authorization": digest})
    fiix_error(response, 401, 1011)
    missing = httpx.post(f"{sim.base_url}/api/?action=FindRequest", content=b"{}",
                         headers={"Content-Type": "text/plain"})
    assert "timestamp" in fiix_error(missing, 401, 1010)


@pytest.mark.parametrize("class_name", list(CLASSES))
def test_paging_walks_every_object_once_and_matches_truth(fiix, class_name: str) -> None:
    sim = fiix()
    objects = read_all(sim, class_name, page=9)
    assert objects == sim.truth(CLASSES[class_name])
    assert len({o["id"] for o in objects}) == len(objects) == len(sim.records(CLASSES[class_name])) > 9
    assert set(objects[0]) == {"className", *FIELDS[class_name]}


def test_max_objects_is_capped_so_clients_must_page_on_total(fiix) -> None:
    sim = fiix(max_objects=10)
    body = ok(find(sim, request("WorkOrder", maxObjects=500)))
    assert len(body["objects"]) == 10 and body["totalObjects"] > 10
    assert read_all(sim, "WorkOrder", page=500) == sim.truth("work_orders")
    past = ok(find(sim, request("WorkOrder", startIndex=10_000)))
    assert past["objects"] == [] and past["totalObjects"] == len(sim.records("work_orders"))


def test_fields_select_and_bad_requests(fiix) -> None:
    sim = fiix()
    body = ok(find(sim, request("Asset", fields="strCode, strSerialNumber", maxObjects=2)))
    assert [set(o) for o in body["objects"]] == [{"className", "id", "strCode", "strSerialNumber"}] * 2
    assert "strNope" in fiix_error(find(sim, request("Asset", fields="strNope")), 400, 1020)
    assert "className" in fiix_error(find(sim, request("Widget")), 400, 1020)
    assert fiix_error(find(sim, "{not json"), 400, 1020)
    assert fiix_error(find(sim, request("Asset", startIndex=-1)), 400, 1020)
    assert fiix_error(find(sim, request("Asset", filters=[{"ql": "intSiteID ~ ?", "parameters": [1]}])), 400, 1020)
    assert fiix_error(find(sim, request("Asset", filters=[{"ql": "intSiteID = ?", "parameters": []}])), 400, 1020)


def test_filters_on_site_and_last_change(fiix) -> None:
    sim = fiix()
    site_two = read_all(sim, "WorkOrder", page=100, filters=[{"ql": "intSiteID = ?", "parameters": [2]}])
    assert site_two and site_two == [o for o in sim.truth("work_orders") if o["intSiteID"] == 2]
    before = max(o["intUpdated"] for o in sim.truth("work_orders"))
    changed = sim.change("work_orders", count=2)
    by_int = read_all(sim, "WorkOrder", page=100, filters=[{"ql": "intUpdated > ?", "parameters": [before]}])
    as_text = datetime.fromtimestamp(before / 1000 + 1, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    by_date = read_all(sim, "WorkOrder", page=100,
                       filters=[{"ql": "dtmDateLastModified >= ?", "parameters": [as_text]}])
    assert [o["id"] for o in by_int] == changed == [o["id"] for o in by_date]
    both = read_all(sim, "WorkOrder", page=100, filters=[
        {"ql": "intSiteID = ? AND intUpdated > ?", "parameters": [1, 0]},
        {"ql": "intWorkOrderStatusID IN (?, ?)", "parameters": [4, 5]}])
    assert both == [o for o in sim.truth("work_orders") if o["intSiteID"] == 1 and o["intWorkOrderStatusID"] >= 4]


def test_order_by(fiix) -> None:
    sim = fiix()
    newest_first = read_all(sim, "Asset", page=100, orderBy="intUpdated DESC")
    assert [o["intUpdated"] for o in newest_first] == sorted((o["intUpdated"] for o in sim.truth("assets")),
                                                              reverse=True)
    assert fiix_error(find(sim, request("Asset", orderBy="nope")), 400, 1020)


def test_values_and_references(fiix) -> None:
    sim = fiix()
    assets = {a["id"]: a for a in sim.truth("assets")}
    for order in sim.truth("work_orders"):
        assert order["intWorkOrderStatusID"] in range(1, 6) and order["intPriorityID"] in range(1, 6)
        assert order["strAssetIds"] and int(order["strAssetIds"]) in assets
        assert assets[int(order["strAssetIds"])]["intSiteID"] == order["intSiteID"]
        assert (order["dtmDateCompleted"] is None) == (order["intWorkOrderStatusID"] != 4)
        datetime.strptime(order["dtmDateLastModified"], "%Y-%m-%d %H:%M:%S")
    assert {a["bolIsOnline"] for a in assets.values()} <= {0, 1}
    for schedule in sim.truth("schedules"):
        assert schedule["intAssetID"] in assets and schedule["intRepeatIntervalDays"] > 0


def test_throttling_is_error_1100_in_a_200_body(fiix) -> None:
    sim = fiix(rate_limit=0.1, burst=1)
    assert ok(find(sim, request("Asset", maxObjects=1)))
    throttled = find(sim, request("Asset", maxObjects=1))
    assert throttled.status_code == 200 and "Retry-After" not in throttled.headers
    error = throttled.json()["error"]
    assert error["code"] == 1100 and 5000 <= error["object"]["P_CLIENT_AUTO_RETRY_WAIT_ADVISORY_MS"] <= 10_000
    sim.configure(advisory_ms=6000)
    assert find(sim, request("Asset")).json()["error"]["object"] == {"P_CLIENT_AUTO_RETRY_WAIT_ADVISORY_MS": 6000}
    stats = sim.stats()
    assert stats["throttled"] == 2 and stats["per_path"] == {"FindRequest:Asset": 3}


def test_faults(fiix) -> None:
    sim = fiix(fault_rate=1.0, fault_kinds=("503",), hang_seconds=0.5)
    gateway = find(sim, request("Asset"))
    assert gateway.status_code == 503 and gateway.headers["content-type"].startswith("text/html")
    sim.configure(fault_kinds=("500",))
    fiix_error(find(sim, request("Asset")), 500, 500)
    sim.configure(fault_kinds=("truncated",))
    cut = find(sim, request("Asset"))
    assert cut.status_code == 200 and cut.text.startswith('{"_maCn":"FindResponse","objects":[')
    with pytest.raises(json.JSONDecodeError):
        cut.json()
    sim.configure(fault_kinds=("reset",))
    with pytest.raises(httpx.TransportError):
        find(sim, request("Asset"))
    sim.configure(fault_kinds=("hang",))
    with pytest.raises(httpx.ReadTimeout):
        find(sim, request("Asset"), timeout=0.1)
    assert sim.stats()["faults"] == {"503": 1, "500": 1, "truncated": 1, "reset": 1, "hang": 1}


def test_a_retry_of_the_same_body_with_a_new_timestamp_usually_succeeds(fiix) -> None:
    sim = fiix(fault_rate=0.3, fault_kinds=("500",))
    statuses = [find(sim, request("Asset", startIndex=n, maxObjects=1)).status_code for n in range(50)]
    failed = [n for n, status in enumerate(statuses) if status != 200]
    retried = [find(sim, request("Asset", startIndex=n, maxObjects=1)).status_code == 200 for n in failed]
    assert 5 <= len(failed) <= 25 and sum(retried) > len(retried) / 2
    again = fiix(fault_rate=0.3, fault_kinds=("500",))
    assert [find(again, request("Asset", startIndex=n, maxObjects=1)).status_code for n in range(50)] == statuses


def test_deterministic_per_seed_and_deletes_visible(fiix) -> None:
    a, b, c = fiix(seed=5), fiix(seed=5), fiix(seed=6)
    assert all(a.truth(k) == b.truth(k) for k in CLASSES.values()) and a.truth("assets") != c.truth("assets")
    deleted = a.delete("assets", count=2)
    remaining = read_all(a, "Asset", page=50)
    assert len(remaining) == len(b.truth("assets")) - 2 and not {o["id"] for o in remaining} & set(deleted)


def test_register_ids_become_asset_codes(fiix) -> None:
    register = {"Pune Kharadi_BP_01": "Pune Kharadi", "Noida Sector 18_CH_02": "Noida Sector 18"}
    sim = fiix(register=register)
    assert sorted(a["strCode"] for a in sim.truth("assets")) == sorted(register)


def test_control_endpoints_and_secrets_not_echoed(fiix) -> None:
    sim = fiix()
    config = httpx.get(f"{sim.base_url}/_sim/config").json()
    assert not {"app_key", "access_key", "secret_key"} & set(config) and SECRET not in json.dumps(config)
    changed = httpx.post(f"{sim.base_url}/_sim/change", json={"collection": "assets", "count": 1}).json()["changed"]
    truth = httpx.get(f"{sim.base_url}/_sim/truth", params={"collection": "assets"}).json()["records"]
    assert truth == sim.truth("assets") and "(rev " in next(a for a in truth if a["id"] == changed[0])["strName"]


def test_config_is_checked() -> None:
    for bad in ({"max_objects": 0}, {"secret_key": ""}, {"advisory_ms": -1}):
        with pytest.raises(ValueError):
            FiixSimConfig(**bad)


def test_cli_simulate_fiix_takes_its_keys_from_the_environment() -> None:
    port = free_port()

    class Target:
        base_url = f"http://127.0.0.1:{port}"

    response, output = run_simulate(
        ["fiix", "--port", str(port), "--assets-per-site", "3"],
        {"FIIX_APP_KEY": APP, "FIIX_ACCESS_KEY": ACCESS, "FIIX_SECRET_KEY": "cli-fiix-secret"},
        lambda: find(Target, request("Asset"), secret="cli-fiix-secret"),  # type: ignore[arg-type]
        "Fiix simulator at")
    assert ok(response)["totalObjects"] == 6
    assert "cli-fiix-secret" not in output and f"Fiix simulator at http://127.0.0.1:{port}" in output


def test_selected_sites_full_text_and_named_filters(fiix) -> None:
    sim = fiix()
    site_one = read_all(sim, "Asset", page=100, filters=[{"name": "site", "selectedSites": [1]}])
    assert site_one == [a for a in sim.truth("assets") if a["intSiteID"] == 1] != []
    word = sim.truth("assets")[0]["strName"].split()[0]
    found = read_all(sim, "Asset", page=100, filters=[{"fullText": word.upper(), "fields": "strName"}])
    assert found == [a for a in sim.truth("assets") if word.lower() in a["strName"].lower()] != []
    assert fiix_error(find(sim, request("Asset", filters=[{"selectedSites": "1"}])), 400, 1020)
    assert fiix_error(find(sim, request("Asset", filters=[{"sort": "x"}])), 400, 1020)
