"""KPI rollups from base quantities: one function the KPI assets and ``ic3 kpi`` share, so both show the same numbers.

Per asset, Innomaint's performance block gives repair events (``total_ticket``), repair hours
(``total_ticket_breakdown_hours``) and operating hours (``total_actual_hours``). For a group of assets:

- MTTR (SMRP 3.5.2) = Σ repair hours / Σ repair events
- MTBF (SMRP 3.5.1) = Σ (operating hours − repair hours) / Σ repair events
- inherent availability = Σ (operating hours − repair hours) / Σ operating hours × 100

The sums are taken by the database over the assets whose three quantities are all known; the others are counted
as ``assets_without_data``. No repair events: MTTR and MTBF are NULL (not 0, which would read as "repairs take no
time"); no operating hours: availability is NULL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, Subquery, and_, case, func, literal, select

from ic3_pipeline.warehouse import tables

Level = Literal["site", "customer", "source"]
LEVELS: tuple[Level, ...] = ("site", "customer", "source")
NO_NAME = "(none)"  # the group of assets whose site / customer the register left empty

asset = tables.asset_master
performance = tables.asset_performance
history = tables.asset_performance_history
state = tables.sync_state


@dataclass(frozen=True)
class Rollup:
    """One group's base sums and the KPIs derived from them."""

    name: str
    assets: int
    assets_with_data: int
    repair_events: int
    repair_hours: float
    operating_hours: float

    @property
    def assets_without_data(self) -> int:
        return self.assets - self.assets_with_data

    @property
    def mttr_hours(self) -> float | None:
        return self.repair_hours / self.repair_events if self.repair_events else None

    @property
    def mtbf_hours(self) -> float | None:
        return (self.operating_hours - self.repair_hours) / self.repair_events if self.repair_events else None

    @property
    def availability_pct(self) -> float | None:
        if not self.operating_hours:
            return None
        return (self.operating_hours - self.repair_hours) / self.operating_hours * 100

    def figures(self) -> dict[str, object]:
        """Everything a row of a KPI table (or of ``ic3 kpi``) holds, the group's name left to the caller."""
        return {
            "assets": self.assets, "assets_with_data": self.assets_with_data,
            "assets_without_data": self.assets_without_data, "repair_events": self.repair_events,
            "repair_hours": self.repair_hours, "operating_hours": self.operating_hours,
            "mttr_hours": self.mttr_hours, "mtbf_hours": self.mtbf_hours, "availability_pct": self.availability_pct,
        }


def current_values(name: str = "asset_values") -> Subquery:
    """Each asset's base quantities as ``ic3_asset_performance`` holds them now."""
    return select(
        performance.c.asset_id, performance.c.sync_version,
        performance.c.total_ticket.label("events"),
        performance.c.total_ticket_breakdown_hours.label("repair"),
        performance.c.total_actual_hours.label("operating"),
    ).subquery(name)


def values_as_of(moment: datetime, name: str = "asset_values") -> Subquery:
    """Each asset's base quantities as they stood at ``moment``: its newest history row received before it."""
    newest = (
        select(history.c.asset_id, func.max(history.c.sync_version).label("sync_version"))
        .where(history.c.synced_at < moment)
        .group_by(history.c.asset_id)
        .subquery(f"{name}_newest")
    )
    return (
        select(
            history.c.asset_id, history.c.sync_version,
            history.c.total_ticket.label("events"),
            history.c.total_ticket_breakdown_hours.label("repair"),
            history.c.total_actual_hours.label("operating"),
        )
        .join(newest, and_(newest.c.asset_id == history.c.asset_id, newest.c.sync_version == history.c.sync_version))
        .subquery(name)
    )


def rollups(conn: Connection, level: Level | None, *, values: Subquery | None = None,
            site: str | None = None) -> list[Rollup]:
    """The groups of ``level`` (``None``: the whole fleet, one group), sorted by name, over the register's assets
    (``site``: only that site's); ``values`` the base quantities to use (default: today's)."""
    values = current_values() if values is None else values
    known = and_(values.c.events.isnot(None), values.c.repair.isnot(None), values.c.operating.isnot(None))
    if level == "source":
        # An asset's performance counts for the source whose sync wrote it (its state is at that very version).
        group = state.c.source
        base = state.join(asset, asset.c.asset_id == state.c.asset_id).outerjoin(
            values, and_(values.c.asset_id == state.c.asset_id, values.c.sync_version == state.c.sync_version))
    else:
        group = {"site": func.coalesce(asset.c.site_name, NO_NAME),
                 "customer": func.coalesce(asset.c.customer_name, NO_NAME),
                 None: literal("fleet")}[level]
        base = asset.outerjoin(values, values.c.asset_id == asset.c.asset_id)
    query = select(
        group.label("name"),
        func.count(asset.c.asset_id),
        func.sum(case((known, 1), else_=0)),
        func.sum(case((known, values.c.events))),
        func.sum(case((known, values.c.repair))),
        func.sum(case((known, values.c.operating))),
    ).select_from(base)
    if site is not None:
        query = query.where(asset.c.site_name == site)
    if level is not None:
        query = query.group_by(group)
    rows = [
        Rollup(name, int(assets), int(with_data or 0), int(events or 0), float(repair or 0.0), float(operating or 0.0))
        for name, assets, with_data, events, repair, operating in conn.execute(query)
        if assets  # the fleet of an empty register has no group
    ]
    return sorted(rows, key=lambda rollup: rollup.name)


def fleet(conn: Connection, *, values: Subquery | None = None) -> Rollup:
    """The whole fleet (every register asset); an empty register gives an empty group."""
    found = rollups(conn, None, values=values)
    return found[0] if found else Rollup("fleet", 0, 0, 0, 0.0, 0.0)


def worst(groups: list[Rollup], count: int = 10) -> list[Rollup]:
    """The ``count`` groups of lowest availability (those without a figure last)."""
    return sorted(groups, key=lambda r: (r.availability_pct is None, r.availability_pct or 0.0, r.name))[:count]
