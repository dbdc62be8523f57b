"""Maximo's work-order creation: ``POST <base>/oslc/os/mxapiwodetail?lean=1`` with a ``properties`` header so the
answer (201 and ``Location``) carries the created record's ``wonum`` and ``href`` (without it Maximo answers an empty
body). The asset is ``cmms_asset.source_id`` = ``SITEID/ASSETNUM`` (``defs/maximo/defs.yaml`` concatenates them).

Corrective work (``worktype`` CM) at ``wopriority`` 900: the band the unified model reads as priority 1 (highest).
"""

from __future__ import annotations

import httpx

from ic3_pipeline.writeback.requests import (
    AlertedAsset,
    RequestRefused,
    Target,
    WorkOrderRequest,
    WorkOrderShape,
    json_or_none,
)

WORK_TYPE = "CM"
PRIORITY = 900
DESCRIPTION_MAX = 100  # WORKORDER.DESCRIPTION is 100 characters; the rest goes to the long description


def build(asset: AlertedAsset, target: Target) -> WorkOrderRequest:
    site, sep, assetnum = target.source_asset_id.partition("/")
    if not sep or not site or not assetnum:
        raise RequestRefused(f"Maximo asset id {target.source_asset_id!r} is not SITEID/ASSETNUM")
    body = {
        "siteid": site,
        "assetnum": assetnum,
        "description": asset.title[:DESCRIPTION_MAX],
        "description_longdescription": asset.details,
        "worktype": WORK_TYPE,
        "wopriority": PRIORITY,
    }
    return WorkOrderRequest("oslc/os/mxapiwodetail", body, params={"lean": "1"},
                            headers={"properties": "wonum,siteid,href", "Content-Type": "application/json"})


def created(response: httpx.Response) -> tuple[str, str | None]:
    body = json_or_none(response)
    body = body if isinstance(body, dict) else {}
    wonum = body.get("wonum")
    return (str(wonum) if wonum else None), response.headers.get("Location") or body.get("href")


def refusal(response: httpx.Response) -> str:
    body = json_or_none(response)
    error = body.get("Error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


shape = WorkOrderShape(build, created, refusal)
