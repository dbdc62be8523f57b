"""The example in-house CMMS simulator, met the way a client meets it: bearer token and cursors over loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from ic3_pipeline.sandbox.inhouse_simulator import InhouseSimConfig, InhouseSimulator
from ic3_pipeline_tests.simulators.conftest import free_port, run_simulate

TOKEN = "tok-inhouse-123"
PATHS = {"assets": "/assets", "work_orders": "/work-orders"}


@pytest.fixture
def inhouse(start_sim) -> Callable[..., InhouseSimulator]:
    def factory(**knobs: Any) -> InhouseSimulator:
        knobs.setdefault("token", TOKEN)
        return start_sim(InhouseSimulator, **knobs)
    return factory


def client(sim: InhouseSimulator, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)


def read_all(http: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    records, pages, cursor = [], 0, None
    while True:
        response = http.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "next_cursor"}
        records += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return records, pages


def problem(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and set(body) == {"error", "message"}
    return body["message"]


def test_bearer_token_accepted_and_refused(inhouse) -> None:
    sim = inhouse()
    with client(sim) as http:
        assert http.get("/assets").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        refused = httpx.get(f"{sim.base_url}/assets", headers=headers)
        assert "bearer token" in problem(refused, 401, "unauthorized")
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert sim.stats()["unauthorized"] == 3


@pytest.mark.parametrize("collection", list(PATHS))
def test_cursor_paging_walks_every_record_once(inhouse, collection: str) -> None:
    sim = inhouse()
    with client(sim) as http:
        records, pages = read_all(http, PATHS[collection], limit=7)
        default = http.get(PATHS[collection]).json()
    assert records == sim.truth(collection) and len({r["id"] for r in records}) == len(records)
    assert pages == -(-len(records) // 7) and default["data"] == records[:50]


def test_deletes_between_pages_shift_nothing(inhouse) -> None:
    sim = inhouse()
    with client(sim) as http:
        first = http.get("/work-orders", params={"limit": 10}).json()
        doomed = [r["id"] for r in sim.records("work_orders")[:5]] + [r["id"] for r in sim.records("work_orders")[-2:]]
        sim.delete("work_orders", ids=doomed)
        rest, _ = read_all(http, "/work-orders", limit=10, cursor=first["next_cursor"])
    expected = [r for r in sim.truth("work_orders") if int(r["id"][3:]) > int(first["data"][-1]["id"][3:])]
    assert rest == expected and len(first["data"]) + len(rest) == len(sim.truth("work_orders")) + 5


def test_updated_since_and_changes(inhouse) -> None:
    sim = inhouse()
    latest = max(datetime.fromisoformat(r["updated_at"]) for r in sim.truth("assets"))
    changed = sim.change("assets", count=2)
    with client(sim) as http:
        recent, _ = read_all(http, "/assets", updated_since=(latest + timedelta(seconds=1)).isoformat())
        utc, _ = read_all(http, "/assets", updated_since="2000-01-01T00:00:00Z")
        assert "updated_since" in problem(http.get("/assets", params={"updated_since": "2026-01-01"}), 400,
                                          "bad_request")
    assert [r["id"] for r in recent] == [f"AST-{i:05d}" for i in changed]
    assert all("(rev " in r["name"] for r in recent) and utc == sim.truth("assets")


def test_bad_limit_cursor_and_path(inhouse) -> None:
    sim = inhouse()
    with client(sim) as http:
        assert "limit" in problem(http.get("/assets", params={"limit": 500}), 400, "bad_request")
        assert "limit" in problem(http.get("/assets", params={"limit": "x"}), 400, "bad_request")
        assert problem(http.get("/assets", params={"cursor": "forged!"}), 400, "bad_request") == "Invalid cursor."
        other = http.get("/work-orders", params={"limit": 1}).json()["next_cursor"]
        assert problem(http.get("/assets", params={"cursor": other}), 400, "bad_request") == "Invalid cursor."
        problem(http.get("/schedules"), 404, "not_found")


def test_values(inhouse) -> None:
    sim = inhouse()
    assets = {a["id"]: a for a in sim.truth("assets")}
    for order in sim.truth("work_orders"):
        assert order["asset_id"] in assets and order["site"] == assets[order["asset_id"]]["site"]
        assert order["state"] in {"new", "active", "paused", "done", "void"}
        assert order["priority"] in {f"P{n}" for n in range(1, 6)}
        assert order["kind"] in {"pm", "repair", "breakdown", "inspection", "misc"}
        assert order["updated_at"].endswith("+05:30") and (order["closed_at"] is None) == (order["state"] != "done")


def test_throttling_and_faults(inhouse) -> None:
    sim = inhouse(rate_limit=0.1, burst=1)
    with client(sim, timeout=2) as http:
        assert http.get("/assets").status_code == 200
        throttled = http.get("/assets")
        assert problem(throttled, 429, "rate_limited") and int(throttled.headers["Retry-After"]) >= 1
        sim.configure(rate_limit=None, fault_rate=1.0, fault_kinds=("503",), hang_seconds=0.5)
        problem(http.get("/assets"), 503, "unavailable")
        sim.configure(fault_kinds=("500",))
        problem(http.get("/assets"), 500, "internal")
        sim.configure(fault_kinds=("truncated",))
        with pytest.raises(json.JSONDecodeError):
            http.get("/assets").json()
        sim.configure(fault_kinds=("reset",))
        with pytest.raises(httpx.TransportError):
            http.get("/assets")
        sim.configure(fault_kinds=("hang",))
        with pytest.raises(httpx.ReadTimeout):
            http.get("/assets", timeout=0.1)
    stats = sim.stats()
    assert stats["throttled"] == 1 and stats["faults"] == {"503": 1, "500": 1, "truncated": 1, "reset": 1,
                                                            "hang": 1}
    assert stats["per_path"] == {"/assets": 7}


def test_deterministic_per_seed_and_register_tags(inhouse) -> None:
    a, b, c = inhouse(seed=9), inhouse(seed=9), inhouse(seed=10)
    assert a.truth("work_orders") == b.truth("work_orders") != c.truth("work_orders")
    register = {"Pune Kharadi_BP_01": "Pune Kharadi", "Jaipur Sitapura_LT_01": "Jaipur Sitapura"}
    assert sorted(x["tag"] for x in inhouse(register=register).truth("assets")) == sorted(register)


def test_config_is_checked() -> None:
    for bad in ({"token": ""}, {"default_limit": 0}, {"max_limit": 10}):
        with pytest.raises(ValueError):
            InhouseSimConfig(**bad)


def test_cli_simulate_inhouse_takes_its_token_from_the_environment() -> None:
    port = free_port()
    response, output = run_simulate(
        ["inhouse", "--port", str(port), "--assets-per-site", "2"], {"INHOUSE_API_TOKEN": "cli-inhouse-secret"},
        lambda: httpx.get(f"http://127.0.0.1:{port}/api/assets", headers={"Authorization": "Bearer cli-inhouse-secret"}),
        "In-house CMMS simulator at")
    assert response.status_code == 200 and len(response.json()["data"]) == 4
    assert "cli-inhouse-secret" not in output and f"127.0.0.1:{port}/api" in output


def test_cli_token_option_for_inhouse_only() -> None:
    port = free_port()
    response, _ = run_simulate(
        ["inhouse", "--port", str(port), "--assets-per-site", "1", "--token", "from-option"], {},
        lambda: httpx.get(f"http://127.0.0.1:{port}/api/assets", headers={"Authorization": "Bearer from-option"}),
        "In-house CMMS simulator at")
    assert response.status_code == 200
    from click.testing import CliRunner

    from ic3_pipeline.cli import main

    refused = CliRunner().invoke(main, ["simulate", "fiix", "--token", "x", "--port", str(free_port())])
    assert refused.exit_code == 2 and "--token is for innomaint and inhouse" in refused.output
    assert "$FIIX_SECRET_KEY" in refused.output
