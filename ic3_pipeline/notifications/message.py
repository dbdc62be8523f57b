"""What a notification says: built from a failed run or a failed asset check evaluation, the same for every channel.

A notice carries facts (run id, job, check, asset, partition, severity, the check's metadata — which for the
project's checks names the failing asset ids and sites) as a flat JSON-able dict, plus a title and a text rendering
for chat and email. Free text (failure messages, step errors, check descriptions and metadata) passes through
``redact``, so no secret of the process can leak into a channel through an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance, EventLogEntry

from ic3_pipeline.notifications.settings import redact, secret_values

MAX_VALUE_CHARS = 3000  # one metadata value (a check's table of failing ids) in a message
MAX_STEPS = 5


@dataclass(frozen=True)
class Notice:
    """One failure to tell people about. ``event_id`` identifies it for exactly-once delivery (the sensor's cursor)."""

    kind: str  # "run_failed" or "check_failed"
    event_id: int
    title: str
    facts: dict[str, Any] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)  # labelled blocks of text (metadata, step errors)
    url: str | None = None

    def __post_init__(self) -> None:
        # The title is an email subject: a line break in a name (a site, a job) must not end the header.
        object.__setattr__(self, "title", " ".join(self.title.split()))

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        return {"kind": self.kind, "title": self.title, **self.facts, "details": self.details, "url": self.url}

    def text(self) -> str:
        """Plain text (Slack mrkdwn renders it as is; the email body is this)."""
        lines = [self.title, ""]
        lines += [f"{label}: {value}" for label, value in self.facts.items() if value not in (None, "", [])]
        for label, block in self.details.items():
            lines += ["", f"{label}:", block]
        if self.url:
            lines += ["", f"Dagster UI: {self.url}"]
        return "\n".join(lines)


def run_failure_notice(instance: DagsterInstance, entry: EventLogEntry, event_id: int, ui_url: str | None) -> Notice:
    """A failed run: its job, id, partition or range, the run's failure message and its failed steps' errors."""
    run = instance.get_run_by_id(entry.run_id)
    job = run.job_name if run else entry.job_name
    tags = run.tags if run else {}
    secrets = secret_values()
    facts = {
        "run_id": entry.run_id,
        "job": job,
        "partition": tags.get("dagster/partition"),
        "partition_range": _range(tags),
        "failed_at": _iso(entry.timestamp),
        "message": redact(entry.dagster_event.message or "", secrets) if entry.dagster_event else None,
    }
    details = {}
    steps = instance.all_logs(entry.run_id, of_type=DagsterEventType.STEP_FAILURE)[:MAX_STEPS]
    for step in steps:
        data = step.dagster_event.step_failure_data if step.dagster_event else None
        said = data.user_failure_data.description if data and data.user_failure_data else None
        error = said or (f"{data.error.cls_name}: {data.error.message}".strip() if data and data.error else None)
        if error:
            details[f"step {step.step_key} failed"] = _clip(redact(error, secrets))
    title = f"ic3_pipeline: run of {job} failed" + (f" ({facts['partition']})" if facts["partition"] else "")
    url = f"{ui_url}/runs/{entry.run_id}" if ui_url else None
    return Notice("run_failed", event_id, redact(title, secrets), facts, details, url)


def check_failure_notice(entry: EventLogEntry, event_id: int, ui_url: str | None) -> Notice:
    """A failed check: which check on which asset, its severity, description and metadata (the failing ids, sites)."""
    evaluation = entry.dagster_event.asset_check_evaluation_data
    secrets = secret_values()
    asset = evaluation.asset_key.to_user_string()
    severity = evaluation.severity.value
    facts = {
        "check": evaluation.check_name,
        "asset": asset,
        "severity": severity,
        "partition": evaluation.partition,
        "run_id": entry.run_id,
        "job": entry.job_name,
        "evaluated_at": _iso(entry.timestamp),
        "description": redact(evaluation.description or "", secrets) or None,
    }
    details = {label: _clip(redact(_shown(value), secrets)) for label, value in evaluation.metadata.items()}
    word = "warning" if evaluation.severity == AssetCheckSeverity.WARN else "failed"
    title = f"ic3_pipeline: check {evaluation.check_name} on {asset} {word}"
    url = None
    if ui_url:
        path = "/".join(quote(p, safe="") for p in evaluation.asset_key.path)
        url = f"{ui_url}/assets/{path}?view=checks&checkDetail={quote(evaluation.check_name)}"
    return Notice("check_failed", event_id, title, facts, details, url)


def _shown(value: Any) -> str:
    return str(getattr(value, "value", value))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "\n… (cut; the Dagster UI shows it all)"


def _range(tags) -> str | None:
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f"{start} … {end}" if start and end else None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
