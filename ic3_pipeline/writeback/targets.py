"""Which CMMS holds an alerted asset: the live ``cmms_asset`` rows linked to it (``ic3_asset_id``), the first whose
source can take a work order (by source name). None, with the reason to log, when no such source holds it - an
asset known only to Innomaint (the register's own CMMS, which takes no work orders from here), or only to sources
without a write-back."""

from __future__ import annotations

from sqlalchemy import Connection, select

from ic3_pipeline.warehouse.unified_tables import cmms_asset
from ic3_pipeline.writeback.requests import Target
from ic3_pipeline.writeback.shapes import SHAPES


def find_target(conn: Connection, asset_id: int) -> tuple[Target | None, str | None]:
    """(target, None), or (None, why not)."""
    rows = conn.execute(
        select(cmms_asset.c.source, cmms_asset.c.source_id)
        .where(cmms_asset.c.ic3_asset_id == asset_id, cmms_asset.c._deleted_at.is_(None))
        .order_by(cmms_asset.c.source, cmms_asset.c.source_id)
    ).all()
    for source, source_id in rows:
        if source in SHAPES:
            return Target(source, source_id), None
    if not rows:
        return None, ("no source that takes work orders holds it (no cmms_asset row links it): an Innomaint-only "
                      "asset, and Innomaint takes no work orders from ic3")
    held = sorted({source for source, _ in rows})
    return None, (f"held only by {', '.join(held)}, which {'takes' if len(held) == 1 else 'take'} no work orders "
                  f"from ic3 (write-back exists for {', '.join(sorted(SHAPES))})")
