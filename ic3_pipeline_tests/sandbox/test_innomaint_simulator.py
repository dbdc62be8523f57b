"""The Innomaint simulator, exercised the way the product meets it: real HTTP over loopback with httpx.

The checks on bodies come from shared/reference/innomaint-api.md, not from the product's parsers.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx
import pytest

from ic3_pipeline.sandbox.innomaint_simulator import API_PATH, InnomaintSimulator, SimulatorConfig, serve

TOKEN = "sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

SITES = ["Delhi Cantt Naraina", "Okhla Phase.2", "Rohini/Sec 9", "Chandni Chowk ü", 'Jal "Vihar"']
NASTY_IDS = ["Delhi Cantt Naraina_BP_01", "A/B.C D_01", "Pümp—ü_7", 'Quote "x"_2', "  padded _9 ", "back\\slash_1"]

# Keys of the reference's sample response; the simulator must send at least these in `data`, exactly these elsewhere.
DATA_KEYS = {
    "id", "traceid", "serialnumber", "barcode", "criticality", "capacity_rating", "customer_id", "customer_name",
    "location_id", "location_name", "building_id", "building_name", "floor_id", "floor_name", "department_id",
    "department_name", "asset_floor_id", "asset_building_id", "asset_department_id", "installation_date",
    "ticketcount", "schedulecount", "schedule_configured", "schedule_initiate", "in_charge_person",
    "iot_device_mapped", "status", "asset_live_status", "traceability_updated_on",
    "fk_customers_equipment_mapping_id", "customers_locations_serialnumber_mapping_id", "customer_traceability_id",
    "customer_model_id", "location_traceability_id", "location_model_id",
}
OPTIONAL_DATA_KEYS = {
    "mapping_status", "traceability_status", "year_of_manufacturing", "is_loaner", "is_ble_tracking",
    "is_rfid_tracking", "is_qr_tracking", "is_tracking_enabled", "latitude", "longitude", "address",
    "amc_id", "amc_start_date", "amc_end_date",
}
PERFORMANCE_KEYS = {
    "equipments_name", "equipment_model_name", "criticality_type_label", "total_ticket", "mttr", "mtbf",
    "availability", "total_ticket_breakdown_hrs", "total_schedule_breakdown_hrs", "asset_created_date",
    "total_actual_hrs",
}
DURATION_KEYS = ("mttr", "mtbf", "total_ticket_breakdown_hrs", "total_schedule_breakdown_hrs", "total_actual_hrs")
WORKORDER_KEYS = {
    "work_estimate_count", "work_estimate_cost", "schedule_count", "schedule_cost", "ticket_count", "ticket_cost",
}
DURATION = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d)$")
CREATED = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}$")
PERCENT = re.compile(r"^\d{1,3}(\.\d{1,2})?$")


def register(count: int = 300) -> tuple[list[str], dict[str, str]]:
    """A register of ids over a few sites, plus the nasty ids (their site comes from the default rule)."""
    ids = [f"{SITES[n % len(SITES)]}_{('BP', 'LT', 'VFD')[n % 3]}_{n:03d}" for n in range(count)]
    sites = {asset_id: asset_id.split("_", 1)[0] for asset_id in ids}
    return ids + NASTY_IDS, sites


@pytest.fixture
def make_sim() -> Iterator[Callable[..., InnomaintSimulator]]:
    """Starts simulators on free ports and always stops them, so a failing test leaks no server thread."""
    started: list[InnomaintSimulator] = []

    def factory(ids: list[str] | None = None, sites: dict[str, str] | None = None, **knobs) -> InnomaintSimulator:
        if ids is None:
            ids, sites = register(30)
        sim = InnomaintSimulator(ids, SimulatorConfig(**knobs), sites=sites)
        sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


def client(sim: InnomaintSimulator, timeout: float = 5.0, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.Client(base_url=sim.base_url, headers=headers, timeout=timeout)


def fetch(http: httpx.Client, asset_id: str, **kwargs) -> httpx.Response:
    return http.post(API_PATH, json={"serialnumber": asset_id}, **kwargs)


def hours(duration: str) -> int:
    return int(duration.split(":")[0])


def is_count(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())


# -- success bodies ----------------------------------------------------------------------------------


def check_shape(body: dict, asset_id: str) -> None:
    """One success body against the reference: envelope, keys and the types the reference allows."""
    assert body["status"] is True and body["response_code"] == 200
    assert set(body) == {"status", "response_code", "response"}
    assert set(body["response"]) == {"data", "performance", "workorder_transactional"}
    data, perf, orders = (body["response"][k] for k in ("data", "performance", "workorder_transactional"))
    assert DATA_KEYS <= set(data) <= DATA_KEYS | OPTIONAL_DATA_KEYS
    assert data["serialnumber"] == asset_id
    assert isinstance(data["id"], int) and data["traceid"] == data["id"]
    assert is_count(data["ticketcount"]) and is_count(data["schedulecount"])
    assert data["installation_date"] is None or isinstance(data["installation_date"], str)
    assert set(perf) == PERFORMANCE_KEYS
    for key in DURATION_KEYS:
        assert perf[key] in ("0", "", None) or DURATION.match(perf[key]), (key, perf[key])
    assert perf["availability"] is None or PERCENT.match(perf["availability"])
    assert perf["asset_created_date"] is None or CREATED.match(perf["asset_created_date"])
    assert set(orders) == {"upto", "last_year"}
    for period in orders.values():
        assert set(period) == WORKORDER_KEYS and all(isinstance(v, str) for v in period.values())
        assert all(float(v) >= 0 for v in period.values())


def test_success_bodies_follow_the_reference_and_are_nasty(make_sim) -> None:
    ids, sites = register(300)
    sim = make_sim(ids, sites)
    bodies = {}
    with client(sim) as http:
        for asset_id in ids:
            response = fetch(http, asset_id)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/json")
            bodies[asset_id] = response.json()
            check_shape(bodies[asset_id], asset_id)
            assert bodies[asset_id] == sim.expected_record(asset_id)

    datas = [b["response"]["data"] for b in bodies.values()]
    perfs = [b["response"]["performance"] for b in bodies.values()]
    durations = [p[k] for p in perfs for k in DURATION_KEYS]
    assert any(isinstance(d, str) and DURATION.match(d) and hours(d) > 24 for d in durations)
    assert {"0", "", None} <= set(durations)
    assert any(p["availability"] is None for p in perfs) and "100" in {p["availability"] for p in perfs}
    assert any(p["asset_created_date"] is None for p in perfs)
    assert any(isinstance(d["ticketcount"], str) for d in datas) and any(isinstance(d["ticketcount"], int) for d in datas)
    assert any(isinstance(d["schedulecount"], str) for d in datas)
    assert any(d["installation_date"] is None for d in datas) and any(d["installation_date"] for d in datas)
    for key in ("mapping_status", "year_of_manufacturing", "is_loaner", "latitude", "amc_id"):
        assert any(key in d for d in datas) and any(key not in d for d in datas), key
    assert any(d.get("year_of_manufacturing", 0) is None for d in datas)


def test_performance_figures_are_consistent(make_sim) -> None:
    """mttr = breakdown / tickets and availability = uptime share, as in the reference sample."""
    ids, sites = register(120)
    sim = make_sim(ids, sites)
    checked = 0
    for asset_id in ids:
        perf = sim.expected_record(asset_id)["response"]["performance"]
        tickets, mttr, breakdown = perf["total_ticket"], perf["mttr"], perf["total_ticket_breakdown_hrs"]
        if int(tickets) and all(isinstance(v, str) and DURATION.match(v) for v in (mttr, breakdown)):
            assert abs(secs_of(mttr) - secs_of(breakdown) / int(tickets)) < 1
            checked += 1
    assert checked > 20


def secs_of(duration: str) -> int:
    h, m, s = (int(part) for part in duration.split(":"))
    return h * 3600 + m * 60 + s


def test_same_seed_gives_byte_identical_bodies(make_sim) -> None:
    ids, sites = register(20)
    first, second = make_sim(ids, sites, seed=11), make_sim(list(reversed(ids)), sites, seed=11)
    other = make_sim(ids, sites, seed=12)
    with client(first) as a, client(second) as b, client(other) as c:
        for asset_id in ids[:10] + NASTY_IDS:
            assert fetch(a, asset_id).content == fetch(b, asset_id).content
        assert fetch(a, ids[0]).content != fetch(c, ids[0]).content


def test_assets_of_one_site_share_location_and_building(make_sim) -> None:
    ids, sites = register(200)
    sim = make_sim(ids, sites)
    by_site: dict[str, list[dict]] = {}
    for asset_id in ids[:200]:
        by_site.setdefault(sites[asset_id], []).append(sim.expected_record(asset_id)["response"]["data"])
    buildings = set()
    floor_names, department_floors = {}, {}
    for site, datas in by_site.items():
        assert len({(d["location_id"], d["building_id"], d["customer_id"]) for d in datas}) == 1
        assert {d["location_name"] for d in datas} == {site}
        assert 1 <= len({d["floor_id"] for d in datas}) <= 3
        assert 1 <= len({d["department_id"] for d in datas}) <= 9
        buildings.add(datas[0]["building_id"])
        for d in datas:
            assert floor_names.setdefault(d["floor_id"], d["floor_name"]) == d["floor_name"]
            assert department_floors.setdefault(d["department_id"], d["floor_id"]) == d["floor_id"]
    assert len(buildings) == len(by_site)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_bad_or_missing_token_is_401(make_sim, token: str | None) -> None:
    sim = make_sim()
    with client(sim, token=token) as http:
        response = fetch(http, NASTY_IDS[0])
    assert response.status_code == 401
    assert response.json() == {"status": False, "response_code": 401, "message": response.json()["message"]}
    assert sim.stats()["unauthorized"] == 1


def test_wrong_auth_scheme_is_401(make_sim) -> None:
    sim = make_sim()
    response = httpx.post(sim.base_url + API_PATH, json={"serialnumber": "x"}, headers={"Authorization": TOKEN})
    assert response.status_code == 401


@pytest.mark.parametrize("content", [b"not json", b"{}", b"[1, 2]", b'{"serialnumber": 42}', b'{"serialnumber": ""}'])
def test_bad_body_is_400(make_sim, content: bytes) -> None:
    sim = make_sim()
    with client(sim) as http:
        response = http.post(API_PATH, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] is False and response.json()["response_code"] == 400
    assert sim.stats()["bad_request"] == 1


def test_unknown_and_missing_ids_are_404(make_sim) -> None:
    ids, sites = register(300)
    sim = make_sim(ids, sites, missing_ids=frozenset({ids[0]}), missing_fraction=0.2)
    with client(sim) as http:
        for asset_id in ("not in the register", NASTY_IDS[4].strip(), ids[0]):
            response = fetch(http, asset_id)
            assert response.status_code == 404
            assert response.json()["response_code"] == 404 and response.json()["status"] is False
    missing = [asset_id for asset_id in ids if sim.is_missing(asset_id)]
    assert 0.12 < len(missing) / len(ids) < 0.3
    twin = make_sim(ids, sites, missing_fraction=0.2)
    assert [a for a in ids[1:] if twin.is_missing(a)] == [a for a in missing if a != ids[0]]
    with client(sim) as http:
        assert fetch(http, missing[-1]).status_code == 404
        present = next(a for a in ids if not sim.is_missing(a))
        assert fetch(http, present).status_code == 200
    assert sim.stats()["not_found"] == 4 and sim.stats()["ok"] == 1


# -- rate limit --------------------------------------------------------------------------------------


def test_429_retry_after_in_seconds(make_sim) -> None:
    sim = make_sim(rate_limit=0.5, burst=1)
    with client(sim) as http:
        assert fetch(http, NASTY_IDS[0]).status_code == 200
        response = fetch(http, NASTY_IDS[0])
    assert response.status_code == 429
    assert response.headers["Retry-After"] in {"1", "2"}
    assert response.json()["response_code"] == 429
    assert sim.stats()["throttled"] == 1


def test_429_retry_after_as_http_date(make_sim) -> None:
    sim = make_sim(rate_limit=0.5, burst=1, retry_after="http-date")
    with client(sim) as http:
        fetch(http, NASTY_IDS[0])
        response = fetch(http, NASTY_IDS[0])
    assert response.status_code == 429
    header = response.headers["Retry-After"]
    assert header.endswith(" GMT")
    wait = (parsedate_to_datetime(header) - datetime.now(timezone.utc)).total_seconds()
    assert 0 < wait <= 4


def test_429_without_retry_after(make_sim) -> None:
    sim = make_sim(rate_limit=0.5, burst=1, retry_after="none", latency_ms=30_000)
    with client(sim) as http:
        with pytest.raises(httpx.ReadTimeout):
            fetch(http, NASTY_IDS[0], timeout=1.0)  # an accepted request waits out the 30 s latency
        response = fetch(http, NASTY_IDS[0], timeout=10.0)  # a throttled one is answered at once, no latency
    assert response.status_code == 429 and "Retry-After" not in response.headers


def test_429_retry_after_mixed_is_sometimes_absent_and_the_same_for_a_seed(make_sim) -> None:
    """ "mixed": about half the 429s carry no Retry-After, the others whole seconds - the same ones for a seed."""
    def styles(seed: int) -> list[str | None]:
        sim = make_sim(rate_limit=0.1, burst=1, retry_after="mixed", seed=seed)
        with client(sim) as http:
            fetch(http, NASTY_IDS[0])
            answers = [fetch(http, NASTY_IDS[0]) for _ in range(40)]
        assert {a.status_code for a in answers} == {429}
        return [a.headers.get("Retry-After") for a in answers]

    first = styles(7)
    assert 8 <= first.count(None) <= 32
    assert {value for value in first if value is not None} <= {str(n) for n in range(1, 12)}
    assert styles(7) == first


@pytest.mark.parametrize("style", ["ietf", "ietf-structured", "x"])
def test_rate_limit_headers_state_the_bucket_and_its_sustained_rate(make_sim, style: str) -> None:
    """A 20/s bucket holding 100: the policy is 100 per 5 s (20/s whatever the burst); Remaining counts down."""
    sim = make_sim(rate_limit=20, burst=100, rate_limit_headers=style)
    with client(sim) as http:
        first, second = fetch(http, NASTY_IDS[0]), fetch(http, NASTY_IDS[0])
    headers = first.headers
    if style == "ietf":
        assert headers["RateLimit-Policy"] == "100;w=5" and headers["RateLimit-Limit"] == "100"
        remaining = [int(r.headers["RateLimit-Remaining"]) for r in (first, second)]
        assert 0 <= int(headers["RateLimit-Reset"]) <= 5
    elif style == "ietf-structured":
        assert headers["RateLimit-Policy"] == '"bucket";q=100;w=5'
        remaining = [int(re.search(r";r=(\d+)", r.headers["RateLimit"]).group(1)) for r in (first, second)]
    else:
        assert headers["X-RateLimit-Limit"] == "100"
        remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in (first, second)]
        assert 0 <= int(headers["X-RateLimit-Reset"]) - time.time() <= 6  # a Unix time
    assert remaining[0] == 99 and remaining[1] in (98, 99)


def test_no_rate_limit_headers_by_default(make_sim) -> None:
    sim = make_sim(rate_limit=20)
    with client(sim) as http:
        response = fetch(http, NASTY_IDS[0])
    assert not [name for name in response.headers if "ratelimit" in name.lower()]


def test_accepted_rate_stays_within_rate_plus_burst(make_sim) -> None:
    ids, sites = register(40)
    sim = make_sim(ids, sites, rate_limit=20, burst=5)
    statuses: list[int] = []
    lock = threading.Lock()
    started = time.monotonic()

    def hammer(offset: int) -> None:
        with client(sim) as http:
            n = offset
            while time.monotonic() - started < 2.0:
                code = fetch(http, ids[n % len(ids)]).status_code
                with lock:
                    statuses.append(code)
                n += 4

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(hammer, range(4)))
    elapsed = time.monotonic() - started
    accepted = statuses.count(200)
    assert accepted <= 20 * elapsed + 5
    assert accepted >= 20 * 1.5, "the limiter should accept about rate_limit per second"
    assert statuses.count(429) > 0 and set(statuses) == {200, 429}
    stats = sim.stats()
    assert (stats["ok"], stats["throttled"], stats["requests"]) == (accepted, statuses.count(429), len(statuses))
    assert stats["peak_rate_1s"] > 25


# -- faults ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "502", "503", "429"])
def test_scripted_status_faults(make_sim, kind: str) -> None:
    sim = make_sim()
    asset_id = NASTY_IDS[1]
    sim.script_faults(asset_id, [kind, kind])
    with client(sim) as http:
        assert [fetch(http, asset_id).status_code for _ in range(3)] == [int(kind), int(kind), 200]
    assert sim.stats()["faults"] == {kind: 2}


def test_scripted_malformed_body(make_sim) -> None:
    sim = make_sim()
    sim.script_faults(NASTY_IDS[0], ["malformed"])
    with client(sim) as http:
        response = fetch(http, NASTY_IDS[0])
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_scripted_truncated_body(make_sim) -> None:
    sim = make_sim()
    sim.script_faults(NASTY_IDS[0], ["truncated"])
    with client(sim) as http:
        response = fetch(http, NASTY_IDS[0])
    full = json.dumps(sim.expected_record(NASTY_IDS[0]), separators=(",", ":")).encode()
    assert response.status_code == 200
    assert full.startswith(response.content) and 0 < len(response.content) < len(full)
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_scripted_status_false(make_sim) -> None:
    sim = make_sim()
    sim.script_faults(NASTY_IDS[0], ["status_false"])
    with client(sim) as http:
        response = fetch(http, NASTY_IDS[0])
    assert response.status_code == 200
    assert response.json()["status"] is False and response.json()["response_code"] == 500


def test_scripted_reset_is_a_transport_error(make_sim) -> None:
    sim = make_sim()
    sim.script_faults(NASTY_IDS[2], ["reset"])
    with client(sim) as http:
        with pytest.raises(httpx.TransportError):
            fetch(http, NASTY_IDS[2])
        assert fetch(http, NASTY_IDS[2]).status_code == 200
    assert sim.stats()["faults"] == {"reset": 1}


def test_scripted_hang_times_out_then_answers_when_patient(make_sim) -> None:
    sim = make_sim(hang_seconds=0.6)
    sim.script_faults(NASTY_IDS[0], ["hang", "hang"])
    with client(sim) as http:
        with pytest.raises(httpx.ReadTimeout):
            fetch(http, NASTY_IDS[0], timeout=0.2)
        started = time.monotonic()
        response = fetch(http, NASTY_IDS[0], timeout=3)
    assert response.status_code == 200 and response.json() == sim.expected_record(NASTY_IDS[0])
    assert time.monotonic() - started >= 0.55
    stats = sim.stats()
    assert stats["faults"] == {"hang": 2} and stats["ok"] == 1, "an answer nobody waited for is not counted ok"


def test_script_faults_rejects_unknown_kinds(make_sim) -> None:
    sim = make_sim()
    with pytest.raises(ValueError):
        sim.script_faults("x", ["504"])
    with pytest.raises(TypeError):
        sim.script_faults("x", "503")


def test_script_can_interleave_normal_answers(make_sim) -> None:
    sim = make_sim()
    sim.script_faults(NASTY_IDS[0], ["503", "ok", "502"])
    with client(sim) as http:
        assert [fetch(http, NASTY_IDS[0]).status_code for _ in range(4)] == [503, 200, 502, 200]


def test_random_faults_are_deterministic_and_retries_usually_succeed(make_sim) -> None:
    ids, sites = register(200)
    outcomes = []
    for _ in range(2):
        sim = make_sim(ids, sites, fault_rate=0.3, fault_kinds=("503", "status_false"))
        with client(sim) as http:
            failed = [a for a in ids[:200] if not succeeded(fetch(http, a))]
            retried = [succeeded(fetch(http, a)) for a in failed]
        outcomes.append(failed)
        assert 0.18 < len(failed) / 200 < 0.42
        assert sum(retried) / len(retried) > 0.5
        assert set(sim.stats()["faults"]) == {"503", "status_false"}
    assert outcomes[0] == outcomes[1]


def succeeded(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json()["status"] is True


# -- stats, control, lifecycle -----------------------------------------------------------------------


def test_stats_count_what_the_server_saw(make_sim) -> None:
    sim = make_sim()
    assert sim.stats()["requests"] == 0 and sim.stats()["first_request_at"] is None
    before = time.time()
    with client(sim) as http, client(sim, token="nope") as intruder:
        fetch(http, NASTY_IDS[0])
        fetch(http, NASTY_IDS[0])
        fetch(http, "unknown")
        fetch(intruder, NASTY_IDS[3])
        http.post(API_PATH, content=b"nope")
        sim.script_faults(NASTY_IDS[1], ["502"])
        fetch(http, NASTY_IDS[1])
        over_http = http.get("/_sim/stats").json()
    stats = sim.stats()
    assert over_http == stats
    expected = {"requests": 6, "ok": 2, "throttled": 0, "unauthorized": 1, "not_found": 1, "bad_request": 1}
    assert {k: stats[k] for k in expected} == expected
    assert stats["faults"] == {"502": 1}
    assert stats["hits"] == {NASTY_IDS[0]: 2, "unknown": 1, NASTY_IDS[3]: 1, NASTY_IDS[1]: 1}
    assert stats["peak_rate_1s"] == 6
    assert before <= stats["first_request_at"] <= stats["last_request_at"] <= time.time()

    sim.reset_stats()
    assert sim.stats()["requests"] == 0 and sim.stats()["hits"] == {}
    with client(sim) as http:
        fetch(http, NASTY_IDS[0])
        assert http.post("/_sim/reset").status_code == 200
    assert sim.stats()["requests"] == 0 and sim.stats()["last_request_at"] is None


def test_configure_at_runtime(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        assert fetch(http, NASTY_IDS[0]).status_code == 200
        sim.configure(fault_rate=1.0, fault_kinds=("503",))
        assert fetch(http, NASTY_IDS[0]).status_code == 503
        response = http.post("/_sim/config", json={"fault_rate": 0, "missing_ids": [NASTY_IDS[1]]})
        assert response.status_code == 200 and TOKEN not in response.text
        assert response.json()["missing_ids"] == [NASTY_IDS[1]]
        assert fetch(http, NASTY_IDS[0]).status_code == 200
        assert fetch(http, NASTY_IDS[1]).status_code == 404
        assert http.post("/_sim/config", json={"no_such_knob": 1}).status_code == 400
        assert http.post("/_sim/config", json={"fault_kinds": ["teapot"]}).status_code == 400
        sim.configure(token="rotated-token")
        assert fetch(http, NASTY_IDS[0]).status_code == 401
    with pytest.raises(ValueError):
        sim.configure(retry_after="minutes")
    assert sim.config.retry_after == "seconds"


def test_latency_is_added_and_requests_overlap(make_sim) -> None:
    sim = make_sim(latency_ms=300)

    def timed(asset_id: str) -> tuple[float, float]:
        with client(sim) as http:
            started = time.monotonic()
            assert fetch(http, asset_id).status_code == 200
            return started, time.monotonic()

    with ThreadPoolExecutor(8) as pool:
        spans = list(pool.map(timed, [NASTY_IDS[0]] * 8))
    assert min(end - start for start, end in spans) >= 0.29
    # Latency must not serialise requests: some answers were in flight at the same time (no wall-clock bound,
    # which a loaded machine would break).
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, "latency must not serialise requests"


def test_stop_frees_the_port_and_cuts_hangs_short(make_sim) -> None:
    sim = InnomaintSimulator(NASTY_IDS, SimulatorConfig(hang_seconds=30))
    with sim:
        port = int(sim.base_url.rsplit(":", 1)[1])
        sim.script_faults(NASTY_IDS[0], ["hang"])
        hanging = threading.Thread(target=lambda: _ignore_errors(sim.base_url), daemon=True)
        hanging.start()
        time.sleep(0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 3
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    with pytest.raises(httpx.ConnectError):
        httpx.post(sim.base_url + API_PATH, json={"serialnumber": "x"}, timeout=1)
    again = make_sim(NASTY_IDS)
    assert again.base_url != ""


def _ignore_errors(base_url: str) -> None:
    try:
        httpx.post(base_url + API_PATH, json={"serialnumber": NASTY_IDS[0]}, headers=AUTH, timeout=10)
    except httpx.HTTPError:
        pass


def test_serve_logs_a_banner_without_the_token(caplog) -> None:
    secret = "not-a-real-token-123"
    stop = threading.Event()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.INFO, logger="ic3_pipeline.sandbox.innomaint_simulator")
    server = threading.Thread(
        target=serve, args=(NASTY_IDS, SimulatorConfig(token=secret)), kwargs={"port": port, "stop_event": stop}
    )
    server.start()
    try:
        deadline = time.monotonic() + 5
        while not any("http://127.0.0.1" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        response = httpx.post(
            f"http://127.0.0.1:{port}{API_PATH}", json={"serialnumber": NASTY_IDS[0]},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert response.status_code == 200
    finally:
        stop.set()
        server.join(5)
    banner = [r.getMessage() for r in caplog.records if f"127.0.0.1:{port}" in r.getMessage()]
    assert len(banner) == 1
    assert secret not in caplog.text
