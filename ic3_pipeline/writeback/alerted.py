"""The assets the critical alert names now: Critical assets below their availability threshold, recomputed from the
database the way the ``availability_by_criticality`` check judges it (``kpi.alerts.low_availability``), so the
write-back and the check agree on the same data."""

from __future__ import annotations

from sqlalchemy import Connection, select

from ic3_pipeline.kpi.alerts import Thresholds, low_availability
from ic3_pipeline.warehouse.tables import asset_master
from ic3_pipeline.writeback.requests import AlertedAsset

ALERT = "availability_by_criticality"  # the check whose Critical failures raise work orders


def critical_low_availability(conn: Connection, thresholds: Thresholds) -> list[AlertedAsset]:
    failing, _ = low_availability(conn, thresholds)
    critical = [row for row in failing if row.criticality.strip().lower() == "critical"]
    if not critical:
        return []
    ids = dict(conn.execute(select(asset_master.c.cmms_asset_id, asset_master.c.asset_id)
                            .where(asset_master.c.cmms_asset_id.in_([row.cmms_asset_id for row in critical]))).all())
    return [
        AlertedAsset(
            asset_id=ids[row.cmms_asset_id],
            cmms_asset_id=row.cmms_asset_id,
            site=row.site,
            title=f"Availability {row.availability_pct:.1f}% below {row.threshold_pct:g}% (Critical)",
            details=(f"ic3 alert {ALERT}: Critical asset {row.cmms_asset_id} at {row.site} shows an inherent "
                     f"availability of {row.availability_pct:.2f}%, below the {row.threshold_pct:g}% its "
                     "criticality requires. Raised once per episode by ic3_pipeline."),
        )
        for row in critical
    ]
