"""A few work orders in ``cmms_work_order`` whose KPIs are worked out by hand below (times in whole hours or days
before the moment the fixture is loaded, ``N``; the period is the default 30 days, so it starts at N − 30 d).

| id | source | site | type | status | created | due | completed | counts for |
|---|---|---|---|---|---|---|---|---|
| W1 | maximo | North | preventive | completed | N−12 d | N−10 d | N−10 d − 1 h | PM due, on time |
| W2 | maximo | North | preventive | completed | N−7 d | N−5 d | N−4 d | PM due, 1 day late (on time with grace ≥ 1 d) |
| W3 | maximo | North | preventive | open | N−20 d | N−2 d | | PM due, not done; backlog 20 d; overdue PM |
| W4 | maximo | North | preventive | completed | N−45 d | N−40 d | N−39 d | nothing (due before the period) |
| W5 | maximo | North | preventive | cancelled | N−9 d | N−3 d | | nothing (cancelled) |
| W6 | maximo | North | corrective | completed | N−3 d | | N−3 d + 6 h | corrective, 6 h |
| W7 | maximo | North | corrective | completed | N−35 d | | N−34 d | nothing (completed before the period) |
| W8 | maximo | North | preventive | open | N−50 d | N−8 d | | nothing (deleted: `_deleted_at` set) |
| W9 | maximo | North | corrective | in_progress | N−4 d | N+1 d | | backlog 4 d, not overdue |
| W10 | maximo | Ghost | preventive | open | N−9 d | N−6 d | | nothing (deleted): no site Ghost |
| W11 | maximo | (empty) | inspection | open | N−1 d | | | backlog 1 d, site "(none)" |
| S1 | upkeep | South | corrective | completed | N−10 d | | N−10 d + 2 h | corrective, 2 h |
| S2 | upkeep | South | corrective | completed | N−5 d | | N−5 d + 4 h | corrective, 4 h |
| S3 | upkeep | South | emergency | on_hold | N−6 d | N−1 d | | backlog 6 d; overdue (not PM) |

South has no preventive work order: PM compliance NULL. Fleet corrective MTTR = (6 + 2 + 4) h / 3 = 4 h — not the
average of North's 6 h and South's 3 h (4.5 h).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from ic3_pipeline.warehouse.times import utc_now
from ic3_pipeline.warehouse.unified_tables import cmms_work_order

D, H = timedelta(days=1), timedelta(hours=1)
# id, source, site, work type, status, created, due, completed (offsets from N), deleted
ROWS = [
    ("W1", "maximo", "North", "preventive", "completed", -12 * D, -10 * D, -10 * D - H, False),
    ("W2", "maximo", "North", "preventive", "completed", -7 * D, -5 * D, -4 * D, False),
    ("W3", "maximo", "North", "preventive", "open", -20 * D, -2 * D, None, False),
    ("W4", "maximo", "North", "preventive", "completed", -45 * D, -40 * D, -39 * D, False),
    ("W5", "maximo", "North", "preventive", "cancelled", -9 * D, -3 * D, None, False),
    ("W6", "maximo", "North", "corrective", "completed", -3 * D, None, -3 * D + 6 * H, False),
    ("W7", "maximo", "North", "corrective", "completed", -35 * D, None, -34 * D, False),
    ("W8", "maximo", "North", "preventive", "open", -50 * D, -8 * D, None, True),
    ("W9", "maximo", "North", "corrective", "in_progress", -4 * D, D, None, False),
    ("W10", "maximo", "Ghost", "preventive", "open", -9 * D, -6 * D, None, True),
    ("W11", "maximo", None, "inspection", "open", -1 * D, None, None, False),
    ("S1", "upkeep", "South", "corrective", "completed", -10 * D, None, -10 * D + 2 * H, False),
    ("S2", "upkeep", "South", "corrective", "completed", -5 * D, None, -5 * D + 4 * H, False),
    ("S3", "upkeep", "South", "emergency", "on_hold", -6 * D, -1 * D, None, False),
]


def wo(pm_due=0, pm_on_time=0, ages=(), overdue=0, overdue_pm=0, repairs=()) -> dict:
    """The figures as the definitions give them, from the hand-picked rows."""
    return {
        "pm_due": pm_due, "pm_done_on_time": pm_on_time,
        "pm_compliance_pct": pm_on_time / pm_due * 100 if pm_due else None,
        "backlog": len(ages), "backlog_aged": len(ages), "backlog_age_days_sum": float(sum(ages)),
        "backlog_mean_age_days": sum(ages) / len(ages) if ages else None,
        "backlog_max_age_days": float(max(ages)) if ages else None,
        "overdue": overdue, "overdue_preventive": overdue_pm,
        "corrective_completed": len(repairs), "corrective_repair_hours": float(sum(repairs)),
        "corrective_mttr_hours": sum(repairs) / len(repairs) if repairs else None,
    }


def expected(grace_days: float = 0.0) -> dict[tuple[str, str], dict]:
    """(level, name) -> figures, for a PM grace of ``grace_days``."""
    north_on_time = 2 if grace_days >= 1 else 1  # W1, and W2 (a day late) within a grace of a day or more
    return {
        ("site", "North"): wo(3, north_on_time, (20, 4), 1, 1, (6,)),
        ("site", "South"): wo(0, 0, (6,), 1, 0, (2, 4)),
        ("site", "(none)"): wo(ages=(1,)),
        ("source", "maximo"): wo(3, north_on_time, (20, 4, 1), 1, 1, (6,)),
        ("source", "upkeep"): wo(0, 0, (6,), 1, 0, (2, 4)),
        ("fleet", "fleet"): wo(3, north_on_time, (20, 4, 1, 6), 2, 1, (6, 2, 4)),
    }


assert expected()[("fleet", "fleet")]["corrective_mttr_hours"] == 4.0
assert expected()[("site", "North")]["pm_compliance_pct"] == 1 / 3 * 100


def load(engine: Engine, now: datetime | None = None) -> datetime:
    """Write the work orders above; return N."""
    now = now or utc_now()
    at = lambda offset: None if offset is None else now + offset  # noqa: E731
    with engine.begin() as conn:
        conn.execute(cmms_work_order.insert(), [
            {"source": source, "source_id": wo_id, "title": f"work order {wo_id}", "status": status, "priority": 3,
             "work_type": work_type, "site": site, "created_at": at(created), "due_at": at(due),
             "completed_at": at(completed), "source_updated_at": now - H, "_stream": "wodetail",
             "_record_key": wo_id, "_partition": site or "", "_synced_at": now - H,
             "_deleted_at": now - H if deleted else None}
            for wo_id, source, site, work_type, status, created, due, completed, deleted in ROWS
        ])
    return now
