"""A small hand-made fleet whose KPIs are worked out by hand below (values exact in binary, so sums are exact).

| asset | site | customer | criticality | events | repair h | operating h | source (state at the row's version) |
|---|---|---|---|---|---|---|---|
| A1 | Alpha | C1 | Critical | 2 | 3.0 | 100.0 | innomaint |
| A2 | Alpha | C1 | High | 1 | 1.5 | 50.0 | innomaint |
| A3 | Alpha | C1 | Medium | 4 | 2.0 | NULL (no data) | innomaint |
| B1 | Beta | C1 | Low | 0 | 0.0 | 200.0 (no events) | innomaint |
| B2 | Beta | C1 | Low | no performance row (no data) | | | — |
| G1 | Gamma | C2 | Critical | 0 | 0.0 | 0.0 (no operating hours) | innomaint_south |

History: every performance row was received a day ago; A1 also 40 days ago with 1 event, 1.0 h repair, 60.0 h
operating (MTBF 59 h then, 48.5 h now: −17.8 %).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import utc_now

ASSETS = [  # id, site, customer, criticality, (events, repair, operating) or None, source
    ("A1", "Alpha", "C1", "Critical", (2, 3.0, 100.0), "innomaint"),
    ("A2", "Alpha", "C1", "High", (1, 1.5, 50.0), "innomaint"),
    ("A3", "Alpha", "C1", "Medium", (4, 2.0, None), "innomaint"),
    ("B1", "Beta", "C1", "Low", (0, 0.0, 200.0), "innomaint"),
    ("B2", "Beta", "C1", "Low", None, None),
    ("G1", "Gamma", "C2", "critical", (0, 0.0, 0.0), "innomaint_south"),
]
OLD_A1 = (1, 1.0, 60.0)


def kpis(assets: int, with_data: int, events: int, repair: float, operating: float) -> dict:
    """The figures as the definitions give them, written out by hand."""
    return {
        "assets": assets, "assets_with_data": with_data, "assets_without_data": assets - with_data,
        "repair_events": events, "repair_hours": repair, "operating_hours": operating,
        "mttr_hours": repair / events if events else None,
        "mtbf_hours": (operating - repair) / events if events else None,
        "availability_pct": (operating - repair) / operating * 100 if operating else None,
    }


# Alpha: A1 + A2 (A3 without data): 3 events, 4.5 h repair, 150 h operating.
EXPECTED_SITES = {
    "Alpha": kpis(3, 2, 3, 4.5, 150.0),
    "Beta": kpis(2, 1, 0, 0.0, 200.0),  # no repair events: MTTR and MTBF NULL, availability 100
    "Gamma": kpis(1, 1, 0, 0.0, 0.0),  # no operating hours: availability NULL too
}
EXPECTED_CUSTOMERS = {"C1": kpis(5, 3, 3, 4.5, 350.0), "C2": kpis(1, 1, 0, 0.0, 0.0)}
EXPECTED_SOURCES = {"innomaint": kpis(4, 3, 3, 4.5, 350.0), "innomaint_south": kpis(1, 1, 0, 0.0, 0.0)}
EXPECTED_FLEET = kpis(6, 4, 3, 4.5, 350.0)
assert EXPECTED_SITES["Alpha"]["mttr_hours"] == 1.5 and EXPECTED_SITES["Alpha"]["mtbf_hours"] == 48.5
assert EXPECTED_SITES["Alpha"]["availability_pct"] == 97.0 and EXPECTED_SITES["Beta"]["availability_pct"] == 100.0


def load(engine: Engine, now: datetime | None = None) -> datetime:
    """Write the fleet above; return the 'now' its history is dated from."""
    now = now or utc_now()
    day_ago, long_ago = now - timedelta(days=1), now - timedelta(days=40)
    with engine.begin() as conn:
        for number, (cmms_id, site, customer, criticality, quantities, source) in enumerate(ASSETS, start=1):
            conn.execute(tables.asset_master.insert().values(
                asset_id=number, cmms_asset_id=cmms_id, site_name=site, customer_name=customer,
                criticality=criticality, sync_version=1 if quantities else 0))
            if quantities is None:
                continue
            events, repair, operating = quantities
            values = {"total_ticket": events, "total_ticket_breakdown_hours": repair, "total_actual_hours": operating}
            conn.execute(tables.asset_performance.insert().values(
                asset_id=number, cmms_asset_id=cmms_id, sync_version=1, recorded_at=day_ago, **values))
            conn.execute(tables.sync_state.insert().values(
                source=source, asset_id=number, sync_version=1, last_sync_status="success", updated_at=day_ago))
            conn.execute(tables.asset_performance_history.insert().values(
                asset_id=number, cmms_asset_id=cmms_id, sync_version=1, synced_at=day_ago, recorded_at=day_ago,
                **values))
        old_events, old_repair, old_operating = OLD_A1
        conn.execute(tables.asset_performance_history.insert().values(
            asset_id=1, cmms_asset_id="A1", sync_version=0, synced_at=long_ago, recorded_at=long_ago,
            total_ticket=old_events, total_ticket_breakdown_hours=old_repair, total_actual_hours=old_operating))
    return now
