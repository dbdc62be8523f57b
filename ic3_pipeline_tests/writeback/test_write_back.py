"""The write-back against the real Maximo and UpKeep simulators, on SQLite and PostgreSQL: exactly one work order per
asset per alert episode live, none in a dry run, a refused POST recorded and retried, secrets nowhere."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from ic3_pipeline.kpi.alerts import Thresholds
from ic3_pipeline.warehouse.tables import alert_work_order
from ic3_pipeline.warehouse.times import utc_now
from ic3_pipeline.writeback.alerted import ALERT, critical_low_availability
from ic3_pipeline.writeback.engine import WriteBackReport, write_back
from ic3_pipeline_tests.writeback.conftest import API_KEY, FAILING, PASSING, PASSWORD

TITLE = "Availability "


def evaluate(fleet, *, live: bool, sources=None) -> WriteBackReport:
    with fleet.engine.connect() as conn:
        assets = critical_low_availability(conn, Thresholds())
    return write_back(fleet.engine, ALERT, assets, utc_now(), live=live, sources=sources)


def rows(fleet, name: str | None = None) -> list[dict]:
    query = select(alert_work_order).order_by(alert_work_order.c.id)
    if name is not None:
        query = query.where(alert_work_order.c.cmms_asset_id == name)
    with fleet.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def maximo_raised(maximo) -> list[dict]:
    return [wo for wo in maximo.truth("mxapiwodetail", "BEDFORD") if wo.get("description", "").startswith(TITLE)]


def upkeep_raised(upkeep) -> list[dict]:
    return [wo for wo in upkeep.truth("work_orders") if wo["title"].startswith(TITLE)]


def by_asset(report: WriteBackReport) -> dict[str, str]:
    return {outcome.cmms_asset_id: outcome.status for outcome in report.outcomes}


def test_live_raises_one_work_order_per_episode_and_a_new_one_after_recovery(fleet, maximo, upkeep, live_env,
                                                                           sources):
    first = evaluate(fleet, live=True, sources=sources)
    assert by_asset(first) == {"M1": "created", "U1": "created", "I1": "skipped"}  # OK passes: not named
    assert maximo.stats()["created"] == 1
    [maximo_wo] = maximo_raised(maximo)
    assert (maximo_wo["siteid"], maximo_wo["assetnum"]) == tuple(fleet.maximo_asset.split("/"))
    assert maximo_wo["worktype"] == "CM" and maximo_wo["wopriority"] == 900 and maximo_wo["status"] == "WAPPR"
    [upkeep_wo] = upkeep_raised(upkeep)
    assert upkeep_wo["asset"] == fleet.upkeep_asset and upkeep_wo["category"] == "Mechanical"
    [m1] = rows(fleet, "M1")
    assert (m1["status"], m1["source"], m1["work_order_id"], m1["dry_run"]) == \
        ("created", "maximo", maximo_wo["wonum"], False)
    assert m1["source_asset_id"] == fleet.maximo_asset and m1["attempts"] == 1 and m1["created_at"] is not None
    assert m1["work_order_url"].startswith(maximo.base_url + "/oslc/os/mxapiwodetail/")
    [u1] = rows(fleet, "U1")
    assert (u1["status"], u1["source"], u1["work_order_id"]) == ("created", "upkeep", upkeep_wo["id"])
    [i1] = rows(fleet, "I1")
    assert i1["status"] == "skipped" and i1["source"] is None and "Innomaint-only" in i1["message"]

    # The same episode evaluated again: nothing sent.
    maximo.reset_stats()
    upkeep.reset_stats()
    again = evaluate(fleet, live=True, sources=sources)
    assert by_asset(again) == {"M1": "already_created", "U1": "already_created", "I1": "skipped"}
    assert maximo.stats()["requests"] == 0 and upkeep.stats()["requests"] == 0
    assert len(maximo_raised(maximo)) == 1 and len(upkeep_raised(upkeep)) == 1
    assert len(rows(fleet)) == 3

    # M1 recovers: its episode ends, nothing raised; then it fails again: a new episode, a new work order.
    fleet.set_repair("M1", PASSING[0])
    recovered = evaluate(fleet, live=True, sources=sources)
    assert recovered.recovered == ["M1"] and "M1" not in by_asset(recovered)
    [ended] = rows(fleet, "M1")
    assert ended["episode_ended_at"] is not None and ended["work_order_id"] == maximo_wo["wonum"]
    fleet.set_repair("M1", FAILING[0])
    relapse = evaluate(fleet, live=True, sources=sources)
    assert by_asset(relapse)["M1"] == "created" and by_asset(relapse)["U1"] == "already_created"
    assert len(maximo_raised(maximo)) == 2 and len(upkeep_raised(upkeep)) == 1
    old, new = rows(fleet, "M1")
    assert new["episode_ended_at"] is None and new["episode_started_at"] > old["episode_started_at"]
    assert new["work_order_id"] != old["work_order_id"]
    assert new["work_order_id"] in {wo["wonum"] for wo in maximo_raised(maximo)}


def test_dry_run_sends_nothing_but_records_and_logs_what_it_would_create(fleet, maximo, upkeep, live_env, sources,
                                                                         caplog):
    caplog.set_level(logging.INFO, logger="ic3_pipeline.writeback")
    report = evaluate(fleet, live=False, sources=sources)
    assert by_asset(report) == {"M1": "would_create", "U1": "would_create", "I1": "skipped"}
    assert maximo.stats()["requests"] == 0 and upkeep.stats()["requests"] == 0
    assert maximo_raised(maximo) == [] and upkeep_raised(upkeep) == []
    [m1] = rows(fleet, "M1")
    assert (m1["status"], m1["dry_run"], m1["work_order_id"], m1["attempts"]) == ("would_create", True, None, 0)
    body = json.loads(m1["request"])
    assert body["siteid"] + "/" + body["assetnum"] == fleet.maximo_asset and body["worktype"] == "CM"
    assert "dry run: would create a work order in maximo for M1" in caplog.text
    assert "dry run: would create a work order in upkeep for U1" in caplog.text
    assert "no work order raised" in caplog.text and "Innomaint-only" in caplog.text

    # Turned live within the same episode: the work order is raised once, the dry run counted for nothing.
    live = evaluate(fleet, live=True, sources=sources)
    assert by_asset(live) == {"M1": "created", "U1": "created", "I1": "skipped"}
    assert len(maximo_raised(maximo)) == 1 and len(upkeep_raised(upkeep)) == 1
    assert len(rows(fleet, "M1")) == 1


@pytest.mark.parametrize("refusal", ["401", "500"])
def test_a_refused_post_is_recorded_failed_with_the_message_and_retried_next_run(
        fleet, maximo, upkeep, live_env, sources, monkeypatch, caplog, refusal):
    caplog.set_level(logging.DEBUG)
    if refusal == "401":
        maximo.configure(api_key="another-key-entirely")
        expected = "HTTP 401: BMXAA0021E"
    else:
        maximo.configure(fault_rate=1.0, fault_kinds=("500",))
        expected = "HTTP 500: BMXAA4214E"
    first = evaluate(fleet, live=True, sources=sources)
    assert by_asset(first)["M1"] == "failed" and by_asset(first)["U1"] == "created"
    [m1] = rows(fleet, "M1")
    assert m1["status"] == "failed" and m1["message"].startswith(expected) and m1["work_order_id"] is None
    assert m1["attempts"] == 1 and maximo_raised(maximo) == []

    maximo.configure(api_key=API_KEY, fault_rate=0.0)
    retried = evaluate(fleet, live=True, sources=sources)
    assert by_asset(retried)["M1"] == "created" and by_asset(retried)["U1"] == "already_created"
    [m1] = rows(fleet, "M1")
    assert m1["status"] == "created" and m1["attempts"] == 2 and m1["message"] is None
    assert len(maximo_raised(maximo)) == 1 and len(upkeep_raised(upkeep)) == 1
    for secret in (API_KEY, PASSWORD):
        assert secret not in caplog.text
        assert all(secret not in json.dumps(row, default=str) for row in rows(fleet))


def test_a_wrong_upkeep_password_is_a_failed_row_naming_no_secret(fleet, maximo, upkeep, live_env, sources,
                                                                  monkeypatch):
    monkeypatch.setenv("UPKEEP_PASSWORD", "wrong-password-9c1d")
    report = evaluate(fleet, live=True, sources=sources)
    assert by_asset(report)["U1"] == "failed" and by_asset(report)["M1"] == "created"
    [u1] = rows(fleet, "U1")
    assert "refused (HTTP 400)" in u1["message"] and "wrong-password-9c1d" not in u1["message"]
    assert upkeep_raised(upkeep) == []


def test_missing_credentials_fail_the_rows_naming_the_variables(fleet, maximo, upkeep, live_env, sources,
                                                                monkeypatch):
    monkeypatch.delenv("MAXIMO_API_KEY")
    report = evaluate(fleet, live=True, sources=sources)
    assert by_asset(report)["M1"] == "failed"
    [m1] = rows(fleet, "M1")
    assert "MAXIMO_API_KEY" in m1["message"] and maximo.stats()["requests"] == 0


def test_a_row_left_sending_is_never_sent_again(fleet, maximo, upkeep, live_env, sources):
    evaluate(fleet, live=False, sources=sources)
    with fleet.engine.begin() as conn:  # as a process stopped between the POST and recording its answer leaves it
        conn.execute(alert_work_order.update().where(alert_work_order.c.cmms_asset_id == "M1").values(
            status="sending"))
    report = evaluate(fleet, live=True, sources=sources)
    assert by_asset(report)["M1"] == "sending"
    assert maximo.stats()["requests"] == 0 and maximo_raised(maximo) == []
    assert "check the CMMS" in next(o.message for o in report.outcomes if o.cmms_asset_id == "M1")


def test_the_database_allows_one_open_episode_per_alert_and_asset(fleet):
    from sqlalchemy.exc import IntegrityError

    from ic3_pipeline.writeback import episodes

    first = utc_now()
    with fleet.engine.begin() as conn:
        episodes.start_episode(conn, ALERT, fleet.ids["M1"], "M1", first, True)
        episodes.start_episode(conn, "mtbf_trend", fleet.ids["M1"], "M1", first, True)  # another alert: its own
    with pytest.raises(IntegrityError), fleet.engine.begin() as conn:  # a second run starting the same episode
        episodes.start_episode(conn, ALERT, fleet.ids["M1"], "M1", utc_now(), True)
    with fleet.engine.begin() as conn:
        assert [row["cmms_asset_id"] for row in episodes.close_recovered(conn, ALERT, set(), utc_now())] == ["M1"]
        episodes.start_episode(conn, ALERT, fleet.ids["M1"], "M1", utc_now(), True)  # after recovery: allowed
    assert [row["episode_ended_at"] is None for row in rows(fleet, "M1")] == [False, True, True]


def test_an_accepted_post_whose_answer_names_no_id_is_created_and_never_sent_again(fleet, maximo, upkeep, live_env,
                                                                                  sources, monkeypatch):
    """Maximo answers an empty 201 without the ``properties`` header: the work order exists, so it counts."""
    from dataclasses import replace

    from ic3_pipeline.writeback import maximo as maximo_shape

    def without_properties(asset, target):
        request = maximo_shape.build(asset, target)
        return replace(request, headers={k: v for k, v in request.headers.items() if k != "properties"})

    monkeypatch.setattr(maximo_shape, "shape", replace(maximo_shape.shape, build=without_properties))
    first = evaluate(fleet, live=True, sources=sources)
    assert by_asset(first)["M1"] == "created"
    [m1] = rows(fleet, "M1")
    assert m1["work_order_id"] is None and "named no id" in m1["message"]
    assert m1["work_order_url"].startswith(maximo.base_url + "/oslc/os/mxapiwodetail/_")
    again = evaluate(fleet, live=True, sources=sources)
    assert by_asset(again)["M1"] == "already_created" and len(maximo_raised(maximo)) == 1


def test_an_unreachable_cmms_is_a_failed_row_retried_when_it_answers(fleet, maximo, upkeep, live_env, sources,
                                                                     monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/maximo"
    monkeypatch.setenv("MAXIMO_BASE_URL", closed)
    first = evaluate(fleet, live=True, sources=sources)
    assert by_asset(first)["M1"] == "failed"
    assert rows(fleet, "M1")[0]["message"] == "ConnectError: the request to maximo failed"
    monkeypatch.setenv("MAXIMO_BASE_URL", maximo.base_url)
    assert by_asset(evaluate(fleet, live=True, sources=sources))["M1"] == "created"
    assert len(maximo_raised(maximo)) == 1


def test_an_asset_held_only_by_a_source_without_write_back_is_skipped_saying_so(fleet, sources):
    from ic3_pipeline.warehouse.unified_tables import cmms_asset

    with fleet.engine.begin() as conn:
        conn.execute(cmms_asset.insert().values(
            source="fiix", source_id="77", ic3_asset_id=fleet.ids["I1"], _stream="assets", _record_key="77",
            _partition="", _synced_at=utc_now()))
    report = evaluate(fleet, live=False, sources=sources)
    [i1] = [outcome for outcome in report.outcomes if outcome.cmms_asset_id == "I1"]
    assert i1.status == "skipped" and i1.message.startswith("held only by fiix, which takes no work orders")
