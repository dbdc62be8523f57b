"""Creating a work order in the Maximo simulator with plain httpx, as IBM documents it: ``POST oslc/os/mxapiwodetail``
answered 201 with ``Location``, the record in the body only when a ``properties`` header asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig, MaximoSimulator

KEY = "k-create-123"


@pytest.fixture
def sim() -> Iterator[MaximoSimulator]:
    simulator = MaximoSimulator(MaximoSimConfig(sites=("BEDFORD", "NASHUA"), assets_per_site=5, api_key=KEY))
    simulator.start()
    yield simulator
    simulator.stop()


def post(sim: MaximoSimulator, body, headers: dict[str, str] | None = None, key: str = KEY) -> httpx.Response:
    return httpx.post(sim.base_url + "/oslc/os/mxapiwodetail", params={"lean": "1"}, json=body,
                      headers={"apikey": key, **(headers or {})}, timeout=5)


def test_a_created_work_order_is_201_with_location_and_the_asked_properties_then_readable(sim):
    assetnum = sim.truth("mxapiasset", "BEDFORD")[0]["assetnum"]
    before = {wo["wonum"] for wo in sim.truth("mxapiwodetail", "BEDFORD")}
    answer = post(sim, {"siteid": "BEDFORD", "assetnum": assetnum, "description": "Pump seal leaking",
                        "worktype": "EM", "wopriority": 900}, {"properties": "wonum,siteid,href"})
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"wonum", "siteid", "href"} and body["siteid"] == "BEDFORD"
    assert body["wonum"] not in before and int(body["wonum"]) == max(int(w) for w in before if w.isdigit()) + 1
    assert answer.headers["Location"] == f"{sim.base_url}/{body['href']}"
    [created] = [wo for wo in sim.truth("mxapiwodetail", "BEDFORD") if wo["wonum"] == body["wonum"]]
    assert (created["assetnum"], created["description"], created["worktype"], created["wopriority"],
            created["status"]) == (assetnum, "Pump seal leaking", "EM", 900, "WAPPR")
    listed = httpx.get(sim.base_url + "/oslc/os/mxapiwodetail", headers={"apikey": KEY}, timeout=5, params={
        "lean": "1", "oslc.select": "wonum,assetnum", "oslc.where": f'wonum="{body["wonum"]}"'}).json()
    assert listed["member"][0]["assetnum"] == assetnum
    assert sim.stats()["creates"] == 1 and sim.stats()["created"] == 1


def test_without_properties_the_answer_is_an_empty_201_with_location(sim):
    answer = post(sim, {"siteid": "NASHUA", "description": "Inspect"})
    assert answer.status_code == 201 and answer.content == b""
    assert "/oslc/os/mxapiwodetail/_" in answer.headers["Location"]


@pytest.mark.parametrize(("body", "reason"), [
    ({"description": "no site"}, "BMXAA4195E"),
    ({"siteid": "ELSEWHERE"}, "BMXAA4195E"),
    ({"siteid": "BEDFORD", "assetnum": "NO-SUCH-ASSET"}, "BMXAA2661E"),
    ({"siteid": "BEDFORD", "wopriority": 1000}, "BMXAA4049E"),
    ([1, 2], "BMXAA9549E"),
])
def test_bad_bodies_are_400_error_envelopes_and_create_nothing(sim, body, reason):
    count = len(sim.truth("mxapiwodetail"))
    answer = post(sim, body)
    assert answer.status_code == 400
    assert answer.json()["Error"]["reasonCode"] == reason and answer.json()["Error"]["statusCode"] == "400"
    assert len(sim.truth("mxapiwodetail")) == count and sim.stats()["created"] == 0


def test_a_wrong_key_is_401_and_a_fault_creates_nothing(sim):
    count = len(sim.truth("mxapiwodetail"))
    refused = post(sim, {"siteid": "BEDFORD"}, key="wrong")
    assert refused.status_code == 401 and refused.json()["Error"]["reasonCode"] == "BMXAA0021E"
    assert KEY not in refused.text
    sim.configure(fault_rate=1.0, fault_kinds=("500",))
    failed = post(sim, {"siteid": "BEDFORD"})
    assert failed.status_code == 500 and failed.json()["Error"]["reasonCode"] == "BMXAA4214E"
    assert len(sim.truth("mxapiwodetail")) == count
    assert sim.stats()["unauthorized"] == 1 and sim.stats()["creates"] == 1 and sim.stats()["created"] == 0
