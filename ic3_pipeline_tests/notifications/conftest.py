"""A synced register on a real instance, the notification sensors beside the source, and their local receivers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from dagster import Definitions, build_sensor_context, instance_for_test

from ic3_pipeline.defs.notifications.definitions import defs as notification_defs
from ic3_pipeline.notifications import settings as names
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.partitions import register_site_partitions
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline_tests.innomaint.conftest import TOKEN, Pipeline, pipeline  # noqa: F401 — the fixture, reused
from ic3_pipeline_tests.notifications.receivers import HttpReceiver, SmtpServer
from ic3_pipeline_tests.sources import INNOMAINT, api_resource, source_defs
from ic3_pipeline_tests.test_dagster_postgres_storage import dagster_database  # noqa: F401 — the fixture, reused

SLACK_TOKEN = "xoxb-test-slack-token-0c9e71"
SMTP_PASSWORD = "smtp-test-password-5d2a"
HOOK_SECRET = "hook-path-secret-8b41"
SECRETS = (SLACK_TOKEN, SMTP_PASSWORD, HOOK_SECRET, TOKEN)


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite only: what is notified does not depend on the target database (the instance is the same either way)."""
    return f"sqlite:///{tmp_path / 'ic3.sqlite'}"


@dataclass
class Notifier:
    """Ticks the notification sensors on the pipeline's instance, keeping each sensor's cursor like the daemon."""

    pipeline: Pipeline
    defs: Definitions
    cursors: dict[str, str | None] = field(default_factory=dict)
    skips: list[str] = field(default_factory=list)

    def tick(self, name: str):
        sensor = self.defs.resolve_sensor_def(name)
        with build_sensor_context(instance=self.pipeline.instance, cursor=self.cursors.get(name),
                                  definitions=self.defs) as context:
            data = sensor.evaluate_tick(context)
        if data.cursor is not None:
            self.cursors[name] = data.cursor
        self.skips.append(data.skip_message or "")
        return data


@pytest.fixture
def notifier(pipeline) -> Notifier:  # noqa: F811
    resource = api_resource(INNOMAINT, pipeline.simulator.base_url, TOKEN)
    return Notifier(pipeline, source_defs(pipeline.db_url, INNOMAINT, resource, notification_defs))


@pytest.fixture
def no_channels(monkeypatch) -> None:
    for name in names.ALL_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as http:
        yield http


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer("alerts-bot", SMTP_PASSWORD) as server:
        yield server


@pytest.fixture
def all_channels(no_channels, monkeypatch, receiver, smtp) -> tuple[HttpReceiver, SmtpServer]:
    """Every channel configured by environment, pointed at the local receivers."""
    for name, value in {
        names.WEBHOOK_URL: f"{receiver.base_url}/hooks/{HOOK_SECRET}",
        names.SLACK_TOKEN: SLACK_TOKEN,
        names.SLACK_CHANNEL: "#maintenance-alerts",
        names.SLACK_BASE_URL: f"{receiver.base_url}/api/",
        names.SMTP_HOST: "127.0.0.1",
        names.SMTP_PORT: str(smtp.port),
        names.SMTP_USER: "alerts-bot",
        names.SMTP_PASSWORD: SMTP_PASSWORD,
        names.SMTP_STARTTLS: "0",  # the local server has no certificate
        names.SMTP_FROM: "ic3@example.test",
        names.SMTP_TO: "maintenance@example.test, lead@example.test",
        names.UI_URL: "http://dagster.example.test:3000/",
    }.items():
        monkeypatch.setenv(name, value)
    return receiver, smtp


@pytest.fixture
def notifier_on_postgres_storage(dagster_database, db_url, sample_register) -> Iterator[Notifier]:  # noqa: F811
    """The same, with Dagster's own storage on PostgreSQL (one event log for all runs, unlike SQLite's per-run files)."""
    engine = make_engine(db_url)
    ensure_schema(engine)
    summary, validated = import_register(engine, sample_register)
    sites = {r["cmms_asset_id"]: r["site_name"] for r in validated.records()}
    engine.dispose()
    url = dagster_database  # dagster-postgres takes its parts (its own driver), as dagster.postgres.yaml gives them
    storage = {"postgres": {"postgres_db": {"scheme": "postgresql+psycopg2",
        "hostname": url.host or "127.0.0.1", "port": url.port or 5432, "username": url.username or "postgres",
        "password": url.password or "", "db_name": url.database}}}
    with instance_for_test(overrides={"storage": storage}) as instance, \
            InnomaintSimulator(sites, SimulatorConfig(token=TOKEN, seed=7)) as simulator:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        register_site_partitions(instance, summary.site_partition_keys)
        keys = list(instance.get_dynamic_partitions("sites"))
        pipeline_ = Pipeline(db_url, instance, simulator, keys, sorted(sites))
        resource = api_resource(INNOMAINT, simulator.base_url, TOKEN)
        yield Notifier(pipeline_, source_defs(db_url, INNOMAINT, resource, notification_defs))
