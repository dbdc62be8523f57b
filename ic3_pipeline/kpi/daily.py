"""The rollups per UTC day, as the performance history stood at each day's end (``ic3_kpi_daily``).

Recomputed from the history, not snapshotted, so a day's figures are exact however often (or rarely) the asset ran:
on each run, every day from the earliest one whose history changed since the last run (a re-parse can add rows
dated in the past) up to today, today included (it is still filling). Groups are the register's as it is now.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Connection, Engine, delete, func, select

from ic3_pipeline.kpi.rollups import Rollup, fleet, rollups, values_as_of
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc

daily = tables.kpi_daily
history = tables.asset_performance_history
DAILY_LEVELS = ("site", "customer")


def rollups_at(conn: Connection, moment: datetime) -> list[tuple[str, Rollup]]:
    """(level, rollup) of every site, customer and the fleet as the history stood at ``moment``."""
    values = values_as_of(moment)
    found = [(level, group) for level in DAILY_LEVELS for group in rollups(conn, level, values=values)]
    return [*found, ("fleet", fleet(conn, values=values))]


def first_day_to_compute(conn: Connection) -> date | None:
    """The earliest day whose figures may have changed since the last run (None: no history at all)."""
    last_run = as_utc(conn.execute(select(func.max(daily.c.computed_at))).scalar())
    changed = select(func.min(history.c.synced_at))
    if last_run is not None:
        changed = changed.where(history.c.recorded_at >= last_run)
    earliest = as_utc(conn.execute(changed).scalar())
    last_day = conn.execute(select(func.max(daily.c.day))).scalar()
    candidates = [day for day in (earliest.date() if earliest else None, _as_date(last_day)) if day is not None]
    return min(candidates) if candidates else None


def refresh_daily(engine: Engine, now: datetime) -> list[date]:
    """Recompute the days that may have changed up to ``now``'s day; return them."""
    today = now.astimezone(timezone.utc).date()
    with engine.begin() as conn:
        start = first_day_to_compute(conn)
        if start is None:
            return []
        days = [start + timedelta(days=n) for n in range((today - start).days + 1)]
        for day in days:
            end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.utc)
            rows = rollups_at(conn, min(end, now + timedelta(microseconds=1)))
            conn.execute(delete(daily).where(daily.c.day == day))
            conn.execute(daily.insert(), [{"day": day, "level": level, "name": group.name, **group.figures(),
                                           "computed_at": now} for level, group in rows])
    return days


def _as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
