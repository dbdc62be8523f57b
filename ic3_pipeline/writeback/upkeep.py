"""UpKeep's work-order creation: ``POST /work-orders`` (the session token added by the source's own session auth,
``defs/upkeep/defs.yaml``), answered ``{"success": true, "result": {"id": …}}``. The asset is UpKeep's asset id
(``cmms_asset.source_id``). Category ``Mechanical`` (corrective) at priority 3 (high).
"""

from __future__ import annotations

import httpx

from ic3_pipeline.writeback.requests import (
    AlertedAsset,
    Target,
    WorkOrderRequest,
    WorkOrderShape,
    json_or_none,
)

CATEGORY = "Mechanical"
PRIORITY = 3


def build(asset: AlertedAsset, target: Target) -> WorkOrderRequest:
    body = {"title": asset.title, "description": asset.details, "priority": PRIORITY, "category": CATEGORY,
            "asset": target.source_asset_id}
    return WorkOrderRequest("work-orders", body)


def created(response: httpx.Response) -> tuple[str, str | None]:
    body = json_or_none(response)
    result = body.get("result") if isinstance(body, dict) else None
    work_order_id = result.get("id") if isinstance(result, dict) else None
    return (str(work_order_id) if work_order_id else None), None


def refusal(response: httpx.Response) -> str:
    body = json_or_none(response)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


shape = WorkOrderShape(build, created, refusal)
