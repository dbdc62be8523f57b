"""The KPI alerts, as plain queries: which assets (and sites) break a threshold. The Dagster checks
(``kpi.assets``) turn each into a pass or a failure naming them.

Thresholds come from the environment, read when a check runs, with defaults a maintenance manager would start from:

- ``IC3_KPI_MIN_AVAILABILITY_CRITICAL`` / ``_HIGH`` / ``_MEDIUM`` / ``_LOW``: the least inherent availability (%)
  an asset of that criticality may show (95, 90, 85, 80);
- ``IC3_KPI_MTBF_DROP_PCT`` (20) and ``IC3_KPI_MTBF_LOOKBACK_DAYS`` (30): how far MTBF may fall against that many
  days earlier (from the performance history).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from ic3_pipeline.kpi.rollups import NO_NAME, Rollup, current_values, rollups, values_as_of
from ic3_pipeline.warehouse import tables

CRITICALITIES = ("critical", "high", "medium", "low")
DEFAULT_MIN_AVAILABILITY = {"critical": 95.0, "high": 90.0, "medium": 85.0, "low": 80.0}
DEFAULT_MTBF_DROP_PCT = 20.0
DEFAULT_LOOKBACK_DAYS = 30
MIN_AVAILABILITY_ENV = "IC3_KPI_MIN_AVAILABILITY_{}"
MTBF_DROP_ENV = "IC3_KPI_MTBF_DROP_PCT"
LOOKBACK_ENV = "IC3_KPI_MTBF_LOOKBACK_DAYS"

asset = tables.asset_master


class BadThreshold(ValueError):
    """A threshold variable holds something that is not a number in range."""


@dataclass(frozen=True)
class Thresholds:
    min_availability: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_AVAILABILITY))
    mtbf_drop_pct: float = DEFAULT_MTBF_DROP_PCT
    lookback_days: int = DEFAULT_LOOKBACK_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Thresholds:
        env = os.environ if env is None else env
        minimum = {level: _number(env, MIN_AVAILABILITY_ENV.format(level.upper()), default, 0, 100)
                   for level, default in DEFAULT_MIN_AVAILABILITY.items()}
        drop = _number(env, MTBF_DROP_ENV, DEFAULT_MTBF_DROP_PCT, 0, 100)
        days = _number(env, LOOKBACK_ENV, DEFAULT_LOOKBACK_DAYS, 1, 3650)
        if days != int(days):
            raise BadThreshold(f"{LOOKBACK_ENV}={env[LOOKBACK_ENV]!r}: expected a whole number of days")
        return cls(minimum, drop, int(days))


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadThreshold(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise BadThreshold(f"{name}={raw!r} is out of range ({low:g} to {high:g})")
    return value


@dataclass(frozen=True)
class LowAvailability:
    cmms_asset_id: str
    site: str
    criticality: str
    availability_pct: float
    threshold_pct: float


def low_availability(conn: Connection, thresholds: Thresholds) -> tuple[list[LowAvailability], int]:
    """Assets whose inherent availability ((operating − repair) / operating × 100) is below their criticality's
    threshold, worst first; and how many assets were judged (known criticality, operating hours above 0)."""
    values = current_values()
    level = func.lower(func.trim(asset.c.criticality))
    query = (
        select(asset.c.cmms_asset_id, func.coalesce(asset.c.site_name, NO_NAME), asset.c.criticality, level,
               values.c.repair, values.c.operating)
        .join(values, values.c.asset_id == asset.c.asset_id)
        .where(level.in_(CRITICALITIES), values.c.repair.isnot(None), values.c.operating > 0)
    )
    judged, failing = 0, []
    for cmms_id, site, criticality, key, repair, operating in conn.execute(query):
        judged += 1
        availability = (operating - repair) / operating * 100
        threshold = thresholds.min_availability[key]
        if availability < threshold:
            failing.append(LowAvailability(cmms_id, site, criticality, availability, threshold))
    failing.sort(key=lambda row: (row.availability_pct - row.threshold_pct, row.cmms_asset_id))
    return failing, judged


@dataclass(frozen=True)
class MtbfDrop:
    kind: str  # asset | site
    name: str
    site: str
    mtbf_before: float
    mtbf_now: float

    @property
    def drop_pct(self) -> float:
        return (self.mtbf_before - self.mtbf_now) / self.mtbf_before * 100


def mtbf_drops(conn: Connection, thresholds: Thresholds, now: datetime) -> tuple[list[MtbfDrop], int]:
    """Assets and sites whose MTBF now is more than ``mtbf_drop_pct`` % below what it was ``lookback_days`` earlier
    (from the history; only those with repair events and a positive MTBF then and repair events now), largest drop
    first; and how many assets and sites could be compared."""
    then = now - timedelta(days=thresholds.lookback_days)
    compared, drops = 0, []
    before_values, now_values = values_as_of(then, "values_before"), current_values("values_now")
    query = (
        select(asset.c.cmms_asset_id, func.coalesce(asset.c.site_name, NO_NAME),
               before_values.c.events, before_values.c.repair, before_values.c.operating,
               now_values.c.events, now_values.c.repair, now_values.c.operating)
        .join(before_values, before_values.c.asset_id == asset.c.asset_id)
        .join(now_values, now_values.c.asset_id == asset.c.asset_id)
    )
    for cmms_id, site, *quantities in conn.execute(query):
        before = Rollup(cmms_id, 1, 1, *_known(quantities[:3]))
        current = Rollup(cmms_id, 1, 1, *_known(quantities[3:]))
        compared += _compare(drops, "asset", cmms_id, site, before, current, thresholds)
    before_sites = {group.name: group for group in rollups(conn, "site", values=before_values)}
    for group in rollups(conn, "site"):
        if group.name in before_sites:
            compared += _compare(drops, "site", group.name, group.name, before_sites[group.name], group, thresholds)
    drops.sort(key=lambda drop: (-drop.drop_pct, drop.kind, drop.name))
    return drops, compared


def _known(quantities: list) -> tuple[int, float, float]:
    events, repair, operating = quantities
    if events is None or repair is None or operating is None:
        return 0, 0.0, 0.0
    return int(events), float(repair), float(operating)


def _compare(drops: list[MtbfDrop], kind: str, name: str, site: str, before: Rollup, current: Rollup,
             thresholds: Thresholds) -> int:
    if before.mtbf_hours is None or before.mtbf_hours <= 0 or current.mtbf_hours is None:
        return 0
    drop = MtbfDrop(kind, name, site, before.mtbf_hours, current.mtbf_hours)
    if drop.drop_pct > thresholds.mtbf_drop_pct:
        drops.append(drop)
    return 1
