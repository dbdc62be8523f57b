"""A source's checks. Each judges the database's state of every partition the check covers, never only what the
latest run touched: a one-asset run or a backfill with nothing due must not turn a check green while the source's
state still records failed or unknown assets.

All three are emitted by the sync step, so they are evaluated after every sync (the rows-consistent check was an
op of its own, which Dagster skips when the step logs its sites' materializations itself). None of them is partitioned (Dagster's partitioned checks are a preview that
cannot answer for a run covering a range of partitions), so each covers all of the source's sites.
"""

from collections.abc import Sequence

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue
from sqlalchemy import Engine

from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.sync.integrity import inconsistent_assets
from ic3_pipeline.sync.standing import Standing, assets_in_status

MAX_IDS_SHOWN = 50
STANDING_COLUMNS = ("asset id", "site", "reason", "failures in a row", "last attempt")


def sync_errors_result(spec: SourceSpec, engine: Engine, run_keys: Sequence[str] | None) -> AssetCheckResult:
    """Fails while any asset of the source's sites has a failed last attempt, naming each id, its site and reason."""
    standing = _standing(spec, engine, "error", run_keys)
    return AssetCheckResult(
        check_name=spec.sync_errors_check,
        asset_key=spec.details_key,
        passed=standing.total == 0,
        description=(f"{standing.total} assets of {_sites(spec)} failed their last sync ({standing.in_focus} of them "
                     "in this run's sites); they stay due" if standing.total else None),
        metadata={
            "failed": standing.total,
            "failed in this run's sites": standing.in_focus,
            "failed ids": MetadataValue.md(_table(standing)),
        },
    )


def known_assets_result(spec: SourceSpec, engine: Engine, run_keys: Sequence[str] | None) -> AssetCheckResult:
    """Warns while the CMMS answers 404 for any asset of the source's sites (the register lists an id it lacks)."""
    standing = _standing(spec, engine, "not_found", run_keys)
    return AssetCheckResult(
        check_name=spec.known_assets_check,
        asset_key=spec.details_key,
        passed=standing.total == 0,
        severity=AssetCheckSeverity.WARN,
        description=(f"{spec.connector.display_name} does not know {standing.total} assets of {_sites(spec)} "
                     f"(HTTP 404; {standing.in_focus} of them in this run's sites)" if standing.total else None),
        metadata={
            "not found": standing.total,
            "not found in this run's sites": standing.in_focus,
            "ids": MetadataValue.md(_table(standing, columns=STANDING_COLUMNS[:3])),
        },
    )


def _standing(spec: SourceSpec, engine: Engine, status: str, run_keys: Sequence[str] | None) -> Standing:
    return assets_in_status(engine, spec.source, spec.partitioning.scope, status, focus=run_keys, limit=MAX_IDS_SHOWN)


def _sites(spec: SourceSpec) -> str:
    return f"{spec.source}'s sites" if spec.partitioning.partitioned else spec.source


def _table(standing: Standing, columns: Sequence[str] = STANDING_COLUMNS) -> str:
    rows = [
        {"asset id": a.asset_id, "site": a.partition_key, "reason": a.error, "failures in a row": a.consecutive_failures,
         "last attempt": a.last_attempt_at.strftime("%Y-%m-%d %H:%M:%S UTC") if a.last_attempt_at else None}
        for a in standing.first
    ]
    shown = markdown_table(rows, columns)
    if standing.total > len(rows):
        shown += f"\n\n… and {standing.total - len(rows)} more (`cmms_sync_state` holds them all)"
    return shown


def rows_consistent_spec(spec: SourceSpec) -> AssetCheckSpec:
    tables = ", ".join(f"`{v.table.name}`" for v in spec.connector.versioned_tables)
    return AssetCheckSpec(
        spec.rows_consistent_check,
        asset=spec.details_key,
        description=(f"No half-written asset: every asset {spec.source} synced has its rows in {tables} at the "
                     "asset's sync_version, and never-synced assets have none of them."),
    )


def rows_consistent_result(spec: SourceSpec, engine: Engine) -> AssetCheckResult:
    """Passes while no asset of the source is half-written (``sync.integrity``), naming the first that are."""
    problems = inconsistent_assets(engine, spec.source, spec.connector.versioned_tables)
    return AssetCheckResult(
        check_name=spec.rows_consistent_check,
        asset_key=spec.details_key,
        passed=not problems,
        metadata={
            "inconsistent assets (first 50)": len(problems),
            "details": MetadataValue.md(
                markdown_table([{"asset id": a, "rows": w} for a, w in problems], ("asset id", "rows"))
            ),
        },
    )
