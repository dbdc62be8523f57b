"""What a work-order request is, whatever the CMMS: the shape each CMMS's module (``writeback.maximo``,
``writeback.upkeep``) builds, and how its answer names the created work order.

A shape holds no credentials: the headers and per-request auth come from the source's connector (the same code that
signs its sync), so a request shape can be stored and logged as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class AlertedAsset:
    """An asset an alert names, and what to tell the CMMS about it."""

    asset_id: int  # ic3_asset_master.asset_id
    cmms_asset_id: str  # the register's id
    site: str
    title: str  # one line, what the work order is called
    details: str  # the alert's figures, for the work order's long description


@dataclass(frozen=True)
class Target:
    """Where the work order goes: the source and its own id for the asset (``cmms_asset.source_id``)."""

    source: str
    source_asset_id: str


@dataclass(frozen=True)
class WorkOrderRequest:
    """One POST: path under the source's base URL, query, extra headers (never credentials), JSON body."""

    path: str
    json: dict[str, Any]
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


class RequestRefused(RuntimeError):
    """The asset's id cannot be turned into a request (e.g. a Maximo source_id without a site)."""


@dataclass(frozen=True)
class WorkOrderShape:
    """A CMMS's work-order creation: build the request, read the created id (and a link) from the answer, and read
    the CMMS's own message from a refusal."""

    build: Callable[[AlertedAsset, Target], WorkOrderRequest]
    # (id, url) from a 2xx answer; id None when the answer does not name it (the work order exists all the same)
    created: Callable[[httpx.Response], tuple[str | None, str | None]]
    refusal: Callable[[httpx.Response], str]


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
