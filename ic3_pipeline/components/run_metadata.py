"""What a sync's materializations show: each site (partition) its own assets; the batch's figures apart.

A run may cover a range of up to 100 sites, and each site is materialized as it finishes (``site_progress``), so each
partition carries the figures of its own assets — what this run did to them, the requests they took, and where they
stand now (``cmms_sync_state``) — never the batch's totals (one site reading "assets due 2957"). The batch-wide
figures (requests, 429 answers, rates: one limiter serves the whole batch) are known only at its end: they go once
per run into an observation of the source's first table, labelled as the batch's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dagster import AssetMaterialization, MetadataValue
from sqlalchemy import Engine

from ic3_pipeline.components.site_progress import SiteOutcomes
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.sync.batch import BatchReport
from ic3_pipeline.sync.connector import FetchOutcome
from ic3_pipeline.sync.standing import SiteAsset, site_assets
from ic3_pipeline.warehouse.dagster_metadata import row_count_metadata

if TYPE_CHECKING:
    from ic3_pipeline.components.source import SourceSpec

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


def site_figures(outcomes: SiteOutcomes, assets: Sequence[SiteAsset]) -> dict[str, object]:
    """A site's own metadata for the source's first table: what this run did to its assets, the requests they took,
    and where they stand now."""
    return {**own_figures(outcomes.due, outcomes.failures, outcomes.warnings),
            "requests this run": outcomes.requests, "retries this run": outcomes.retries, **standing_figures(assets)}


def site_materializations(spec: SourceSpec, engine: Engine, key: str,
                          outcomes: SiteOutcomes) -> Iterator[AssetMaterialization]:
    """One finished site's materialization of each of the source's tables, each with its own figures."""
    with engine.connect() as conn:
        for index, table in enumerate(spec.connector.tables):
            own = (site_figures(outcomes, site_assets(engine, spec.source, [key])) if index == 0
                   else {"rows written": table.rows_per_asset * outcomes.synced})
            yield AssetMaterialization(asset_key=spec.key(table.name), partition=key,
                                       metadata={**own, **row_count_metadata(conn, table.table)})
