"""The UpKeep v2 simulator, met the way a client meets it: plain httpx over loopback.

What the answers must look like comes from shared/reference/other-cmms-apis.md, not from the product's client.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from ic3_pipeline.sandbox.upkeep_simulator import UpKeepSimConfig, UpKeepSimulator, serve
from ic3_pipeline_tests.simulators.conftest import free_port, run_simulate

EMAIL, PASSWORD = "ops@example.com", "pw-upkeep-123"
PATHS = {"assets": "/assets", "work_orders": "/work-orders", "schedules": "/preventive-maintenance"}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def upkeep(start_sim) -> Callable[..., UpKeepSimulator]:
    def factory(**knobs: Any) -> UpKeepSimulator:
        knobs.setdefault("email", EMAIL)
        knobs.setdefault("password", PASSWORD)
        return start_sim(UpKeepSimulator, **knobs)
    return factory


def login(sim: UpKeepSimulator) -> str:
    response = httpx.post(f"{sim.base_url}/auth", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and set(body["result"]) == {"sessionToken", "expiresAt"}
    assert body["result"]["sessionToken"].startswith("r:") and DATE.match(body["result"]["expiresAt"])
    return body["result"]["sessionToken"]


def session(sim: UpKeepSimulator, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, headers={"Session-Token": login(sim)}, timeout=timeout)


def failure(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and set(body) == {"success", "message"}
    return body["message"]


def read_all(http: httpx.Client, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    records, offset = [], 0
    while True:
        response = http.get(path, params={"limit": limit, "offset": offset, **params})
        if response.status_code == 404 and offset > 0:
            return records
        assert response.status_code == 200, response.text
        page = response.json()["results"]
        records += page
        if len(page) < limit:
            return records
        offset += limit


def test_login_session_header_and_logout(upkeep) -> None:
    sim = upkeep()
    assert failure(httpx.post(f"{sim.base_url}/auth", json={"email": EMAIL, "password": "nope"}), 400) == \
        "Invalid username/password."
    assert failure(httpx.post(f"{sim.base_url}/auth", content=b"not json"), 400)
    assert "Session-Token" in failure(httpx.get(f"{sim.base_url}/assets"), 401)
    assert failure(httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": "r:forged"}), 401) == \
        "Invalid session token"
    token = login(sim)
    assert httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": token}).status_code == 200
    logout = httpx.delete(f"{sim.base_url}/auth", headers={"Session-Token": token})
    assert logout.status_code == 200 and logout.json() == {"success": True}
    failure(httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": token}), 401)
    assert sim.stats()["unauthorized"] == 3 and sim.stats()["bad_request"] == 2


def test_session_expires_after_ttl_and_on_demand(upkeep) -> None:
    sim = upkeep(session_ttl_s=0.3)
    token = login(sim)
    assert httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": token}).status_code == 200
    time.sleep(0.4)
    assert failure(httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": token}), 401) == \
        "Session token expired"
    sim.configure(session_ttl_s=None)
    token = login(sim)
    assert sim.expire_sessions() == 2
    assert failure(httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": token}), 401) == \
        "Session token expired"
    assert httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": login(sim)}).status_code == 200


@pytest.mark.parametrize("collection", list(PATHS))
def test_offset_paging_walks_every_record_once_and_matches_truth(upkeep, collection: str) -> None:
    sim = upkeep()
    with session(sim) as http:
        records = read_all(http, PATHS[collection], limit=7)
        default = http.get(PATHS[collection]).json()["results"]
    assert records == sim.truth(collection) and len({r["id"] for r in records}) == len(records)
    assert len(records) == len(sim.records(collection)) > 7
    assert default == records[:25], "limit defaults to 25"


def test_records_have_upkeep_shapes_and_consistent_references(upkeep) -> None:
    sim = upkeep()
    assets = {a["id"]: a for a in sim.truth("assets")}
    schedules = {s["id"]: s for s in sim.truth("schedules")}
    for asset in assets.values():
        assert len(asset["id"]) == 10 and DATE.match(asset["createdAt"]) and DATE.match(asset["updatedAt"])
        assert asset["status"] in {"active", "inactive"} and asset["serialNumber"] and asset["barcode"]
    orders = sim.truth("work_orders")
    assert {o["status"] for o in orders} == {"open", "inProgress", "onHold", "complete"}
    assert {o["priority"] for o in orders} == {0, 1, 2, 3}
    assert {o["category"] for o in orders} <= {"Preventive", "Mechanical", "Damage", "Inspection", "Project"}
    for order in orders:
        assert order["asset"] in assets and order["location"] == assets[order["asset"]]["location"]
        assert (order["dateCompleted"] is not None) == (order["status"] == "complete")
        assert order["preventiveMaintenance"] is None or order["preventiveMaintenance"] in schedules
    assert any(o["preventiveMaintenance"] for o in orders)
    for schedule in schedules.values():
        assert schedule["asset"] in assets and schedule["repeatUnit"] in {"day", "week", "month", "year"}
        factor = {"day": 1, "week": 7, "month": 30, "year": 365}[schedule["repeatUnit"]]
        neutral = next(r for r in sim.records("schedules") if sim.object_id("schedules", r["id"]) == schedule["id"])
        assert schedule["repeatEvery"] * factor == neutral["interval_days"]


def test_limit_and_offset_are_checked(upkeep) -> None:
    sim = upkeep()
    with session(sim) as http:
        assert failure(http.get("/assets", params={"limit": 101}), 400) == "limit must be at most 100"
        assert "offset" in failure(http.get("/assets", params={"offset": -1}), 400)
        assert "limit" in failure(http.get("/assets", params={"limit": "ten"}), 400)
        assert http.get("/assets", params={"limit": 100}).status_code == 200


def test_past_the_end_is_empty_or_404_with_the_knob(upkeep) -> None:
    sim = upkeep()
    with session(sim) as http:
        past = http.get("/work-orders", params={"offset": 10_000})
        assert past.status_code == 200 and past.json() == {"success": True, "results": []}
        sim.configure(empty_page_404=True)
        assert failure(http.get("/work-orders", params={"offset": 10_000}), 404) == "No records found"
        records = read_all(http, "/work-orders", limit=10)
    assert records == sim.truth("work_orders")
    assert sim.stats()["not_found"] >= 1


def test_updated_after_filter_sees_changes_only(upkeep) -> None:
    sim = upkeep()
    before = max(datetime.fromisoformat(o["updatedAt"].replace("Z", "+00:00")) for o in sim.truth("work_orders"))
    changed = sim.change("work_orders", count=3)
    as_ms = str(int(before.timestamp() * 1000))
    with session(sim) as http:
        by_ms = read_all(http, "/work-orders", limit=2, updatedAtGreaterThan=as_ms)
        by_iso = read_all(http, "/work-orders", limit=50, updatedAtGreaterThan=before.isoformat())
        older = read_all(http, "/work-orders", limit=100, updatedAtLessThan=str(int(as_ms) + 1))
        assert "updatedAtGreaterThan" in failure(http.get("/work-orders", params={"updatedAtGreaterThan": "x"}), 400)
    expected = [sim.object_id("work_orders", i) for i in changed]
    assert [o["id"] for o in by_ms] == expected == [o["id"] for o in by_iso]
    assert len(older) == len(sim.truth("work_orders")) - 3


def test_asset_filter_on_work_orders(upkeep) -> None:
    sim = upkeep()
    asset = sim.truth("assets")[3]["id"]
    with session(sim) as http:
        mine = read_all(http, "/work-orders", limit=100, asset=asset)
        assert http.get("/work-orders", params={"asset": "nosuchasset"}).json()["results"] == []
    assert mine and mine == [o for o in sim.truth("work_orders") if o["asset"] == asset]


def test_changes_and_deletes_are_visible(upkeep) -> None:
    sim = upkeep()
    first = sim.truth("assets")
    changed = sim.change("assets", count=2)
    deleted = sim.delete("assets", count=3)
    with session(sim) as http:
        now = read_all(http, "/assets", limit=100)
    ids = {a["id"] for a in now}
    assert len(now) == len(first) - 3 and not ids & {sim.object_id("assets", i) for i in deleted}
    renamed = {a["id"]: a["name"] for a in now}
    for record_id in set(changed) - set(deleted):
        assert "(rev " in renamed[sim.object_id("assets", record_id)]
    assert sim.delete("assets", ids=deleted) == []


def test_create_work_order(upkeep) -> None:
    sim = upkeep()
    asset = sim.truth("assets")[0]
    count = len(sim.truth("work_orders"))
    with session(sim) as http:
        created = http.post("/work-orders", json={"title": "Fix the pump", "priority": 3, "category": "Damage",
                                                   "asset": asset["id"], "dueDate": "2026-12-31T00:00:00Z"})
        assert created.status_code == 200, created.text
        result = created.json()["result"]
        assert failure(http.post("/work-orders", json={"priority": 1}), 400) == "title is required"
        assert "priority" in failure(http.post("/work-orders", json={"title": "x", "priority": 9}), 400)
        assert "does not exist" in failure(http.post("/work-orders", json={"title": "x", "asset": "nope"}), 400)
        listed = read_all(http, "/work-orders", limit=100)
    assert result["title"] == "Fix the pump" and result["status"] == "open" and result["priority"] == 3
    assert result["asset"] == asset["id"] and result["dueDate"] == "2026-12-31T00:00:00.000Z"
    assert listed[-1] == result and len(listed) == count + 1
    neutral = sim.records("work_orders")[-1]
    assert neutral["priority"] == 1 and neutral["work_type"] == "emergency"


def test_rate_limit_answers_429_with_retry_after(upkeep) -> None:
    sim = upkeep(rate_limit=0.1, burst=2)
    token = login(sim)
    assert httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": token}).status_code == 200
    throttled = httpx.get(f"{sim.base_url}/assets", headers={"Session-Token": token})
    assert failure(throttled, 429) == "Too many requests" and int(throttled.headers["Retry-After"]) >= 1
    stats = sim.stats()
    assert stats["throttled"] == 1 and stats["requests"] == 3 and stats["per_path"] == {"/auth": 1, "/assets": 2}


@pytest.mark.parametrize("kind", ["503", "500"])
def test_server_error_faults_have_upkeep_bodies(upkeep, kind: str) -> None:
    sim = upkeep()
    with session(sim) as http:
        sim.configure(fault_rate=1.0, fault_kinds=(kind,))
        assert failure(http.get("/assets"), int(kind))
    assert sim.stats()["faults"] == {kind: 1}


def test_truncated_reset_and_hang_faults(upkeep) -> None:
    sim = upkeep(hang_seconds=0.5)
    with session(sim, timeout=2) as http:
        sim.configure(fault_rate=1.0, fault_kinds=("truncated",))
        cut = http.get("/assets")
        assert cut.status_code == 200 and cut.text.startswith('{"success":true,"results":[')
        with pytest.raises(json.JSONDecodeError):
            cut.json()
        sim.configure(fault_kinds=("reset",))
        with pytest.raises(httpx.TransportError):
            http.get("/assets")
        sim.configure(fault_kinds=("hang",))
        with pytest.raises(httpx.ReadTimeout):
            http.get("/assets", timeout=0.1)
        assert http.get("/assets").status_code == 200
    assert sim.stats()["faults"] == {"truncated": 1, "reset": 1, "hang": 2}


def test_random_faults_are_deterministic_and_retries_usually_succeed(upkeep) -> None:
    outcomes = []
    for _ in range(2):
        sim = upkeep(fault_rate=0.3, fault_kinds=("503", "500"))
        with session(sim) as http:
            statuses = [http.get("/assets", params={"limit": 1, "offset": n}).status_code for n in range(60)]
            failed = [n for n, status in enumerate(statuses) if status != 200]
            retried = [http.get("/assets", params={"limit": 1, "offset": n}).status_code == 200 for n in failed]
        outcomes.append(statuses)
        assert 6 <= len(failed) <= 30 and sum(retried) > len(retried) / 2
    assert outcomes[0] == outcomes[1]


def test_same_seed_same_records_other_seed_other_records(upkeep) -> None:
    a, b, c = upkeep(seed=3), upkeep(seed=3), upkeep(seed=4)
    for collection in PATHS:
        assert a.truth(collection) == b.truth(collection)
    assert a.truth("assets") != c.truth("assets")


def test_register_ids_become_asset_codes(upkeep) -> None:
    register = {"Pune Kharadi_BP_01": "Pune Kharadi", "Pune Kharadi_DG_01": "Pune Kharadi", "Jaipur Sitapura_LT_01":
                "Jaipur Sitapura"}
    sim = upkeep(register=register)
    assets = sim.truth("assets")
    assert sorted(a["barcode"] for a in assets) == sorted(register)
    assert {a["barcode"]: a["locationName"] for a in assets} == register


def test_control_endpoints(upkeep) -> None:
    sim = upkeep()
    root = sim.base_url.removesuffix("/api/v2")
    changed = httpx.post(f"{root}/_sim/change", json={"collection": "schedules", "count": 2}).json()["changed"]
    deleted = httpx.post(f"{root}/_sim/delete", json={"collection": "work_orders", "ids": [1, 2]}).json()["deleted"]
    assert len(changed) == 2 and deleted == [1, 2]
    truth = httpx.get(f"{root}/_sim/truth", params={"collection": "work_orders"}).json()["records"]
    assert truth == sim.truth("work_orders") and len(truth) == len(sim.records("work_orders"))
    records = httpx.get(f"{root}/_sim/records", params={"collection": "schedules"}).json()["records"]
    assert {r["id"] for r in records if r["id"] in changed} == set(changed)
    assert httpx.get(f"{root}/_sim/truth", params={"collection": "nope"}).status_code == 400
    assert httpx.post(f"{root}/_sim/delete", json={"collection": "assets"}).status_code == 400
    config = httpx.post(f"{root}/_sim/config", json={"empty_page_404": True}).json()
    assert config["empty_page_404"] is True and "password" not in config and "email" not in config
    assert httpx.post(f"{root}/_sim/config", json={"seed": 99}).status_code == 400
    assert httpx.get(f"{root}/_sim/stats").json()["requests"] == 0


def test_config_is_checked() -> None:
    for bad in ({"session_ttl_s": 0}, {"default_limit": 500}, {"password": ""}, {"fault_kinds": ("boom",)}):
        with pytest.raises(ValueError):
            UpKeepSimConfig(**bad)


# -- the command line ----------------------------------------------------------------------------------


def test_serve_logs_a_banner_without_the_password(caplog) -> None:
    port, stop = free_port(), threading.Event()
    caplog.set_level(logging.INFO, logger="ic3_pipeline.sandbox.record_api")
    config = UpKeepSimConfig(email=EMAIL, password=PASSWORD, assets_per_site=3)
    server = threading.Thread(target=serve, args=(config,), kwargs={"port": port, "stop_event": stop})
    server.start()
    try:
        deadline = time.monotonic() + 10
        while not any("UpKeep simulator at" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        response = httpx.post(f"http://127.0.0.1:{port}/api/v2/auth", json={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 200
    finally:
        stop.set()
        server.join(5)
    assert f"127.0.0.1:{port}/api/v2" in caplog.text and PASSWORD not in caplog.text


def test_cli_simulate_upkeep_takes_its_login_from_the_environment() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v2"

    def probe() -> list[dict[str, Any]]:
        response = httpx.post(f"{url}/auth", json={"email": "cli@example.com", "password": "cli-secret-789"})
        assert response.status_code == 200, response.text
        token = response.json()["result"]["sessionToken"]
        return httpx.get(f"{url}/assets", params={"limit": 100}, headers={"Session-Token": token}).json()["results"]

    assets, output = run_simulate(
        ["upkeep", "--port", str(port), "--sites", "Alpha,Beta", "--assets-per-site", "4", "--seed", "3"],
        {"UPKEEP_EMAIL": "cli@example.com", "UPKEEP_PASSWORD": "cli-secret-789"}, probe, "UpKeep simulator at")
    assert len(assets) == 8 and {a["locationName"] for a in assets} == {"Alpha", "Beta"}
    assert "cli-secret-789" not in output and f"127.0.0.1:{port}/api/v2" in output


def test_cli_simulate_with_a_register_serves_its_assets(sample_register) -> None:
    from ic3_pipeline.register.launch import register_sites

    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v2"

    def probe() -> list[dict[str, Any]]:
        token = httpx.post(f"{url}/auth", json={"email": "sim@example.com", "password": "sim-password"}).json()
        session_header = {"Session-Token": token["result"]["sessionToken"]}
        return [a for offset in (0, 100) for a in httpx.get(
            f"{url}/assets", params={"limit": 100, "offset": offset}, headers=session_header).json()["results"]]

    assets, _ = run_simulate(["upkeep", "--port", str(port), "--register", str(sample_register)],
                             {"UPKEEP_EMAIL": "", "UPKEEP_PASSWORD": ""}, probe, "UpKeep simulator at")
    assert {a["barcode"]: a["locationName"] for a in assets} == register_sites(sample_register)


def test_scripted_5xx_burst_then_normal_answers(upkeep) -> None:
    sim = upkeep()
    root = sim.base_url.removesuffix("/api/v2")
    with session(sim) as http:
        scripted = httpx.post(f"{root}/_sim/faults", json={"kinds": ["503", "503", "500", "ok", "reset"]})
        assert scripted.status_code == 200
        statuses = [http.get("/assets", params={"offset": n}).status_code for n in range(4)]
        with pytest.raises(httpx.TransportError):
            http.get("/assets")
        assert http.get("/assets").status_code == 200
    assert statuses == [503, 503, 500, 200]
    assert sim.stats()["faults"] == {"503": 2, "500": 1, "reset": 1}
    assert httpx.post(f"{root}/_sim/faults", json={"kinds": ["boom"]}).status_code == 400
    sim.script_faults(["503"])
    sim.reset_stats()
    with session(sim) as http:
        assert http.get("/assets").status_code == 200, "reset_stats forgets unused scripted faults"


def test_a_5xx_on_create_applies_nothing_a_reset_applies_the_write(upkeep) -> None:
    sim = upkeep()
    count = len(sim.records("work_orders"))
    with session(sim) as http:
        sim.script_faults(["503"])
        assert http.post("/work-orders", json={"title": "Lost"}).status_code == 503
        assert len(sim.records("work_orders")) == count
        sim.script_faults(["reset"])
        with pytest.raises(httpx.TransportError):
            http.post("/work-orders", json={"title": "Applied, answer lost"})
    assert [r["title"] for r in sim.records("work_orders")[count:]] == ["Applied, answer lost"]
