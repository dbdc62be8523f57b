"""A loopback HTTP server for an example in-house CMMS: a plain JSON API with a bearer token and cursor paging.

The README's "Connect your own CMMS" guide walks this API from nothing to synced with only a YAML file, so it is
deliberately ordinary — the kind of API a plant's own IT team writes — yet has the usual traps: an opaque cursor,
dates with a UTC offset, codes to normalise. Built on ``record_api`` (request order, faults, stats and test controls
are described there); it never imports the product's connectors, sync engine or components.

Base URL (``INHOUSE_BASE_URL``): ``http://127.0.0.1:PORT/api``.

- ``Authorization: Bearer <token>`` on every call; missing or wrong -> 401 ``{"error":"unauthorized","message":…}``
  with ``WWW-Authenticate: Bearer``.
- ``GET /assets``, ``GET /work-orders`` -> ``{"data":[…],"next_cursor":"…"}``, oldest id first; ``limit`` (default 50,
  at most 200, else 400), ``cursor`` (the previous page's ``next_cursor``, opaque; a forged one is a 400),
  ``updated_since`` (ISO 8601 with an offset or ``Z``: records changed at or after it). ``next_cursor`` is null on the
  last page. The cursor remembers the last id served, so deleted or changed records never shift a page.
- Over the rate limit: 429 ``{"error":"rate_limited",…}`` with ``Retry-After``; injected 500/503
  ``{"error":"internal"|"unavailable",…}``.

Records (dates ISO 8601 in the plants' zone, ``+05:30``):

- asset: ``id`` (``AST-00001``), ``tag`` (the asset code: the register's asset id when built from one), ``name, site,
  serial_number, manufacturer, model, category, status`` (``in_service``/``out_of_service``), ``updated_at``;
- work order: ``id`` (``WO-000001``), ``title, description, state`` (``new`` open, ``active`` in progress, ``paused``
  on hold, ``done`` completed, ``void`` cancelled), ``priority`` (``P1`` highest … ``P5``), ``kind`` (``pm``
  preventive, ``repair`` corrective, ``breakdown`` emergency, ``inspection``, ``misc`` other), ``asset_id``, ``site``,
  ``opened_at, due_at, closed_at, updated_at``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ic3_pipeline.sandbox.cmms_records import Record
from ic3_pipeline.sandbox.record_api import (
    Answer,
    RecordApiConfig,
    RecordApiSimulator,
    json_answer,
    retry_after,
    serve as serve_api,
)

API_PATH = "/api"
PLANT_ZONE = timezone(timedelta(hours=5, minutes=30))
_PATHS = {"/assets": "assets", "/work-orders": "work_orders"}
_STATES = {"open": "new", "in_progress": "active", "on_hold": "paused", "completed": "done", "cancelled": "void"}
_KINDS = {"preventive": "pm", "corrective": "repair", "emergency": "breakdown", "inspection": "inspection",
          "other": "misc"}


@dataclass
class InhouseSimConfig(RecordApiConfig):
    """The in-house API's own knobs besides the common ones: the bearer token and the page sizes."""

    SECRETS: ClassVar[frozenset[str]] = frozenset({"token"})

    token: str = "sim-inhouse-token"
    default_limit: int = 50
    max_limit: int = 200

    def problems(self) -> list[str]:
        problems = super().problems()
        if not 1 <= self.default_limit <= self.max_limit:
            problems.append("default_limit must be within [1, max_limit]")
        return problems


def local_iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(PLANT_ZONE).isoformat(timespec="seconds")


class InhouseSimulator(RecordApiSimulator):
    """The example in-house CMMS API, served on a loopback port (base URL ends in ``/api``)."""

    name = "In-house CMMS simulator"
    url_path = API_PATH
    config_class = InhouseSimConfig

    def render(self, collection: str, record: Record) -> dict[str, Any]:
        if collection == "assets":
            return {
                "id": f"AST-{record['id']:05d}", "tag": record["code"], "name": record["name"], "site": record["site"],
                "serial_number": record["serial_number"], "manufacturer": record["make"], "model": record["model"],
                "category": record["category"], "status": "in_service" if record["active"] else "out_of_service",
                "updated_at": local_iso(record["updated_at"]),
            }
        if collection == "work_orders":
            return {
                "id": f"WO-{record['id']:06d}", "title": record["title"], "description": record["description"],
                "state": _STATES[record["status"]], "priority": f"P{record['priority']}",
                "kind": _KINDS[record["work_type"]],
                "asset_id": f"AST-{record['asset_id']:05d}" if record["asset_id"] else None, "site": record["site"],
                "opened_at": local_iso(record["created_at"]), "due_at": local_iso(record["due_at"]),
                "closed_at": local_iso(record["completed_at"]), "updated_at": local_iso(record["updated_at"]),
            }
        if collection == "schedules":
            raise KeyError("schedules (the in-house example API has none)")
        raise KeyError(collection)

    # -- HTTP ----------------------------------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        return [Route(API_PATH + "/{resource}", self._handle, methods=["GET"])]

    def throttled(self, wait_s: float) -> Answer:
        return json_answer(429, {"error": "rate_limited", "message": "Too many requests, slow down."},
                           {"Retry-After": retry_after(wait_s)})

    def server_error(self, kind: str) -> Answer:
        if kind == "503":
            return json_answer(503, {"error": "unavailable", "message": "Service temporarily unavailable."})
        return json_answer(500, {"error": "internal", "message": "Internal server error."})

    async def _handle(self, request: Request) -> Response:
        path = "/" + request.path_params["resource"]
        return await self.serve_request(request, path, f"{path}?{request.url.query}",
                                        lambda: self._refusal(request), lambda: self._list(path, request))

    def _refusal(self, request: Request) -> Answer | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                               self._state.config.token.encode()):
            return None
        return json_answer(401, {"error": "unauthorized", "message": "Missing or invalid bearer token."},
                           {"WWW-Authenticate": 'Bearer realm="cmms"'})

    def _list(self, path: str, request: Request) -> Answer:
        collection = _PATHS.get(path)
        if collection is None:
            return _bad(404, "not_found", f"No such resource {API_PATH}{path}.")
        config = self._state.config
        params = request.query_params
        raw_limit = params.get("limit")
        limit = config.default_limit
        if raw_limit is not None:
            limit = int(raw_limit) if raw_limit.isdigit() else 0
            if not 1 <= limit <= config.max_limit:
                return _bad(400, "bad_request", f"limit must be an integer from 1 to {config.max_limit}.")
        after_id = 0
        if params.get("cursor"):
            after_id = _cursor_id(params["cursor"], collection)
            if after_id is None:
                return _bad(400, "bad_request", "Invalid cursor.")
        since = None
        if params.get("updated_since"):
            try:
                since = datetime.fromisoformat(params["updated_since"].replace("Z", "+00:00"))
            except ValueError:
                since = None
            if since is None or since.tzinfo is None:
                return _bad(400, "bad_request", "updated_since must be ISO 8601 with an offset, e.g. "
                                                "2026-03-01T00:00:00Z.")
        matching = [(record, rendering) for record, rendering in self.rendered(collection)
                    if record["id"] > after_id and (since is None or record["updated_at"] >= since)]
        page = matching[:limit]
        more = len(matching) > limit
        return json_answer(200, {"data": [rendering for _, rendering in page],
                                 "next_cursor": _cursor(page[-1][0]["id"], collection) if more else None})


def _bad(status: int, error: str, message: str) -> Answer:
    return json_answer(status, {"error": error, "message": message})


def _cursor(last_id: int, collection: str) -> str:
    return base64.urlsafe_b64encode(f"{collection}:{last_id}".encode()).decode().rstrip("=")


def _cursor_id(cursor: str, collection: str) -> int | None:
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        value = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return value if kind == collection and value >= 0 else None


def serve(config: InhouseSimConfig | None = None, *, register: dict[str, str] | None = None, host: str = "127.0.0.1",
          port: int = 8770, stop_event: threading.Event | None = None) -> None:
    """Serve until interrupted; for ``ic3 simulate inhouse`` (the banner names no token)."""
    simulator = InhouseSimulator(config, register=register)
    serve_api(simulator, host=host, port=port, stop_event=stop_event, banner=(
        "In-house CMMS simulator at {url} (GET /assets, /work-orders; bearer token, cursor paging; sites {sites}, "
        "rate_limit={rate_limit}, latency_ms={latency_ms}, fault_rate={fault_rate}, seed={seed})"))
