"""What a sync's materializations show: each site (partition) its own assets, and the batch's figures beside them.

A run may cover a range of up to 100 sites. Dagster gives every partition of the range a materialization; if each
carried the batch's totals, one site would read "assets due 2957". So each partition gets the figures of its own
assets — what this run did to them, and where they stand now (``cmms_sync_state``) — and the batch-wide figures
(requests, 429 answers, rates: one limiter serves the whole batch) are labelled as the batch's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from dagster import MetadataValue

from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.sync.batch import BatchReport
from ic3_pipeline.sync.connector import FetchOutcome
from ic3_pipeline.sync.standing import SiteAsset

MAX_FAILURES_SHOWN = 50
FAILURE_COLUMNS = ("asset id", "status", "http", "attempts", "reason")


@dataclass
class BatchRun:
    """A batch as the step ran it: what the engine reported, and which assets were due."""

    report: BatchReport
    due: list[str]


def failure_row(outcome: FetchOutcome) -> dict[str, object]:
    return {"asset id": outcome.asset_id, "status": outcome.status, "http": outcome.http_status,
            "attempts": outcome.attempts, "reason": outcome.error}


def batch_figures(report: BatchReport, where: str) -> dict[str, object]:
    """The whole batch's figures, named as the batch's (they are the same on every partition of the run)."""
    stats = report.request_stats
    return {
        "batch partitions": where,
        "batch assets due": report.due,
        "batch synced": report.synced,
        "batch failed": report.failed,
        "batch not found": report.not_found,
        "batch skipped": report.skipped,
        "requests": stats.get("requests", 0),
        "429 answers": stats.get("throttled", 0),
        "retries": stats.get("retries", 0),
        "elapsed s": round(report.elapsed_s, 2),
        "requests per s": round(report.requests_per_s, 2),
        "synced per s": round(report.synced_per_s, 2),
        "limiter rate at start (req/s)": round(report.initial_rate, 2),
        "limiter rate at end (req/s)": round(report.final_rate, 2),
        "rate limit found (req/s)": round(report.rate_limit_found, 2) if report.rate_limit_found else "none (no 429)",
    }


def own_figures(due: int, failures: Sequence[FetchOutcome], warnings: Sequence[tuple[str, str]]) -> dict[str, object]:
    """What this run did to some assets (a site's, or an unpartitioned source's all): counts and failed ids."""
    errors = sum(1 for f in failures if f.status == "error")
    missing = sum(1 for f in failures if f.status == "not_found")
    rows = [failure_row(f) for f in failures]
    return {
        "assets due": due,
        "synced": due - errors - missing,
        "failed": errors,
        "not found": missing,
        "failed and not-found ids": MetadataValue.md(markdown_table(rows[:MAX_FAILURES_SHOWN], FAILURE_COLUMNS)),
        "values stored as NULL": len(warnings),
        "unreadable optional values": MetadataValue.md(
            markdown_table([{"asset id": a, "value": w} for a, w in warnings[:MAX_FAILURES_SHOWN]],
                           ("asset id", "value"))
        ),
    }


def standing_figures(assets: Sequence[SiteAsset]) -> dict[str, object]:
    """Where a site's assets stand now, whatever ran last (the same numbers as ``ic3 status`` for the site)."""
    statuses = Counter(a.status for a in assets)
    return {
        "site assets": len(assets),
        "site synced": statuses["success"],
        "site needing retry": statuses["error"],
        "site not found": statuses["not_found"],
        "site never synced": statuses[None],
    }


def per_site(run: BatchRun, assets: Sequence[SiteAsset], keys: Sequence[str]) -> dict[str, dict[str, object]]:
    """Each partition's own metadata for the source's first table: its assets only."""
    site_of = {a.asset_id: a.partition_key for a in assets}
    due, failures, warnings = Counter(), defaultdict(list), defaultdict(list)
    for asset_id in run.due:
        due[site_of.get(asset_id)] += 1
    for outcome in run.report.failures:
        failures[site_of.get(outcome.asset_id)].append(outcome)
    for asset_id, warning in run.report.warnings:
        warnings[site_of.get(asset_id)].append((asset_id, warning))
    by_site = defaultdict(list)
    for a in assets:
        by_site[a.partition_key].append(a)
    return {key: {**own_figures(due[key], failures[key], warnings[key]), **standing_figures(by_site[key])}
            for key in keys}

