"""``kpi/alert_work_orders`` in Dagster: dry-run by default with what it would create as metadata, live only with
IC3_WRITE_BACK=live, a bad mode refused naming the variable, no secret anywhere in the event log; and the project's
definitions hold the asset, its job and its stopped sensor."""

from __future__ import annotations

import json

from dagster import DagsterEventType, DefaultSensorStatus, instance_for_test, materialize

from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline.writeback.assets import JOB, KEY, build_write_back_asset
from ic3_pipeline_tests.writeback.conftest import API_KEY, PASSWORD
from ic3_pipeline_tests.writeback.test_write_back import maximo_raised, rows, upkeep_raised


def run(db_url: str, instance):
    return materialize([build_write_back_asset()], resources={"warehouse": WarehouseResource(database_url=db_url)},
                       instance=instance, raise_on_error=False)


def metadata(result) -> dict:
    [materialization] = result.asset_materializations_for_node("kpi__alert_work_orders")
    return {name: value.value for name, value in materialization.metadata.items()}


def everything_logged(instance) -> str:
    text = []
    for run in instance.get_runs():
        text += [json.dumps(entry.to_json()) for entry in instance.all_logs(run.run_id)]
        text.append(json.dumps(run.run_config))
    return "\n".join(text)


def test_dry_run_by_default_lists_what_it_would_create(fleet, maximo, upkeep, live_env, db_url, monkeypatch):
    monkeypatch.delenv("IC3_WRITE_BACK", raising=False)
    with instance_for_test() as instance:
        result = run(db_url, instance)
        assert result.success
        shown = metadata(result)
        assert shown["mode"].startswith("dry run") and "IC3_WRITE_BACK=live" in shown["mode"]
        assert (shown["would create"], shown["created"], shown["skipped"], shown["alerted assets"]) == (2, 0, 1, 3)
        assert "| M1 | Bedford | would_create | maximo |" in shown["work orders"]
        assert maximo.stats()["requests"] == 0 and upkeep.stats()["requests"] == 0
        logs = everything_logged(instance)
        assert "dry run: would create a work order in maximo for M1" in logs


def test_live_creates_then_a_second_run_creates_none_and_no_secret_is_logged(fleet, maximo, upkeep, live_env,
                                                                            db_url, monkeypatch):
    monkeypatch.setenv("IC3_WRITE_BACK", "live")
    with instance_for_test() as instance:
        first = run(db_url, instance)
        assert first.success and metadata(first)["created"] == 2 and metadata(first)["mode"] == "live"
        second = run(db_url, instance)
        assert second.success and metadata(second)["created"] == 0 and metadata(second)["already created"] == 2
        assert len(maximo_raised(maximo)) == 1 and len(upkeep_raised(upkeep)) == 1
        assert {row["cmms_asset_id"]: row["status"] for row in rows(fleet)} == \
            {"M1": "created", "U1": "created", "I1": "skipped"}
        logs = everything_logged(instance)
        assert "created work order" in logs
        assert API_KEY not in logs and PASSWORD not in logs


def test_a_bad_mode_fails_the_run_naming_the_variable(fleet, db_url, monkeypatch):
    monkeypatch.setenv("IC3_WRITE_BACK", "yes please")
    with instance_for_test() as instance:
        result = run(db_url, instance)
        assert not result.success
        [failure] = [event for event in result.all_events if event.event_type == DagsterEventType.STEP_FAILURE]
        assert "IC3_WRITE_BACK='yes please'" in failure.step_failure_data.error.message
        assert rows(fleet) == []


def test_the_project_defines_the_asset_its_job_and_a_stopped_sensor():
    from ic3_pipeline.definitions import defs

    definitions = defs() if callable(defs) else defs
    assert KEY in definitions.resolve_asset_graph().get_all_asset_keys()
    assert definitions.resolve_job_def(JOB) is not None
    sensor = definitions.resolve_sensor_def("alert_work_orders")
    assert sensor.default_status == DefaultSensorStatus.STOPPED
