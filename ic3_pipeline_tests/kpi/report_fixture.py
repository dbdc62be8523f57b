"""A livelier database for the report's picture and its browser test: a few sites whose assets reported every few
days for two months (cumulative counters, as Innomaint sends them) and a spread of work orders. Deterministic per
seed; made up (no CMMS wrote it), which the README's caption says."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import Engine

from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.unified_tables import cmms_work_order

SITES = {  # site -> (assets, failures per 1,000 operating hours, mean repair hours)
    "Bengaluru Koramangala": (6, 1.2, 5.0),
    "Chennai Guindy": (5, 3.5, 9.0),
    "Hyderabad Kukatpally": (6, 0.8, 4.0),
    "Mumbai Thane W": (4, 2.2, 14.0),
}
DAYS, EVERY = 60, 4


def load(engine: Engine, now: datetime, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = now - timedelta(days=DAYS)
    asset_id = 0
    with engine.begin() as conn:
        for site, (count, rate, mean_repair) in SITES.items():
            for number in range(1, count + 1):
                asset_id += 1
                cmms_id = f"{site.split()[0][:3].upper()}-{number:02d}"
                operating, events, repair = rng.uniform(2_000, 6_000), rng.randint(0, 3), 0.0
                repair = sum(rng.expovariate(1 / mean_repair) for _ in range(events))
                history = []
                for version, day in enumerate(range(0, DAYS + 1, EVERY), start=1):
                    hours = 24 * EVERY * rng.uniform(0.6, 0.95)
                    operating += hours
                    worse = 1.0 + (site == "Chennai Guindy") * day / DAYS * 2  # one site getting worse
                    for _ in range(_poisson(rng, hours / 1000 * rate * worse)):
                        events += 1
                        repair += rng.expovariate(1 / mean_repair)
                    history.append((version, start + timedelta(days=day, hours=rng.uniform(1, 5)), events,
                                    round(repair, 2), round(operating, 2)))
                conn.execute(tables.asset_master.insert().values(
                    asset_id=asset_id, cmms_asset_id=cmms_id, site_name=site, customer_name="Demo Customer",
                    criticality=rng.choice(["Critical", "High", "Medium", "Low"]), sync_version=len(history)))
                for version, synced, ev, rep, op in history:
                    conn.execute(tables.asset_performance_history.insert().values(
                        asset_id=asset_id, cmms_asset_id=cmms_id, sync_version=version, synced_at=synced,
                        recorded_at=synced, total_ticket=ev, total_ticket_breakdown_hours=rep, total_actual_hours=op))
                version, synced, ev, rep, op = history[-1]
                conn.execute(tables.asset_performance.insert().values(
                    asset_id=asset_id, cmms_asset_id=cmms_id, sync_version=version, recorded_at=synced,
                    total_ticket=ev, total_ticket_breakdown_hours=rep, total_actual_hours=op))
        conn.execute(cmms_work_order.insert(), list(_work_orders(rng, now)))


def _work_orders(rng: random.Random, now: datetime):
    on_time = {"Bengaluru Koramangala": 0.95, "Chennai Guindy": 0.6, "Hyderabad Kukatpally": 0.85,
               "Mumbai Thane W": 0.75}
    number = 0
    for site, share in on_time.items():
        for _ in range(24):
            number += 1
            work_type = rng.choice(["preventive", "preventive", "corrective", "inspection"])
            created = now - timedelta(days=rng.uniform(1, 45))
            due = created + timedelta(days=rng.uniform(2, 14))
            done = rng.random() < (share if work_type == "preventive" else 0.8)
            completed = (due - timedelta(hours=rng.uniform(1, 48)) if rng.random() < share
                         else due + timedelta(days=rng.uniform(1, 6))) if done else None
            if completed is not None and completed > now:
                completed = now - timedelta(hours=1)
            if completed is not None and completed < created:
                completed = created + timedelta(hours=rng.uniform(2, 30))
            status = "completed" if completed else rng.choice(["open", "in_progress", "on_hold"])
            yield {"source": "maximo", "source_id": f"WO{number:04d}", "title": f"{work_type} work {number}",
                   "status": status, "priority": rng.randint(1, 5), "work_type": work_type, "site": site,
                   "created_at": created, "due_at": due, "completed_at": completed, "source_updated_at": now,
                   "_stream": "wodetail", "_record_key": f"WO{number:04d}", "_partition": site, "_synced_at": now}


def _poisson(rng: random.Random, mean: float) -> int:
    count, limit, product = 0, pow(2.718281828459045, -mean), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
