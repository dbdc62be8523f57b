"""Work-order KPIs from the unified ``cmms_work_order`` table (every source; rows with ``_deleted_at`` set left out),
per site, per source and for the fleet, for a period ``[now − period_days, now)``:

- **PM compliance** = preventive WOs due in the period and completed by ``due_at + grace`` ÷ preventive WOs due in
  the period × 100 (cancelled ones count in neither). The reference's usual grace is 20 % of the PM interval (at most
  28 days), but a work order carries no interval, so the grace is a fixed number of days (``IC3_KPI_PM_GRACE_DAYS``,
  default 0: on time means by the due date). NULL when no preventive WO was due.
- **Backlog** = WOs open now (``open``, ``in_progress``, ``on_hold``), whatever the period, and their age in days
  (now − ``created_at``; mean and max over those whose ``created_at`` is known).
- **Overdue** = open WOs whose ``due_at`` is past; ``overdue_preventive`` the preventive ones (the alert check's).
- **Corrective MTTR** = Σ (``completed_at`` − ``created_at``) hours ÷ the number of corrective WOs completed in the
  period (status ``completed``, ``created_at`` known, not completed before created): one sum over the WOs, never an
  average of averages. NULL when none was completed.

Groups: ``site`` is the work order's own site (``(none)`` when empty), not the register's. The rows are few per group
and the arithmetic on timestamps differs per dialect, so the database filters and Python sums.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, or_, select

from ic3_pipeline.kpi.rollups import NO_NAME
from ic3_pipeline.warehouse.times import as_utc
from ic3_pipeline.warehouse.unified_tables import cmms_work_order as wo

OPEN = ("open", "in_progress", "on_hold")
PERIOD_ENV = "IC3_KPI_PERIOD_DAYS"
GRACE_ENV = "IC3_KPI_PM_GRACE_DAYS"
MAX_OVERDUE_PM_ENV = "IC3_KPI_MAX_OVERDUE_PM"
DEFAULT_PERIOD_DAYS = 30
DEFAULT_GRACE_DAYS = 0.0
DEFAULT_MAX_OVERDUE_PM = 0
WO_LEVELS = ("site", "source")
DAY_S, HOUR_S = 86_400.0, 3_600.0


class BadSetting(ValueError):
    """A work-order KPI variable holds something that is not a number in range."""


@dataclass(frozen=True)
class WorkOrderSettings:
    period_days: int = DEFAULT_PERIOD_DAYS
    grace_days: float = DEFAULT_GRACE_DAYS
    max_overdue_pm: int = DEFAULT_MAX_OVERDUE_PM  # overdue preventive WOs a site may have before the check fails

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkOrderSettings:
        env = os.environ if env is None else env
        return cls(
            period_days=int(_number(env, PERIOD_ENV, DEFAULT_PERIOD_DAYS, 1, 3650, whole=True)),
            grace_days=_number(env, GRACE_ENV, DEFAULT_GRACE_DAYS, 0, 365),
            max_overdue_pm=int(_number(env, MAX_OVERDUE_PM_ENV, DEFAULT_MAX_OVERDUE_PM, 0, 1_000_000, whole=True)),
        )


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, *,
            whole: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadSetting(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise BadSetting(f"{name}={raw!r} is out of range ({low:g} to {high:g})")
    if whole and value != int(value):
        raise BadSetting(f"{name}={raw!r}: expected a whole number")
    return value


@dataclass
class WorkOrderKpis:
    """One group's base counts and sums, and the KPIs derived from them."""

    name: str
    pm_due: int = 0
    pm_done_on_time: int = 0
    backlog: int = 0
    backlog_aged: int = 0
    backlog_age_days_sum: float = 0.0
    backlog_max_age_days: float | None = None
    overdue: int = 0
    overdue_preventive: int = 0
    corrective_completed: int = 0
    corrective_repair_hours: float = 0.0
    overdue_preventive_ids: list[str] = field(default_factory=list)  # "source:source_id", for the alert

    @property
    def pm_compliance_pct(self) -> float | None:
        return self.pm_done_on_time / self.pm_due * 100 if self.pm_due else None

    @property
    def backlog_mean_age_days(self) -> float | None:
        return self.backlog_age_days_sum / self.backlog_aged if self.backlog_aged else None

    @property
    def corrective_mttr_hours(self) -> float | None:
        return self.corrective_repair_hours / self.corrective_completed if self.corrective_completed else None

    def figures(self) -> dict[str, object]:
        """What a row of ``ic3_kpi_work_orders`` (and ``ic3 kpi --json``) holds, the group's name left out."""
        return {
            "pm_due": self.pm_due, "pm_done_on_time": self.pm_done_on_time,
            "pm_compliance_pct": self.pm_compliance_pct,
            "backlog": self.backlog, "backlog_aged": self.backlog_aged,
            "backlog_age_days_sum": self.backlog_age_days_sum,
            "backlog_mean_age_days": self.backlog_mean_age_days, "backlog_max_age_days": self.backlog_max_age_days,
            "overdue": self.overdue, "overdue_preventive": self.overdue_preventive,
            "corrective_completed": self.corrective_completed,
            "corrective_repair_hours": self.corrective_repair_hours,
            "corrective_mttr_hours": self.corrective_mttr_hours,
        }


@dataclass(frozen=True)
class WorkOrderReport:
    period_start: datetime
    period_end: datetime
    grace_days: float
    fleet: WorkOrderKpis
    sites: list[WorkOrderKpis]
    sources: list[WorkOrderKpis]

    def groups(self) -> list[tuple[str, WorkOrderKpis]]:
        return [("fleet", self.fleet), *(("site", g) for g in self.sites), *(("source", g) for g in self.sources)]

    def site(self, name: str) -> WorkOrderKpis:
        """That site's figures (an empty group when it has no work order)."""
        return next((g for g in self.sites if g.name == name), WorkOrderKpis(name))

    def source(self, name: str) -> WorkOrderKpis:
        return next((g for g in self.sources if g.name == name), WorkOrderKpis(name))


def work_order_kpis(conn: Connection, now: datetime, settings: WorkOrderSettings) -> WorkOrderReport:
    """The KPIs of every site, source and the fleet for the period ending at ``now``."""
    start = now - timedelta(days=settings.period_days)
    grace = timedelta(days=settings.grace_days)
    query = select(wo.c.source, wo.c.source_id, wo.c.site, wo.c.status, wo.c.work_type, wo.c.created_at, wo.c.due_at,
                   wo.c.completed_at).where(
        wo.c._deleted_at.is_(None),
        or_(wo.c.status.in_(OPEN), wo.c.due_at >= start, wo.c.completed_at >= start),
    ).order_by(wo.c.source, wo.c.source_id)
    fleet = WorkOrderKpis("fleet")
    sites: dict[str, WorkOrderKpis] = {}
    sources: dict[str, WorkOrderKpis] = {}
    for source, source_id, site, status, work_type, created, due, completed in conn.execute(query):
        created, due, completed = as_utc(created), as_utc(due), as_utc(completed)
        site_group = sites.setdefault(site if site not in (None, "") else NO_NAME, WorkOrderKpis(site or NO_NAME))
        source_group = sources.setdefault(source, WorkOrderKpis(source))
        for group in (fleet, site_group, source_group):
            _count(group, f"{source}:{source_id}", status, work_type, created, due, completed, now, start, grace)
    return WorkOrderReport(start, now, settings.grace_days, fleet, sorted(sites.values(), key=lambda g: g.name),
                           sorted(sources.values(), key=lambda g: g.name))


def _count(group: WorkOrderKpis, wo_id: str, status: str | None, work_type: str | None, created: datetime | None,
           due: datetime | None, completed: datetime | None, now: datetime, start: datetime, grace: timedelta) -> None:
    preventive = work_type == "preventive"
    if preventive and status != "cancelled" and due is not None and start <= due < now:
        group.pm_due += 1
        if completed is not None and completed <= due + grace:
            group.pm_done_on_time += 1
    if status in OPEN:
        group.backlog += 1
        if created is not None:
            age = max((now - created).total_seconds() / DAY_S, 0.0)
            group.backlog_aged += 1
            group.backlog_age_days_sum += age
            group.backlog_max_age_days = max(age, group.backlog_max_age_days or 0.0)
        if due is not None and due < now:
            group.overdue += 1
            if preventive:
                group.overdue_preventive += 1
                group.overdue_preventive_ids.append(wo_id)
    if (work_type == "corrective" and status == "completed" and created is not None and completed is not None
            and start <= completed < now and completed >= created):
        group.corrective_completed += 1
        group.corrective_repair_hours += (completed - created).total_seconds() / HOUR_S


def overdue_pm_sites(report: WorkOrderReport, settings: WorkOrderSettings) -> list[WorkOrderKpis]:
    """The sites with more overdue preventive WOs than allowed, most first."""
    return sorted((g for g in report.sites if g.overdue_preventive > settings.max_overdue_pm),
                  key=lambda g: (-g.overdue_preventive, g.name))
