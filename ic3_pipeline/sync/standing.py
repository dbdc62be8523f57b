"""Where a source's assets stand now, read from its state (``cmms_sync_state``), not from the run that last ran.

A run sees only the assets that were due, and a one-asset run or a backfill with nothing due sees almost none: a
check or a partition's metadata built from the run alone would say "0 failed, 0 not found" while the database still
records failures and 404s. These queries answer for whole partitions, whatever ran last — and, for a batch the
database stopped midway, what it had written (``ic3_sync_log``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, case, func, select

from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc

asset = tables.asset_master
location = tables.location_master
state = tables.sync_state


@dataclass(frozen=True)
class SiteAsset:
    """One register asset of a partition, with ``source``'s last status for it (``None``: never tried)."""

    asset_id: str
    partition_key: str
    status: str | None


def site_assets(engine: Engine, source: str, keys: Sequence[str]) -> list[SiteAsset]:
    """Every asset of the ``keys`` partitions with ``source``'s last status, by partition then id."""
    query = (
        select(asset.c.cmms_asset_id, location.c.partition_key, state.c.last_sync_status)
        .select_from(asset)
        .join(location, location.c.location_id == asset.c.location_id)
        .outerjoin(state, and_(state.c.asset_id == asset.c.asset_id, state.c.source == source))
        .where(location.c.partition_key.in_(list(keys)))
        .order_by(location.c.partition_key, asset.c.cmms_asset_id)
    )
    with engine.connect() as conn:
        return [SiteAsset(*row) for row in conn.execute(query)]


@dataclass(frozen=True)
class StandingAsset:
    """An asset whose last attempt by the source ended in a given status, and why."""

    asset_id: str
    partition_key: str
    error: str | None
    consecutive_failures: int
    last_attempt_at: datetime | None


@dataclass(frozen=True)
class Standing:
    """The assets of a scope in one status: how many, how many of them in the focus partitions, the first few."""

    total: int
    in_focus: int
    first: list[StandingAsset]


def assets_in_status(
    engine: Engine,
    source: str,
    scope: Sequence[str] | None,
    status: str,
    *,
    focus: Sequence[str] | None = None,
    limit: int = 50,
) -> Standing:
    """``source``'s assets in ``scope`` (partition keys; ``None``: every register site) whose last status is
    ``status``; ``in_focus`` counts those in the ``focus`` partitions (a run's own sites)."""
    matching = (
        select(asset.c.cmms_asset_id, location.c.partition_key, state.c.last_sync_error,
               state.c.consecutive_failures, state.c.last_attempt_at)
        .select_from(asset)
        .join(state, and_(state.c.asset_id == asset.c.asset_id, state.c.source == source))
        .join(location, location.c.location_id == asset.c.location_id)
        .where(state.c.last_sync_status == status)
    )
    if scope is not None:
        matching = matching.where(location.c.partition_key.in_(list(scope)))
    found = matching.subquery()
    focused = (found.c.partition_key.in_(list(focus)) if focus is not None
               else found.c.partition_key.is_not(None))
    counts = select(func.count(), func.coalesce(func.sum(case((focused, 1), else_=0)), 0)).select_from(found)
    with engine.connect() as conn:
        total, in_focus = conn.execute(counts).one()
        rows = conn.execute(
            matching.order_by(location.c.partition_key, asset.c.cmms_asset_id).limit(limit)
        ).all()
    return Standing(
        total=total,
        in_focus=in_focus,
        first=[StandingAsset(a, key, error, failures or 0, as_utc(at)) for a, key, error, failures, at in rows],
    )


def batch_outcomes(engine: Engine, batch_id: str) -> Counter:
    """How many assets batch ``batch_id`` wrote, by status (``ic3_sync_log``: one row per asset attempted, committed
    with the asset's rows) — what a batch stopped midway had done."""
    log = tables.sync_log
    query = select(log.c.status, func.count()).where(log.c.batch_id == batch_id).group_by(log.c.status)
    with engine.connect() as conn:
        return Counter(dict(conn.execute(query).all()))
