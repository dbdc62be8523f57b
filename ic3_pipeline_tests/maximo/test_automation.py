"""The Maximo schedule and retry sensor, ticked for real (no daemon), and the runs they request executed."""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import build_schedule_context, build_sensor_context, instance_for_test
from dagster._core.definitions.partitions.context import partition_loading_context

from ic3_pipeline.sync.partitions import RANGE_END_TAG, RANGE_START_TAG
from ic3_pipeline_tests.maximo.conftest import API_KEY, SITES, assert_exact, maximo_spec
from ic3_pipeline_tests.maximo.test_maximo_component import _defs


def schedule_tick(defs, instance):
    schedule = defs.resolve_schedule_def("maximo_incremental")
    with partition_loading_context(dynamic_partitions_store=instance):
        return schedule.evaluate_tick(build_schedule_context(
            instance=instance, repository_def=defs.get_repository_def(),
            scheduled_execution_time=datetime(2026, 12, 2, 2, 30, tzinfo=timezone.utc)))


def sensor_tick(defs, instance):
    sensor = defs.resolve_sensor_def("maximo_retry_failed")
    with build_sensor_context(instance=instance, definitions=defs, resources=defs.resources) as context, \
            partition_loading_context(dynamic_partitions_store=instance):
        return sensor.evaluate_tick(context)


def execute(defs, instance, request):
    tags = dict(request.tags or {})
    if request.partition_key:
        tags["dagster/partition"] = request.partition_key
    return defs.resolve_job_def("sync_maximo").execute_in_process(
        instance=instance, tags=tags, asset_selection=request.asset_selection, raise_on_error=False)


def test_the_schedule_adds_the_configured_sites_and_requests_one_incremental_run(db_url, simulator, maximo_engine,
                                                                                 monkeypatch):
    monkeypatch.setenv("MAXIMO_API_KEY", API_KEY)
    defs = _defs(db_url, simulator.base_url)
    with instance_for_test() as instance:
        monkeypatch.delenv("MAXIMO_SITES", raising=False)
        skipped = schedule_tick(defs, instance)
        assert not skipped.run_requests and "set MAXIMO_SITES" in skipped.skip_message
        monkeypatch.setenv("MAXIMO_SITES", ",".join(SITES))
        [request] = schedule_tick(defs, instance).run_requests
        assert list(instance.get_dynamic_partitions("maximo_sites")) == list(SITES)
        assert request.tags[RANGE_START_TAG] == SITES[0] and request.tags[RANGE_END_TAG] == SITES[-1]
        assert execute(defs, instance, request).success
    assert_exact(maximo_engine, maximo_spec(), simulator)


def test_the_retry_sensor_requests_the_failed_stream_and_site_after_its_cool_down(db_url, simulator, maximo_engine,
                                                                                  monkeypatch):
    monkeypatch.setenv("MAXIMO_API_KEY", API_KEY)
    defs = _defs(db_url, simulator.base_url)  # the project's retry settings: the first cool-down is 120 s
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("maximo_sites", list(SITES))
        assert "No failed stream" in sensor_tick(defs, instance).skip_message
        simulator.configure(fault_rate=1.0, fault_kinds=("503",))
        failed = defs.resolve_job_def("sync_maximo").execute_in_process(
            instance=instance, tags={"dagster/partition": "NASHUA"}, raise_on_error=False,
            asset_selection=[maximo_spec().key("locations")])
        assert not failed.success
        waiting = sensor_tick(defs, instance)
        assert not waiting.run_requests and "locations NASHUA: waiting until" in waiting.skip_message

    monkeypatch.setenv("IC3_RETRY_BASE_COOLDOWN_S", "0")
    defs = _defs(db_url, simulator.base_url)
    simulator.configure(fault_rate=0.0)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("maximo_sites", list(SITES))
        [request] = sensor_tick(defs, instance).run_requests
        assert request.partition_key == "NASHUA"
        assert request.asset_selection == [maximo_spec().key("locations")]
        assert execute(defs, instance, request).success
        assert "No failed stream" in sensor_tick(defs, instance).skip_message
