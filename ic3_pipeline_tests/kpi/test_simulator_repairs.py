"""The simulator's repairs knob (test equipment for the history): an asset's performance block answers grown by the
repairs added — tickets, breakdown hours — with MTTR, MTBF and availability following, by HTTP as from Python."""

from __future__ import annotations

import httpx

from ic3_pipeline.sandbox.innomaint_data import format_duration
from ic3_pipeline.sandbox.innomaint_simulator import API_PATH, InnomaintSimulator, SimulatorConfig

SITES = {"Pune_AHU_01": "Pune", "Pune_DG_01": "Pune"}


def seconds(duration: str) -> int:
    hours, minutes, secs = (int(part) for part in duration.split(":"))
    return hours * 3600 + minutes * 60 + secs


def test_added_repairs_change_only_that_assets_performance():
    with InnomaintSimulator(SITES, SimulatorConfig(seed=7), sites=SITES) as simulator:
        before = simulator.expected_record("Pune_AHU_01")["response"]["performance"]
        other = simulator.expected_record("Pune_DG_01")
        answer = httpx.post(f"{simulator.base_url}/_sim/repairs",
                            json={"asset_id": "Pune_AHU_01", "tickets": 3, "seconds": 7200})
        assert answer.status_code == 200
        fetched = httpx.post(f"{simulator.base_url}{API_PATH}", json={"serialnumber": "Pune_AHU_01"},
                             headers={"Authorization": "Bearer sim-token"}).json()
        after = fetched["response"]["performance"]
        assert simulator.expected_record("Pune_DG_01") == other
        tickets = int(before["total_ticket"] or 0) + 3
        sent = before["total_ticket_breakdown_hrs"] or ""
        breakdown = (seconds(sent) if sent.count(":") else 0) + 7200  # null, "" and "0" count as none
        actual = seconds(before["total_actual_hrs"])
        assert after["total_ticket"] == tickets
        assert after["total_ticket_breakdown_hrs"] == format_duration(breakdown)
        assert after["mttr"] == format_duration(breakdown // tickets)
        assert after["mtbf"] == format_duration((actual - breakdown) // tickets)
        assert after["total_actual_hrs"] == before["total_actual_hrs"]
        assert float(after["availability"]) == round(100 * (actual - breakdown) / actual, 2)
        refused = httpx.post(f"{simulator.base_url}/_sim/repairs", json={"asset_id": "Nowhere_01"})
        assert refused.status_code == 404 and "Nowhere_01" in refused.json()["error"]
        bad = httpx.post(f"{simulator.base_url}/_sim/repairs", json={"asset_id": "Pune_DG_01", "tickets": -1})
        assert bad.status_code == 400 and "whole numbers" in bad.json()["error"]
