"""The Maximo simulator, exercised the way a client meets it: real HTTP over loopback with plain httpx.

What the answers must look like comes from shared/reference/maximo-api.md, not from the product's client.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig, MaximoSimulator, serve

KEY = "k-test-123"
SITES = ("NASHUA", "BEDFORD")  # insertion order differs from key order, so "no orderBy" is observable
ALL_OS = ("mxapilocations", "mxapiasset", "mxapiwodetail", "mxapiinventory", "mxapidomain", "mxapiperuser",
          "mxapimaxgroup")
KEYS = {
    "mxapilocations": ("siteid", "location"), "mxapiasset": ("siteid", "assetnum"),
    "mxapiwodetail": ("siteid", "wonum"), "mxapiinventory": ("siteid", "itemnum", "location"),
    "mxapidomain": ("domainid",), "mxapiperuser": ("personid",), "mxapimaxgroup": ("groupname",),
}
CHILDREN = {
    "mxapiasset": ("assetmeter", "assetspec", "assetdoclinks", "assetfailure"),
    "mxapiwodetail": ("wolabor", "womaterial", "wotool", "serviceaddress"),
    "mxapiinventory": ("invbalances", "invcost", "itemcondition", "matrectrans", "transfercuritem"),
    "mxapidomain": ("synonymdomain", "alndomain", "numericdomain"),
    "mxapiperuser": ("user", "groupuser"),
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
DATE_ATTRS = ("changedate", "installdate", "reportdate", "schedstart", "actstart", "actfinish", "targstartdate",
              "targcompdate")


@pytest.fixture
def make_sim() -> Iterator[Callable[..., MaximoSimulator]]:
    """Starts simulators on free ports and always stops them, so a failing test leaks no server thread."""
    started: list[MaximoSimulator] = []

    def factory(**knobs: Any) -> MaximoSimulator:
        knobs.setdefault("sites", SITES)
        knobs.setdefault("assets_per_site", 40)
        knobs.setdefault("api_key", KEY)
        sim = MaximoSimulator(MaximoSimConfig(**knobs))
        sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


def client(sim: MaximoSimulator, timeout: float = 5.0, headers: dict[str, str] | None = None) -> httpx.Client:
    """A client rooted at the context root, so relative links resolve as the reference says."""
    return httpx.Client(base_url=sim.base_url + "/", headers={"apikey": KEY} if headers is None else headers,
                        timeout=timeout)


def get(http: httpx.Client, os_name: str, **params: Any) -> httpx.Response:
    return http.get(f"oslc/os/{os_name}", params={k.replace("__", "."): v for k, v in params.items()})


def lean(http: httpx.Client, os_name: str, **params: Any) -> dict[str, Any]:
    response = get(http, os_name, lean=1, **params)
    assert response.status_code == 200, response.text
    return response.json()


def read_all(http: httpx.Client, first: httpx.Response, *, namespaced: bool = False) -> list[dict[str, Any]]:
    """Every member, following nextPage links (relative to the context root, or absolute) to the end."""
    members, response, pages = [], first, 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert pages < 500, "nextPage never ended"
        if namespaced:
            members += body["rdfs:member"]
            link = body["oslc:responseInfo"].get("oslc:nextPage", {}).get("rdf:resource")
        else:
            members += body["member"]
            link = body["responseInfo"].get("nextPage", {}).get("href")
        if link is None:
            return members
        response = http.get(link)


def key_of(os_name: str, member: dict[str, Any]) -> tuple[str, ...]:
    return tuple(member[k] for k in KEYS[os_name])


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The reference's Error envelope, with its string statusCode."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["Error"]
    assert error["statusCode"] == str(status)
    assert re.match(r"^BMXAA\d{4}E$", error["reasonCode"])
    assert error["message"].startswith(error["reasonCode"] + " - ")
    assert "moreInfo" in error["extendedError"]
    return error


# -- the dataset -------------------------------------------------------------------------------------


def test_truth_is_what_a_full_lean_read_with_every_child_returns(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        for os_name in ALL_OS:
            select = ",".join(("*",) + tuple(f"{c}{{*}}" for c in CHILDREN.get(os_name, ())))
            first = get(http, os_name, lean=1, oslc__select=select, oslc__pageSize=17)
            members = read_all(http, first)
            assert sorted(members, key=lambda m: key_of(os_name, m)) == sim.truth(os_name), os_name
            assert len({key_of(os_name, m) for m in members}) == len(members)


def test_truth_per_site_and_sizes(make_sim) -> None:
    sim = make_sim(assets_per_site=12)
    for site in SITES:
        assets = sim.truth("mxapiasset", site=site)
        assert len(assets) == 12 and {a["siteid"] for a in assets} == {site}
        assert len(sim.truth("mxapiwodetail", site=site)) == 24
    assert [key_of("mxapiasset", a) for a in sim.truth("mxapiasset")] == sorted(
        key_of("mxapiasset", a) for a in sim.truth("mxapiasset"))
    with pytest.raises(ValueError):
        sim.truth("mxapidomain", site="BEDFORD")


def test_values_are_realistic_and_references_hold(make_sim) -> None:
    sim = make_sim()
    assets, locations = sim.truth("mxapiasset"), sim.truth("mxapilocations")
    wos, inventory = sim.truth("mxapiwodetail"), sim.truth("mxapiinventory")
    location_keys = {(loc["siteid"], loc["location"]) for loc in locations}
    storerooms = {(loc["siteid"], loc["location"]) for loc in locations if loc["type"] == "STOREROOM"}
    asset_keys = {(a["siteid"], a["assetnum"]) for a in assets}
    for record in assets + locations + wos:
        for attr in DATE_ATTRS:
            assert attr not in record or DATE.match(record[attr]), (attr, record[attr])
        assert isinstance(record["_rowstamp"], str) and record["_rowstamp"].isdigit()
    for asset in assets:
        assert isinstance(asset["assetuid"], int)
        assert "priority" not in asset or isinstance(asset["priority"], int)
        assert "location" not in asset or (asset["siteid"], asset["location"]) in location_keys
        assert "parent" not in asset or (asset["siteid"], asset["parent"]) in asset_keys
        for meter in asset.get("assetmeter", []):
            assert isinstance(meter["lastreading"], (int, float)) and not isinstance(meter["lastreading"], bool)
    assert any("location" not in a for a in assets) and any("serialnum" not in a for a in assets)
    assert {a["assetnum"] for a in assets if a["siteid"] == "BEDFORD"} == \
        {a["assetnum"] for a in assets if a["siteid"] == "NASHUA"}, "composite keys: asset numbers repeat per site"
    for wo in wos:
        assert 0 <= wo.get("wopriority", 0) <= 999 and isinstance(wo["istask"], bool)
        assert ("pmnum" in wo) == (wo["worktype"] == "PM")
        assert "location" not in wo or (wo["siteid"], wo["location"]) in location_keys
    for item in inventory:
        assert (item["siteid"], item["location"]) in storerooms and isinstance(item["curbal"], float)
    groups = {g["groupname"] for g in sim.truth("mxapimaxgroup")}
    for person in sim.truth("mxapiperuser"):
        assert {g["groupname"] for g in person.get("groupuser", [])} <= groups
    for domain in sim.truth("mxapidomain"):
        kinds = {"SYNONYM": "synonymdomain", "ALN": "alndomain", "NUMERIC": "numericdomain"}
        assert [c for c in CHILDREN["mxapidomain"] if c in domain] == [kinds[domain["domaintype"]]]


def test_a_few_work_orders_point_at_assets_that_do_not_exist(make_sim) -> None:
    sim = make_sim()
    asset_keys = {(a["siteid"], a["assetnum"]) for a in sim.truth("mxapiasset")}
    dangling = [(w["siteid"], w["wonum"], w["assetnum"]) for w in sim.truth("mxapiwodetail")
                if "assetnum" in w and (w["siteid"], w["assetnum"]) not in asset_keys]
    assert len(dangling) == 2 * (80 // 50) and sorted(sim.dangling_references()) == sorted(dangling)
    assert make_sim(dangling_every=0).dangling_references() == []
    assert len(make_sim(dangling_every=10).dangling_references()) == 2 * 8


def test_same_seed_gives_the_same_bytes(make_sim) -> None:
    first, second, other = make_sim(seed=11), make_sim(seed=11), make_sim(seed=12)
    queries = [
        {"lean": 1, "oslc.select": "*,assetmeter{*},assetspec{*}", "oslc.pageSize": 25, "pageno": 2},
        {"oslc.select": "*", "oslc.orderBy": "-{last_key}", "collectioncount": 1},
    ]
    with client(first) as a, client(second) as b, client(other) as c:
        for os_name in ALL_OS:
            for query in queries:
                query = {k: str(v).replace("{last_key}", KEYS[os_name][-1]) for k, v in query.items()}
                body = a.get(f"oslc/os/{os_name}", params=query)
                assert body.status_code == 200
                assert body.content == b.get(f"oslc/os/{os_name}", params=query).content
        assert a.get("oslc/os/mxapiasset", params=queries[0]).content != \
            c.get("oslc/os/mxapiasset", params=queries[0]).content


# -- the two JSON forms and paging --------------------------------------------------------------------


def test_lean_page_follows_the_reference_envelope(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        body = lean(http, "mxapiasset", oslc__select="assetnum,siteid,status", oslc__pageSize=40, collectioncount=1)
    assert body["href"] == "oslc/os/mxapiasset"
    info = body["responseInfo"]
    assert info["pagenum"] == 1 and info["totalCount"] == 80 and info["totalPages"] == 2
    assert info["href"].startswith("oslc/os/mxapiasset?") and "pageno" not in info["href"]
    assert info["nextPage"]["href"].startswith("oslc/os/mxapiasset?pageno=2&")
    member = body["member"][0]
    assert list(member) == ["assetnum", "siteid", "status", "_rowstamp", "href"]
    assert member["siteid"] == "NASHUA" and member["assetnum"] == "1001"
    assert member["href"] == "oslc/os/mxapiasset/_" + base64.urlsafe_b64encode(b"1001/NASHUA").decode().rstrip("=")


def test_namespaced_form_without_lean(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        response = get(http, "mxapiasset", oslc__select="assetnum,siteid,assetmeter{*}", oslc__pageSize=30,
                       collectioncount=1)
        body = response.json()
        members = read_all(http, response, namespaced=True)
    assert "member" not in body and "responseInfo" not in body
    info = body["oslc:responseInfo"]
    assert info["oslc:totalCount"] == 80 and info["oslc:totalPages"] == 3
    assert info["oslc:nextPage"]["rdf:resource"].startswith("oslc/os/mxapiasset?pageno=2&")
    assert "lean" not in info["oslc:nextPage"]["rdf:resource"]
    first = body["rdfs:member"][0]
    assert first["spi:assetnum"] == "1001" and first["rdf:about"].startswith("oslc/os/mxapiasset/_")
    meters = [m for m in body["rdfs:member"] if "spi:assetmeter" in m]
    assert meters and all(k.startswith("spi:") for m in meters for row in m["spi:assetmeter"] for k in row)
    assert len({(m["spi:siteid"], m["spi:assetnum"]) for m in members}) == len(members) == 80


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("route", ["oslc", "api"])
def test_following_next_links_collects_every_key_once(make_sim, absolute: bool, route: str) -> None:
    sim = make_sim(absolute_next=absolute)
    with client(sim) as http:
        first = http.get(f"{route}/os/MXAPIWODETAIL", params={"lean": 1, "oslc.select": "wonum,siteid",
                                                             "oslc.pageSize": 7, "oslc.orderBy": "+wonum"})
        body = first.json()
        members = read_all(http, first)
    link = body["responseInfo"]["nextPage"]["href"]
    if absolute:
        assert link.startswith(f"{sim.base_url}/{route}/os/mxapiwodetail?pageno=2&")
        assert body["member"][0]["href"].startswith(f"{sim.base_url}/{route}/os/mxapiwodetail/_")
    else:
        assert link.startswith(f"{route}/os/mxapiwodetail?pageno=2&")
    keys = [key_of("mxapiwodetail", m) for m in members]
    assert len(keys) == len(set(keys)) == 160
    assert set(keys) == {key_of("mxapiwodetail", w) for w in sim.truth("mxapiwodetail")}
    assert sim.stats()["pages"] == 23


def test_page_size_above_the_cap_is_a_400_envelope(make_sim) -> None:
    sim = make_sim(max_page_size=50)
    with client(sim) as http:
        error = error_of(get(http, "mxapiasset", lean=1, oslc__pageSize=51), 400)
        assert "50" in error["message"]
        assert len(lean(http, "mxapiasset", oslc__pageSize=50)["member"]) == 50
        without_size = lean(http, "mxapiasset")
        assert len(without_size["member"]) == 50 and "nextPage" in without_size["responseInfo"]
    stats = sim.stats()
    assert stats["page_size_refused"] == 1 and stats["bad_request"] == 1


def test_page_size_defaults_to_1000(make_sim) -> None:
    sim = make_sim(assets_per_site=600)
    with client(sim) as http:
        body = lean(http, "mxapiasset", oslc__select="assetnum")
        assert len(body["member"]) == 1000
        assert len(lean(http, "mxapiasset", oslc__select="assetnum", pageno=2)["member"]) == 200


def test_collectioncount_and_count(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        assert "totalCount" not in lean(http, "mxapilocations", oslc__pageSize=5)["responseInfo"]
        info = lean(http, "mxapilocations", oslc__pageSize=5, collectioncount=1)["responseInfo"]
        assert info["totalCount"] == len(sim.truth("mxapilocations")) and info["totalPages"] == -(-info["totalCount"] // 5)
        assert lean(http, "mxapiasset", count=1, oslc__where='siteid="BEDFORD"') == {"totalCount": 40}


def test_beyond_the_last_page_is_empty_and_bad_pageno_is_400(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        body = lean(http, "mxapiasset", oslc__pageSize=50, pageno=3)
        assert body["member"] == [] and "nextPage" not in body["responseInfo"]
        error_of(get(http, "mxapiasset", lean=1, pageno=0), 400)
        error_of(get(http, "mxapiasset", lean=1, oslc__pageSize="ten"), 400)


# -- select, where, orderBy ----------------------------------------------------------------------------


def test_select_star_has_no_children_and_children_only_when_selected(make_sim) -> None:
    sim = make_sim()
    truth = {key_of("mxapiasset", a): a for a in sim.truth("mxapiasset")}
    with client(sim) as http:
        star = lean(http, "mxapiasset", oslc__select="*")["member"]
        assert not any(child in m for m in star for child in CHILDREN["mxapiasset"])
        assert all(m == {k: v for k, v in truth[key_of("mxapiasset", m)].items() if k not in CHILDREN["mxapiasset"]}
                   for m in star)
        meters = lean(http, "mxapiasset", oslc__select="assetnum,siteid,assetmeter{metername,lastreading}")["member"]
        assert any("assetmeter" in m for m in meters)
        for member in meters:
            assert set(member) <= {"assetnum", "siteid", "assetmeter", "_rowstamp", "href"}
            for row in member.get("assetmeter", []):
                assert set(row) <= {"metername", "lastreading"} and "metername" in row
        bare = lean(http, "mxapiasset", oslc__pageSize=3)["member"]
        assert all(set(m) == {"_rowstamp", "href"} for m in bare), "without oslc.select members carry links only"


def test_nulls_are_dropped_unless_dropnulls_0(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        dropped = lean(http, "mxapiasset", oslc__select="*")["member"]
        kept = lean(http, "mxapiasset", oslc__select="*", _dropnulls=0)["member"]
    assert any("serialnum" not in m for m in dropped)
    assert all(None not in m.values() for m in dropped)
    assert all("serialnum" in m for m in kept) and any(m["serialnum"] is None for m in kept)


def test_where_on_site_and_changedate_compares_instants(make_sim) -> None:
    sim = make_sim()
    truth = sim.truth("mxapiasset")
    cutoff = sorted(instant(a["changedate"]) for a in truth)[len(truth) // 2]
    same_instants = (
        cutoff.isoformat(),
        cutoff.astimezone(timezone(timedelta(hours=2))).isoformat(),
        cutoff.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
    )
    expected = {key_of("mxapiasset", a) for a in truth if a["siteid"] == "BEDFORD" and instant(a["changedate"]) >= cutoff}
    assert expected
    with client(sim) as http:
        for text in same_instants:
            body = lean(http, "mxapiasset", oslc__select="assetnum,siteid,changedate",
                        oslc__where=f'siteid="BEDFORD" and changedate>="{text}"')
            assert {key_of("mxapiasset", m) for m in body["member"]} == expected


def test_where_operators_in_like_and_numbers(make_sim) -> None:
    sim = make_sim()
    truth = sim.truth("mxapiasset")

    def keys(where: str) -> set[tuple[str, ...]]:
        with client(sim) as http:
            body = lean(http, "mxapiasset", oslc__select="assetnum,siteid", oslc__where=where)
        return {key_of("mxapiasset", m) for m in body["member"]}

    def expect(test: Callable[[dict], bool]) -> set[tuple[str, ...]]:
        found = {key_of("mxapiasset", a) for a in truth if test(a)}
        assert found, "a test query must match something"
        return found

    assert keys('status in ["BROKEN","NOT READY"]') == expect(lambda a: a["status"] in ("BROKEN", "NOT READY"))
    assert keys('description="%pump%"') == expect(lambda a: "pump" in a["description"].lower())
    assert keys("priority>=4") == expect(lambda a: a.get("priority", 0) >= 4)
    assert keys('status!="OPERATING" and siteid="NASHUA"') == expect(
        lambda a: a["status"] != "OPERATING" and a["siteid"] == "NASHUA")
    assert keys('serialnum="*"') == expect(lambda a: "serialnum" in a)
    assert keys('assetnum<"1005"') == expect(lambda a: a["assetnum"] < "1005")


@pytest.mark.parametrize("params", [
    {"oslc.where": 'nosuchattr="x"'},
    {"oslc.where": "siteid=BEDFORD"},
    {"oslc.where": 'siteid="BEDFORD" or siteid="NASHUA"'},
    {"oslc.where": 'changedate>="yesterday"'},
    {"oslc.orderBy": "+nosuchattr"},
    {"oslc.orderBy": " changedate"},  # an unencoded + arrives as a space
])
def test_bad_where_or_order_is_a_400_envelope(make_sim, params: dict[str, str]) -> None:
    sim = make_sim()
    with client(sim) as http:
        error_of(http.get("oslc/os/mxapiasset", params={"lean": 1, **params}), 400)


def test_unknown_object_structure_is_404_and_names_are_case_insensitive(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        error_of(http.get("oslc/os/mxapinothing", params={"lean": 1}), 404)
        upper = http.get("oslc/os/MXAPIMAXGROUP", params={"lean": 1, "oslc.select": "*"}).json()
        lower = http.get("api/os/mxapimaxgroup", params={"lean": 1, "oslc.select": "*"}).json()
    assert [m["groupname"] for m in upper["member"]] == [m["groupname"] for m in lower["member"]]
    assert lower["member"][0]["href"].startswith("api/os/mxapimaxgroup/_")


def test_order_by_ascending_descending_and_insertion_order(make_sim) -> None:
    sim = make_sim()
    with client(sim) as http:
        down = lean(http, "mxapiasset", oslc__select="assetnum,siteid,changedate", oslc__orderBy="-changedate")
        up = lean(http, "mxapiasset", oslc__select="assetnum,siteid,changedate,priority",
                  oslc__orderBy="+siteid,-assetnum")
        by_priority = lean(http, "mxapiasset", oslc__select="assetnum,siteid,priority", oslc__orderBy="+priority")
        unordered = lean(http, "mxapiasset", oslc__select="assetnum,siteid")
    dates = [instant(m["changedate"]) for m in down["member"]]
    assert dates == sorted(dates, reverse=True)
    pairs = [(m["siteid"], m["assetnum"]) for m in up["member"]]
    assert pairs == sorted(pairs, key=lambda p: (p[0], -int(p[1])))
    priorities = [m.get("priority") for m in by_priority["member"]]
    numbers = [p for p in priorities if p is not None]
    assert numbers == sorted(numbers) and priorities[len(numbers):] == [None] * (len(priorities) - len(numbers))
    sites_in_answer = [m["siteid"] for m in unordered["member"]]
    assert sites_in_answer == ["NASHUA"] * 40 + ["BEDFORD"] * 40, "without orderBy: insertion order"


# -- changes, deletes, new attributes, hooks ---------------------------------------------------------


def test_change_moves_changedate_rowstamp_and_a_field(make_sim) -> None:
    sim = make_sim()
    before = {key_of("mxapiasset", a): a for a in sim.truth("mxapiasset")}
    latest = max(instant(a["changedate"]) for a in before.values())
    changed = sim.change("mxapiasset", count=3, site="NASHUA")
    assert len(changed) == 3 and all(k[0] == "NASHUA" for k in changed)
    after = {key_of("mxapiasset", a): a for a in sim.truth("mxapiasset")}
    for key in changed:
        old, new = before[key], after[key]
        assert instant(new["changedate"]) > latest and DATE.match(new["changedate"])
        assert int(new["_rowstamp"]) > max(int(a["_rowstamp"]) for a in before.values())
        assert new["status"] != old["status"] and new["status_description"] != old["status_description"]
    assert all(after[k] == before[k] for k in before if k not in changed)
    with client(sim) as http:
        body = lean(http, "mxapiasset", oslc__select="*",
                    oslc__where=f'changedate>"{latest.isoformat()}"')
    assert sorted(key_of("mxapiasset", m) for m in body["member"]) == sorted(changed)
    assert all(m == {k: v for k, v in after[key_of("mxapiasset", m)].items() if k not in CHILDREN["mxapiasset"]}
               for m in body["member"])


def test_change_without_changedate_and_repeatable_choice(make_sim) -> None:
    first, second = make_sim(), make_sim()
    assert first.change("mxapimaxgroup", count=2) == second.change("mxapimaxgroup", count=2)
    assert first.truth("mxapimaxgroup") == second.truth("mxapimaxgroup")
    assert first.change("mxapiinventory", count=1) and first.change("mxapidomain", count=1)
    assert any("(rev " in g["description"] for g in first.truth("mxapimaxgroup"))


def test_delete_by_keys_and_count(make_sim) -> None:
    sim = make_sim()
    assert sim.delete("mxapiasset", keys=[("BEDFORD", "1001"), ("BEDFORD", "nope")]) == [("BEDFORD", "1001")]
    drawn = sim.delete("mxapiasset", count=2)
    assert len(drawn) == 2 and ("BEDFORD", "1001") not in drawn
    gone = {("BEDFORD", "1001"), *drawn}
    assert not gone & {key_of("mxapiasset", a) for a in sim.truth("mxapiasset")}
    assert len(sim.truth("mxapiasset")) == 77
    with client(sim) as http:
        members = read_all(http, get(http, "mxapiasset", lean=1, oslc__select="assetnum,siteid", oslc__pageSize=20))
    assert len(members) == 77 and not gone & {key_of("mxapiasset", m) for m in members}
    assert sim.delete("mxapimaxgroup", keys=["READONLY"]) == [("READONLY",)]
    with pytest.raises(ValueError):
        sim.delete("mxapiasset")


def test_add_attribute_reaches_every_record_and_the_query_language(make_sim) -> None:
    sim = make_sim()
    sim.add_attribute("mxapiasset", "ic3_newattr")
    sim.add_attribute("MXAPIWODETAIL", "ic3_score", value_fn=lambda attrs: int(attrs["wonum"]) % 7)
    assets = sim.truth("mxapiasset")
    assert all(re.match(r"^IC3_NEWATTR-\d{4}$", a["ic3_newattr"]) for a in assets)
    with client(sim) as http:
        star = lean(http, "mxapiasset", oslc__select="*")["member"]
        assert [m["ic3_newattr"] for m in star] == [a["ic3_newattr"] for a in
                                                    sorted(assets, key=lambda a: (a["siteid"] != "NASHUA", a["assetnum"]))]
        scored = lean(http, "mxapiwodetail", oslc__select="wonum,ic3_score", oslc__where="ic3_score=3",
                      oslc__orderBy="+ic3_score")["member"]
    assert scored and all(m["ic3_score"] == 3 and int(m["wonum"]) % 7 == 3 for m in scored)
    with pytest.raises(ValueError):
        sim.add_attribute("mxapiasset", "assetnum")


def test_the_same_query_again_sees_every_change(make_sim) -> None:
    """Answers are evaluated on the current data: repeating a query never returns what was true before."""
    sim = make_sim()
    query = {"oslc__select": "*", "oslc__orderBy": "-changedate", "oslc__pageSize": 5}
    with client(sim) as http:
        before = lean(http, "mxapiasset", **query)["member"]
        changed = sim.change("mxapiasset", count=1)
        assert key_of("mxapiasset", lean(http, "mxapiasset", **query)["member"][0]) == changed[0]
        sim.delete("mxapiasset", keys=changed)
        assert [m["href"] for m in lean(http, "mxapiasset", **query)["member"]] == [m["href"] for m in before]
        sim.add_attribute("mxapiasset", "ic3_late")
        assert all("ic3_late" in m for m in lean(http, "mxapiasset", **query)["member"])


def test_admin_endpoints_change_delete_add_attribute_and_stats(make_sim) -> None:
    sim = make_sim()
    root = sim.base_url.removesuffix("/maximo")
    changed = httpx.post(f"{root}/_sim/change", json={"os": "mxapiwodetail", "count": 2}).json()["changed"]
    assert len(changed) == 2
    deleted = httpx.post(f"{root}/_sim/delete", json={"os": "mxapilocations", "count": 1}).json()["deleted"]
    assert len(deleted) == 1 and tuple(deleted[0]) not in {key_of("mxapilocations", loc)
                                                            for loc in sim.truth("mxapilocations")}
    keyed = httpx.post(f"{root}/_sim/delete", json={"os": "mxapiasset", "keys": [["NASHUA", "1002"]]}).json()
    assert keyed == {"deleted": [["NASHUA", "1002"]]}
    added = httpx.post(f"{root}/_sim/add_attribute", json={"os": "mxapiperuser", "attribute": "ic3_badge"})
    assert added.status_code == 200 and all("ic3_badge" in p for p in sim.truth("mxapiperuser"))
    assert httpx.post(f"{root}/_sim/change", json={"os": "nothing"}).status_code == 400
    stats = httpx.get(f"{root}/_sim/stats").json()
    assert stats == sim.stats() and stats["requests"] == 0
    config = httpx.get(f"{root}/_sim/config").json()
    assert "api_key" not in config and KEY not in json.dumps(config)


def test_on_page_hook_runs_between_pages_and_paging_is_not_stable(make_sim) -> None:
    sim = make_sim()
    by_time = sorted(sim.truth("mxapiasset"), key=lambda a: (instant(a["changedate"]), a["assetnum"]))
    first_on_page_1 = key_of("mxapiasset", by_time[0])
    seen: list[tuple[str, int]] = []
    changed: list[tuple[str, ...]] = []

    def hook(os_name: str, pageno: int) -> None:
        seen.append((os_name, pageno))
        if pageno == 1:
            sim.delete("mxapiasset", keys=[first_on_page_1])
            changed.extend(sim.change("mxapiasset", count=1))

    sim.on_page(hook)
    with client(sim) as http:
        members = read_all(http, get(http, "mxapiasset", lean=1, oslc__select="assetnum,siteid,changedate",
                                     oslc__orderBy="+changedate,+assetnum", oslc__pageSize=10))
    keys = [key_of("mxapiasset", m) for m in members]
    assert seen == [("mxapiasset", n) for n in range(1, 9)]
    assert first_on_page_1 in keys, "deleted after its page was built: the client saw it"
    assert keys[-1] == changed[0], "a record changed between pages moved to the end"
    assert len(keys) == 79
    never_seen = {key_of("mxapiasset", a) for a in sim.truth("mxapiasset")} - set(keys)
    assert never_seen, "the delete shifted a record from page 2 onto page 1, after page 1 was read"
    sim.on_page(None)
    with client(sim) as http:
        lean(http, "mxapiasset", oslc__pageSize=10)
    assert len(seen) == 8


# -- auth, rate limit, faults --------------------------------------------------------------------------


def test_auth_by_header_query_and_maxauth(make_sim) -> None:
    sim = make_sim(user="maxadmin", password="pw-xyz")
    url = f"{sim.base_url}/oslc/os/mxapimaxgroup"
    basic = base64.b64encode(b"maxadmin:pw-xyz").decode()
    assert httpx.get(url, params={"lean": 1}, headers={"apikey": KEY}).status_code == 200
    by_query = httpx.get(url, params={"lean": 1, "apikey": KEY, "oslc.pageSize": 2})
    assert by_query.status_code == 200
    assert KEY not in by_query.text, "the key is never echoed, not even in the links"
    assert httpx.get(url, params={"lean": 1}, headers={"maxauth": basic}).status_code == 200
    refused = [
        httpx.get(url, params={"lean": 1}),
        httpx.get(url, params={"lean": 1}, headers={"apikey": "wrong"}),
        httpx.get(url, params={"lean": 1, "apikey": KEY}, headers={"apikey": "wrong"}),
        httpx.get(url, params={"lean": 1}, headers={"maxauth": base64.b64encode(b"maxadmin:nope").decode()}),
    ]
    for response in refused:
        assert error_of(response, 401)["reasonCode"] == "BMXAA0021E"
    assert sim.stats()["unauthorized"] == 4
    plain = make_sim()
    assert httpx.get(f"{plain.base_url}/oslc/os/mxapimaxgroup", headers={"maxauth": basic}).status_code == 401


def test_rate_limit_answers_429_with_retry_after(make_sim) -> None:
    sim = make_sim(rate_limit=0.5, burst=1)
    with client(sim) as http:
        assert get(http, "mxapimaxgroup", lean=1).status_code == 200
        throttled = get(http, "mxapimaxgroup", lean=1)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["httpCode"] == "429"
    stats = sim.stats()
    assert stats["throttled"] == 1 and stats["requests"] == 2 and stats["per_os"] == {"mxapimaxgroup": 2}
    sim.configure(rate_limit=None)
    with client(sim) as http:
        assert get(http, "mxapimaxgroup", lean=1).status_code == 200


def only_fault(make_sim: Callable[..., MaximoSimulator], kind: str, **knobs: Any) -> MaximoSimulator:
    return make_sim(fault_rate=1.0, fault_kinds=(kind,), **knobs)


def test_fault_503_is_an_html_page(make_sim) -> None:
    sim = only_fault(make_sim, "503")
    with client(sim) as http:
        response = get(http, "mxapiasset", lean=1)
    assert response.status_code == 503 and response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text
    assert sim.stats()["faults"] == {"503": 1} and sim.stats()["pages"] == 0


def test_fault_500_is_an_error_envelope(make_sim) -> None:
    sim = only_fault(make_sim, "500")
    with client(sim) as http:
        error_of(get(http, "mxapiasset", lean=1), 500)


def test_fault_truncated_is_a_cut_json_body(make_sim) -> None:
    sim = only_fault(make_sim, "truncated")
    with client(sim) as http:
        response = get(http, "mxapiasset", lean=1, oslc__select="*")
    assert response.status_code == 200 and response.text.startswith('{"member":[')
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_fault_reset_is_a_transport_error(make_sim) -> None:
    sim = only_fault(make_sim, "reset")
    with client(sim) as http:
        with pytest.raises(httpx.TransportError):
            get(http, "mxapiasset", lean=1, oslc__select="*")
    assert sim.stats()["faults"] == {"reset": 1}


def test_fault_hang_times_out_then_answers_when_patient(make_sim) -> None:
    sim = only_fault(make_sim, "hang", hang_seconds=0.5)
    with client(sim, timeout=0.1) as http:
        with pytest.raises(httpx.ReadTimeout):
            get(http, "mxapimaxgroup", lean=1)
    with client(sim, timeout=5) as http:
        response = get(http, "mxapimaxgroup", lean=1, oslc__select="*")
    assert response.status_code == 200 and len(response.json()["member"]) == len(sim.truth("mxapimaxgroup"))
    assert sim.stats()["faults"] == {"hang": 2}


def test_random_faults_are_deterministic_and_retries_usually_succeed(make_sim) -> None:
    outcomes = []
    for _ in range(2):
        sim = make_sim(fault_rate=0.3, fault_kinds=("503", "500"))
        with client(sim) as http:
            statuses = [get(http, "mxapiasset", lean=1, oslc__pageSize=5, pageno=n).status_code for n in range(1, 101)]
            failed = [n + 1 for n, status in enumerate(statuses) if status != 200]
            retried = [get(http, "mxapiasset", lean=1, oslc__pageSize=5, pageno=n).status_code == 200 for n in failed]
        outcomes.append(statuses)
        assert 15 <= len(failed) <= 45 and sum(retried) > len(retried) / 2
        assert set(sim.stats()["faults"]) == {"503", "500"}
    assert outcomes[0] == outcomes[1]


def test_configure_refuses_dataset_and_unknown_knobs(make_sim) -> None:
    sim = make_sim()
    sim.configure(latency_ms=5, max_page_size=10, absolute_next=True)
    assert sim.config.max_page_size == 10 and sim.config.absolute_next
    for bad in ({"seed": 8}, {"sites": ("X",)}, {"no_such_knob": 1}, {"fault_rate": 2.0}):
        with pytest.raises(ValueError):
            sim.configure(**bad)
    with pytest.raises(ValueError):
        MaximoSimConfig(user="u")


# -- the command line ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_logs_a_banner_without_the_key(caplog) -> None:
    secret, port, stop = "not-a-real-key-456", free_port(), threading.Event()
    caplog.set_level(logging.INFO, logger="ic3_pipeline.sandbox.maximo_simulator")
    server = threading.Thread(target=serve, args=(MaximoSimConfig(api_key=secret, assets_per_site=3),),
                              kwargs={"port": port, "stop_event": stop})
    server.start()
    try:
        deadline = time.monotonic() + 10
        while not any("http://127.0.0.1" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        response = httpx.get(f"http://127.0.0.1:{port}/maximo/oslc/os/mxapiasset", params={"lean": 1},
                             headers={"apikey": secret})
        assert response.status_code == 200
    finally:
        stop.set()
        server.join(5)
    assert len([r for r in caplog.records if f"127.0.0.1:{port}/maximo" in r.getMessage()]) == 1
    assert secret not in caplog.text


def ic3_command() -> list[str]:
    script = Path(sys.executable).with_name("ic3")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from ic3_pipeline.cli import run; run()"]


def test_cli_simulate_maximo_starts_and_answers() -> None:
    port = free_port()
    env = {**os.environ, "MAXIMO_API_KEY": "cli-key-789"}
    process = subprocess.Popen(
        ic3_command() + ["simulate", "maximo", "--port", str(port), "--sites", "ALPHA,BETA", "--assets-per-site",
                         "5", "--seed", "3", "--max-page-size", "4"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/maximo/oslc/os/mxapiasset"
        response = None
        deadline = time.monotonic() + 60
        while response is None and process.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(url, params={"lean": 1, "oslc.select": "assetnum,siteid", "oslc.pageSize": 4},
                                     headers={"apikey": "cli-key-789"})
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None, "the simulator never answered"
        body = response.json()
        assert response.status_code == 200 and {m["siteid"] for m in body["member"]} == {"ALPHA"}
        assert len(body["member"]) == 4 and "nextPage" in body["responseInfo"]
        assert httpx.get(url, params={"lean": 1, "oslc.pageSize": 5}, headers={"apikey": "cli-key-789"}).status_code == 400
        assert httpx.get(url, headers={"apikey": "sim-apikey"}).status_code == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "cli-key-789" not in output and f"127.0.0.1:{port}/maximo" in output


def test_cli_simulate_innomaint_still_requires_a_register() -> None:
    result = subprocess.run(ic3_command() + ["simulate", "innomaint", "--port", str(free_port())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--register" in result.stderr


def test_cli_simulate_maximo_names_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(ic3_command() + ["simulate", "maximo", "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
