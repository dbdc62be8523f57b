"""Webhook notifications, received by a real HTTP server on loopback: a failed KPI check and a failed run each post
one JSON document; nothing is posted while the variable is unset or when the checks pass; a receiver that is down
changes no outcome."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import DagsterEventType, Failure, build_run_status_sensor_context, instance_for_test, job, materialize, op

from ic3_pipeline.kpi.assets import AVAILABILITY_CHECK, build_kpi_assets, build_kpi_checks
from ic3_pipeline.kpi.notify import WEBHOOK_ENV
from ic3_pipeline.kpi.sensors import alert_webhook_on_run_failure
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.kpi import fixture


class Receiver:
    """A webhook receiver on 127.0.0.1 (port chosen by the OS) keeping every JSON body it was sent."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers["Content-Type"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ic3"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def run_checks(db_url: str):
    result = materialize([*build_kpi_assets([]), build_kpi_checks()],
                         resources={"warehouse": WarehouseResource(database_url=db_url)})
    assert result.success
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def test_a_failed_check_is_posted_and_passing_ones_are_not(engine, db_url, receiver, monkeypatch):
    fixture.load(engine)
    monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
    assert all(check.passed for check in run_checks(db_url).values())
    assert receiver.received == []
    monkeypatch.setenv("IC3_KPI_MIN_AVAILABILITY_CRITICAL", "98")
    assert not run_checks(db_url)[AVAILABILITY_CHECK].passed
    assert len(receiver.received) == 1
    content_type, body = receiver.received[0]
    assert content_type == "application/json"
    assert body["kind"] == "check_failed" and body["check"] == AVAILABILITY_CHECK and body["asset"] == "kpi/site"
    assert body["severity"] == "ERROR" and body["sites"] == ["Alpha"]
    assert body["assets"] == [{"asset": "A1", "site": "Alpha", "criticality": "Critical", "availability_pct": 97.0,
                               "threshold_pct": 98.0}]


def test_nothing_is_posted_while_the_variable_is_unset(engine, db_url, receiver, monkeypatch):
    fixture.load(engine)
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    monkeypatch.setenv("IC3_KPI_MIN_AVAILABILITY_CRITICAL", "98")
    assert not run_checks(db_url)[AVAILABILITY_CHECK].passed
    assert receiver.received == []


def test_a_receiver_that_is_down_changes_no_outcome(engine, db_url, monkeypatch):
    fixture.load(engine)
    down = Receiver()
    down.close()  # its port now refuses connections
    monkeypatch.setenv(WEBHOOK_ENV, down.url)
    monkeypatch.setenv("IC3_KPI_MIN_AVAILABILITY_CRITICAL", "98")
    assert not run_checks(db_url)[AVAILABILITY_CHECK].passed  # evaluated and reported all the same


@op
def breaks() -> None:
    raise Failure(description="Innomaint refused the API token (HTTP 401)")


@job
def doomed() -> None:
    breaks()


def test_a_failed_run_is_posted_by_the_run_failure_sensor(receiver, monkeypatch):
    monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
    with instance_for_test() as instance:
        result = doomed.execute_in_process(instance=instance, raise_on_error=False, tags={"dagster/partition": "Pune"})
        assert not result.success
        failure = next(event for event in result.all_events if event.event_type == DagsterEventType.RUN_FAILURE)
        context = build_run_status_sensor_context(
            sensor_name=alert_webhook_on_run_failure.name, dagster_event=failure, dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        alert_webhook_on_run_failure(context)
    assert len(receiver.received) == 1
    body = receiver.received[0][1]
    assert body["kind"] == "run_failed" and body["job"] == "doomed" and body["run_id"] == result.run_id
    assert body["partition"] == "Pune" and body["severity"] == "ERROR"
    assert "breaks" in body["summary"] or "failed" in body["summary"].lower()
