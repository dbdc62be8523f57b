"""Failed runs and failed checks reach a webhook, Slack and email — each once, with what failed, and no secret."""

from __future__ import annotations

import logging

from dagster import DefaultSensorStatus

from ic3_pipeline.notifications import settings as names
from ic3_pipeline.notifications.message import Notice
from ic3_pipeline.notifications.sensors import CHECKS_SENSOR, NOT_CONFIGURED, RUNS_SENSOR, default_status
from ic3_pipeline.notifications.settings import NotifySettingsError, notify_settings, redact
from ic3_pipeline.sync.due import partition_keys_of
from ic3_pipeline_tests.notifications.conftest import SECRETS, SLACK_TOKEN

DETAILS = "innomaint/asset_details"


def fail_one_asset(pipeline) -> tuple[str, str]:
    """A real sync in which one asset keeps answering 503: ``innomaint_sync_errors`` fails naming it."""
    victim = pipeline.asset_ids[0]
    site = partition_keys_of(pipeline.engine, [victim])[victim]
    pipeline.simulator.script_faults(victim, ["503"] * 10)
    result = pipeline.enrich([site], max_attempts=2)
    assert result.success
    (failed,) = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed.check_name == "innomaint_sync_errors"
    return victim, site


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_nothing_configured_sends_nothing_and_says_so(no_channels, notifier, receiver):
    assert default_status() == DefaultSensorStatus.STOPPED
    fail_one_asset(notifier.pipeline)
    notifier.pipeline.enrich(token="wrong-token")
    for name in (RUNS_SENSOR, CHECKS_SENSOR):
        data = notifier.tick(name)
        assert data.skip_message == NOT_CONFIGURED and not data.cursor
    assert receiver.requests == []


def test_half_configured_channels_are_named_not_ignored(no_channels, monkeypatch, notifier):
    monkeypatch.setenv(names.SLACK_TOKEN, SLACK_TOKEN)
    assert default_status() == DefaultSensorStatus.RUNNING  # so each tick says what is missing
    data = notifier.tick(CHECKS_SENSOR)
    assert "Slack needs both IC3_NOTIFY_SLACK_TOKEN and IC3_NOTIFY_SLACK_CHANNEL" in data.skip_message
    assert SLACK_TOKEN not in data.skip_message
    for env, said in [
        ({names.SMTP_HOST: "mail"}, "email needs IC3_NOTIFY_SMTP_FROM and IC3_NOTIFY_SMTP_TO"),
        ({names.SMTP_HOST: "m", names.SMTP_FROM: "a@x", names.SMTP_TO: "b@y", names.SMTP_USER: "u"}, "needs both"),
        ({names.SMTP_HOST: "m", names.SMTP_FROM: "a@x", names.SMTP_TO: "b@y", names.SMTP_PORT: "smtp"}, "must be a number"),
        ({names.WEBHOOK_URL: "http://h/x", names.MIN_SEVERITY: "loud"}, "must be WARN or ERROR"),
    ]:
        try:
            notify_settings(env)
        except NotifySettingsError as error:
            assert said in str(error)
        else:
            raise AssertionError(f"{env} was accepted")
    login = notify_settings({names.SMTP_HOST: "m", names.SMTP_FROM: "a@x", names.SMTP_TO: "b@y, c@z",
                             names.SMTP_USER: "u", names.SMTP_PASSWORD: "p"}).smtp
    assert (login.starttls, login.port, login.recipients) == (True, 587, ("b@y", "c@z"))  # no password in clear


def test_failed_check_reaches_webhook_slack_and_email_once(all_channels, notifier, caplog):
    receiver, smtp = all_channels
    assert default_status() == DefaultSensorStatus.RUNNING
    start = notifier.tick(CHECKS_SENSOR)
    assert "Started webhook, slack, email" in start.skip_message and receiver.requests == []

    victim, site = fail_one_asset(notifier.pipeline)
    with caplog.at_level(logging.INFO):
        sent = notifier.tick(CHECKS_SENSOR)
    assert sent.skip_message == "Sent 1 to webhook, 1 to slack, 1 to email."

    (hook,) = receiver.posted_to("/hooks/hook-path-secret-8b41")
    body = hook.body
    assert (body["kind"], body["check"], body["asset"], body["severity"]) == (
        "check_failed", "innomaint_sync_errors", DETAILS, "ERROR")
    assert body["details"]["failed"] == "1"
    assert victim in body["details"]["failed ids"] and site in body["details"]["failed ids"]
    assert "HTTP 503" in body["details"]["failed ids"]
    assert "failed their last sync" in body["description"]
    assert body["url"] == ("http://dagster.example.test:3000/assets/innomaint/asset_details"
                           "?view=checks&checkDetail=innomaint_sync_errors")

    (slack,) = receiver.posted_to("/api/chat.postMessage")
    assert slack.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"  # the token goes in the header, to Slack only
    assert slack.body["channel"] == "#maintenance-alerts"
    assert slack.body["text"].startswith(f"ic3_pipeline: check innomaint_sync_errors on {DETAILS} failed")
    assert victim in slack.body["text"] and site in slack.body["text"]

    (mail,) = smtp.messages
    assert mail["Subject"] == f"ic3_pipeline: check innomaint_sync_errors on {DETAILS} failed"
    assert mail["To"] == "maintenance@example.test, lead@example.test"
    assert smtp.mailbox.envelopes == [("ic3@example.test", ["maintenance@example.test", "lead@example.test"])]
    assert smtp.mailbox.logins == ["alerts-bot"]
    text = mail.get_content()
    assert victim in text and site in text and "severity: ERROR" in text

    again = notifier.tick(CHECKS_SENSOR)  # nothing new: nothing sent twice
    assert again.skip_message == "Sent nothing new to send."
    assert len(receiver.requests) == 2 and len(smtp.messages) == 1
    assert_no_secret(*(r.raw for r in receiver.requests if r is not slack), slack.raw, mail.as_string(),
                     caplog.text, *notifier.skips, *notifier.cursors.values())

    fail_one_asset(notifier.pipeline)  # fails again in a later run: a new evaluation, told again
    assert notifier.tick(CHECKS_SENSOR).skip_message == "Sent 1 to webhook, 1 to slack, 1 to email."
    assert len(smtp.messages) == 2


def test_failed_run_is_told_once_with_its_step_error(all_channels, notifier):
    receiver, smtp = all_channels
    notifier.tick(RUNS_SENSOR)
    result = notifier.pipeline.enrich(token="wrong-token")  # a real failed run: Innomaint answers 401
    assert not result.success
    assert notifier.tick(RUNS_SENSOR).skip_message == "Sent 1 to webhook, 1 to slack, 1 to email."

    (hook,) = receiver.posted_to(HOOK_PATH := "/hooks/hook-path-secret-8b41")
    body = hook.body
    assert (body["kind"], body["run_id"], body["job"]) == ("run_failed", result.run_id, "enrich")
    assert body["partition_range"] == f"{notifier.pipeline.partition_keys[0]} … {notifier.pipeline.partition_keys[-1]}"
    (step_error,) = body["details"].values()
    assert "Innomaint refused the API token (HTTP 401): check INNOMAINT_API_TOKEN." in step_error
    assert body["url"] == f"http://dagster.example.test:3000/runs/{result.run_id}"
    (slack,) = receiver.posted_to("chat.postMessage")
    assert slack.body["text"].startswith("ic3_pipeline: run of enrich failed")
    (mail,) = smtp.messages
    assert result.run_id in mail.get_content() and "refused the API token" in mail.get_content()

    assert notifier.tick(RUNS_SENSOR).skip_message == "Sent nothing new to send."
    assert len(receiver.posted_to(HOOK_PATH)) == 1 and len(smtp.messages) == 1
    assert_no_secret(hook.raw, mail.as_string(), *notifier.skips)
    assert "wrong-token" not in hook.raw + mail.as_string()


def test_a_channel_that_is_down_gets_it_on_a_later_tick_and_the_others_once(all_channels, notifier, capfd):
    receiver, smtp = all_channels
    notifier.tick(CHECKS_SENSOR)
    notifier.tick(RUNS_SENSOR)
    receiver.status = 503  # the webhook and Slack share the receiver: both are down
    victim, _ = fail_one_asset(notifier.pipeline)
    capfd.readouterr()
    down = notifier.tick(CHECKS_SENSOR)
    logged = capfd.readouterr().err  # the tick's log (the UI shows it with the tick)
    assert down.skip_message.startswith("Sent 1 to email. Failed, retried next tick:")
    port = receiver.base_url.rsplit(":", 1)[1]
    assert f"webhook at 127.0.0.1:{port} answered HTTP 503" in down.skip_message
    assert "Slack channel #maintenance-alerts: answered HTTP 503" in down.skip_message
    assert "Notification not delivered, will retry next tick: webhook at 127.0.0.1" in logged
    assert_no_secret(down.skip_message, logged)

    still_down = notifier.tick(CHECKS_SENSOR)
    assert "Failed, retried next tick" in still_down.skip_message and len(smtp.messages) == 1

    receiver.status = 200
    assert notifier.tick(CHECKS_SENSOR).skip_message == "Sent 1 to webhook, 1 to slack."
    assert len(smtp.messages) == 1  # email had it already
    (hook,) = receiver.posted_to("/hooks/hook-path-secret-8b41")
    assert victim in hook.body["details"]["failed ids"]
    assert notifier.tick(CHECKS_SENSOR).skip_message == "Sent nothing new to send."


def test_unreachable_webhook_and_slack_error_are_said(no_channels, monkeypatch, notifier, receiver):
    closed = "http://127.0.0.1:9/hooks/hook-path-secret-8b41"  # port 9 (discard) refuses connections here
    monkeypatch.setenv(names.WEBHOOK_URL, closed)
    monkeypatch.setenv(names.SLACK_TOKEN, SLACK_TOKEN)
    monkeypatch.setenv(names.SLACK_CHANNEL, "#nowhere")
    monkeypatch.setenv(names.SLACK_BASE_URL, f"{receiver.base_url}/api/")
    receiver.slack_error = "channel_not_found"
    notifier.tick(RUNS_SENSOR)
    notifier.pipeline.enrich(token="wrong-token")
    data = notifier.tick(RUNS_SENSOR)
    assert "webhook at 127.0.0.1:9: ConnectError" in data.skip_message
    assert "Slack channel #nowhere: channel_not_found" in data.skip_message
    assert_no_secret(data.skip_message)


def test_min_severity_error_leaves_out_warnings(all_channels, monkeypatch, notifier):
    receiver, smtp = all_channels
    monkeypatch.setenv(names.MIN_SEVERITY, "ERROR")
    notifier.tick(CHECKS_SENSOR)
    missing = notifier.pipeline.asset_ids[3]
    notifier.pipeline.simulator.configure(missing_ids=frozenset({missing}))
    result = notifier.pipeline.enrich()
    (warned,) = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert warned.check_name == "assets_known_to_innomaint"
    assert notifier.tick(CHECKS_SENSOR).skip_message == "Sent nothing new to send."

    monkeypatch.setenv(names.MIN_SEVERITY, "WARN")
    notifier.pipeline.enrich(config={"force": True, "asset_ids": [notifier.pipeline.asset_ids[5]]})
    assert notifier.tick(CHECKS_SENSOR).skip_message == "Sent 1 to webhook, 1 to slack, 1 to email."
    (hook,) = receiver.posted_to("/hooks/hook-path-secret-8b41")
    assert (hook.body["check"], hook.body["severity"]) == ("assets_known_to_innomaint", "WARN")
    assert missing in hook.body["details"]["ids"]
    assert smtp.messages[0]["Subject"].endswith("warning")


def test_on_postgres_dagster_storage_each_failure_once(all_channels, notifier_on_postgres_storage):
    receiver, smtp = all_channels
    notifier = notifier_on_postgres_storage
    notifier.tick(CHECKS_SENSOR)
    notifier.tick(RUNS_SENSOR)
    victim, _ = fail_one_asset(notifier.pipeline)
    failed_run = notifier.pipeline.enrich(token="wrong-token")
    assert notifier.tick(CHECKS_SENSOR).skip_message == "Sent 1 to webhook, 1 to slack, 1 to email."
    assert notifier.tick(RUNS_SENSOR).skip_message == "Sent 1 to webhook, 1 to slack, 1 to email."
    hooks = [r.body for r in receiver.posted_to("/hooks/hook-path-secret-8b41")]
    assert [(h["kind"], h.get("check"), h["run_id"]) for h in hooks][1] == ("run_failed", None, failed_run.run_id)
    assert victim in hooks[0]["details"]["failed ids"]
    assert notifier.tick(CHECKS_SENSOR).skip_message == notifier.tick(RUNS_SENSOR).skip_message == "Sent nothing new to send."
    assert len(smtp.messages) == 2


def test_secrets_of_the_process_never_pass_and_a_title_stays_one_line(monkeypatch):
    monkeypatch.setenv("IC3_DATABASE_URL", "postgresql+psycopg://ic3:db-password-77f1@db.example/ic3")
    monkeypatch.setenv("INNOMAINT_API_TOKEN", "innomaint-token-19ab")
    monkeypatch.setenv(names.WEBHOOK_URL, "https://hooks.example/services/hook-path-secret-8b41")
    said = redact("connect to db with db-password-77f1, Bearer innomaint-token-19ab, "
                  "POST https://hooks.example/services/hook-path-secret-8b41 failed")
    assert said == "connect to db with ***, Bearer ***, POST *** failed"
    notice = Notice("run_failed", 1, "ic3_pipeline: run of enrich failed (Site\r\nBcc: someone@else)")
    assert notice.title == "ic3_pipeline: run of enrich failed (Site Bcc: someone@else)"
