"""A loopback HTTP server that behaves like the UpKeep v2 REST API, with knobs for its bad days.

Test and demo equipment, built on ``record_api`` (request order, faults, stats and test controls are described
there). It follows ``shared/reference/other-cmms-apis.md`` on its own and never imports the product's connectors,
sync engine or components.

Base path ``/api/v2`` (the base URL ``start()`` returns ends with it):

- ``POST /auth`` ``{"email", "password"}`` -> ``{"success":true,"result":{"sessionToken":"r:…","expiresAt":"…"}}``;
  a wrong login is 400 ``{"success":false,"message":"Invalid username/password."}``. ``DELETE /auth`` logs the
  session out. Every other call needs the ``Session-Token`` header: missing, unknown, logged out or older than
  ``session_ttl_s`` -> 401 ``{"success":false,"message":…}``.
- ``GET /assets``, ``GET /work-orders``, ``GET /preventive-maintenance`` (the simulator's choice of path for PM
  schedules: the reference names none) -> ``{"success":true,"results":[…]}``, oldest record first (stable across
  pages), paged with ``limit`` (default 25, at most ``max_limit`` = 100, else 400) and ``offset``. Filters:
  ``updatedAtGreaterThan`` / ``updatedAtLessThan`` (epoch milliseconds, or ISO 8601), and ``asset`` (an asset id) on
  work orders and PM schedules. With ``empty_page_404`` an empty page (past the end, or nothing matches) is a 404
  ``{"success":false,"message":"No records found"}``, as the reference says UpKeep has been seen doing.
- ``POST /work-orders`` ``{"title", "description", "priority", "category", "asset", "dueDate"}`` creates a work
  order -> ``{"success":true,"result":{…}}``; no title or a bad value -> 400.
- Over the rate limit: 429 ``{"success":false,"message":"Too many requests"}`` with ``Retry-After`` (seconds).
- Injected 500/503: ``{"success":false,"message":"Internal Server Error"}`` / ``"Service Unavailable"``.

Record shapes (ids are 10-character object ids; dates ISO 8601 UTC with milliseconds, ``…T09:30:00.000Z``):

- asset: ``id, name, description, barcode`` (the asset code: the register's asset id when built from one),
  ``serialNumber, model, make, category, status`` (``active``/``inactive``), ``location`` (the site's location id),
  ``locationName, parentAsset, createdAt, updatedAt``;
- work order: ``id, workOrderNo, title, description, status`` (``open``, ``inProgress``, ``onHold``, ``complete``;
  UpKeep has no cancelled state), ``priority`` (0 none, 1 low, 2 medium, 3 high: neutral 5, 3, 2, 1),
  ``category`` (``Preventive``, ``Mechanical`` corrective, ``Damage`` emergency, ``Inspection``, ``Project``
  other), ``asset, location, preventiveMaintenance, dueDate, dateCompleted, createdAt, updatedAt``;
- PM schedule: ``id, title, asset, location, repeatEvery, repeatUnit`` (``day``, ``week``, ``month`` = 30 days,
  ``year`` = 365 days), ``isPaused, nextDueDate, lastCompletedDate, createdAt, updatedAt``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ic3_pipeline.sandbox.cmms_records import Record
from ic3_pipeline.sandbox.innomaint_data import stable_int
from ic3_pipeline.sandbox.record_api import (
    Answer,
    RecordApiConfig,
    RecordApiSimulator,
    json_answer,
    retry_after,
    serve as serve_api,
)

API_PATH = "/api/v2"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PATHS = {"/assets": "assets", "/work-orders": "work_orders", "/preventive-maintenance": "schedules"}
_STATUS = {"open": "open", "in_progress": "inProgress", "on_hold": "onHold", "completed": "complete"}
_PRIORITY = {1: 3, 2: 2, 3: 1, 5: 0}
_CATEGORY = {"preventive": "Preventive", "corrective": "Mechanical", "emergency": "Damage",
             "inspection": "Inspection", "other": "Project"}
_UNITS = ((365, "year"), (30, "month"), (7, "week"), (1, "day"))


@dataclass
class UpKeepSimConfig(RecordApiConfig):
    """UpKeep's own knobs besides the common ones (see ``RecordApiConfig``).

    ``session_ttl_s``: a session token stops working that many seconds after login (None: never).
    ``empty_page_404``: an empty page is a 404 instead of ``results: []``.
    """

    SECRETS: ClassVar[frozenset[str]] = frozenset({"email", "password"})

    email: str = "sim@example.com"
    password: str = "sim-password"
    session_ttl_s: float | None = 3600.0
    max_limit: int = 100
    default_limit: int = 25
    empty_page_404: bool = False

    def problems(self) -> list[str]:
        problems = super().problems()
        if self.session_ttl_s is not None and not self.session_ttl_s > 0:
            problems.append("session_ttl_s must be > 0 or None")
        if not 1 <= self.default_limit <= self.max_limit:
            problems.append("default_limit must be within [1, max_limit]")
        return problems


def object_id(seed: int, collection: str, record_id: int) -> str:
    """A 10-character id like UpKeep's (Parse object ids), stable per seed and record."""
    number = stable_int(seed, "upkeep-id", collection, record_id)
    chars = []
    for _ in range(10):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def upkeep_date(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and ``Z``, as UpKeep writes dates."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _repeat(days: int) -> tuple[int, str]:
    for size, unit in _UNITS:
        if days % size == 0:
            return days // size, unit
    return days, "day"


class UpKeepSimulator(RecordApiSimulator):
    """The simulated UpKeep v2 API, served on a loopback port (base URL ends in ``/api/v2``)."""

    name = "UpKeep simulator"
    url_path = API_PATH
    config_class = UpKeepSimConfig
    work_statuses = ("open", "in_progress", "on_hold", "completed")
    priorities = (1, 2, 3, 5)

    def __init__(self, config: UpKeepSimConfig | None = None, *, register: dict[str, str] | None = None) -> None:
        self._sessions: dict[str, float] = {}
        self._sessions_lock = threading.Lock()
        super().__init__(config, register=register)

    # -- ids and rendering ---------------------------------------------------------------------------

    def object_id(self, collection: str, record_id: int) -> str:
        return object_id(self.data.seed, collection, record_id)

    def location_id(self, site_no: int) -> str:
        return object_id(self.data.seed, "locations", site_no)

    def neutral_id(self, collection: str, upkeep_id: str) -> int | None:
        """The neutral id behind an UpKeep object id (None when no current record has it)."""
        for record in self.data.snapshot(collection)[1]:
            if self.object_id(collection, record["id"]) == upkeep_id:
                return record["id"]
        return None

    def render(self, collection: str, record: Record) -> dict[str, Any]:
        ref = self.object_id
        if collection == "assets":
            return {
                "id": ref("assets", record["id"]), "name": record["name"],
                "description": f"{record['make']} {record['model']}", "barcode": record["code"],
                "serialNumber": record["serial_number"], "model": record["model"], "make": record["make"],
                "category": record["category"], "status": "active" if record["active"] else "inactive",
                "location": self.location_id(record["site_no"]), "locationName": record["site"],
                "parentAsset": None, "createdAt": upkeep_date(record["created_at"]),
                "updatedAt": upkeep_date(record["updated_at"]),
            }
        if collection == "work_orders":
            return {
                "id": ref("work_orders", record["id"]), "workOrderNo": str(record["id"]), "title": record["title"],
                "description": record["description"], "status": _STATUS[record["status"]],
                "priority": _PRIORITY[record["priority"]], "category": _CATEGORY[record["work_type"]],
                "asset": ref("assets", record["asset_id"]) if record["asset_id"] else None,
                "location": self.location_id(record["site_no"]),
                "preventiveMaintenance": ref("schedules", record["schedule_id"]) if record["schedule_id"] else None,
                "dueDate": upkeep_date(record["due_at"]), "dateCompleted": upkeep_date(record["completed_at"]),
                "createdAt": upkeep_date(record["created_at"]), "updatedAt": upkeep_date(record["updated_at"]),
            }
        if collection == "schedules":
            every, unit = _repeat(record["interval_days"])
            return {
                "id": ref("schedules", record["id"]), "title": record["title"],
                "asset": ref("assets", record["asset_id"]), "location": self.location_id(record["site_no"]),
                "repeatEvery": every, "repeatUnit": unit, "isPaused": not record["active"],
                "nextDueDate": upkeep_date(record["next_due_at"]),
                "lastCompletedDate": upkeep_date(record["last_done_at"]),
                "createdAt": upkeep_date(record["created_at"]), "updatedAt": upkeep_date(record["updated_at"]),
            }
        raise KeyError(collection)

    # -- sessions ------------------------------------------------------------------------------------

    def expire_sessions(self) -> int:
        """Make every session token expired now (as if ``session_ttl_s`` had passed); returns how many."""
        with self._sessions_lock:
            count = len(self._sessions)
            self._sessions = dict.fromkeys(self._sessions, 0.0)
            return count

    def _login(self, email: Any, password: Any) -> tuple[str, float] | None:
        config = self._state.config
        if not (isinstance(email, str) and isinstance(password, str)
                and hmac.compare_digest(email.encode(), config.email.encode())
                and hmac.compare_digest(password.encode(), config.password.encode())):
            return None
        token = "r:" + secrets.token_hex(16)
        ttl = config.session_ttl_s
        expires = time.monotonic() + ttl if ttl is not None else float("inf")
        with self._sessions_lock:
            self._sessions[token] = expires
        return token, (time.time() + ttl if ttl is not None else time.time() + 10 * 365 * 86400)

    def _session_refusal(self, request: Request) -> Answer | None:
        token = request.headers.get("session-token")
        if not token:
            return _failure(401, "Unauthorized: a Session-Token header is required")
        with self._sessions_lock:
            expires = self._sessions.get(token)
        if expires is None:
            return _failure(401, "Invalid session token")
        if time.monotonic() >= expires:
            return _failure(401, "Session token expired")
        return None

    # -- HTTP ----------------------------------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route(API_PATH + "/auth", self._handle_auth, methods=["POST", "DELETE"]),
            Route(API_PATH + "/{resource}", self._handle_resource, methods=["GET", "POST"]),
        ]

    def throttled(self, wait_s: float) -> Answer:
        return json_answer(429, {"success": False, "message": "Too many requests"},
                           {"Retry-After": retry_after(wait_s)})

    def server_error(self, kind: str) -> Answer:
        message = "Service Unavailable" if kind == "503" else "Internal Server Error"
        return json_answer(int(kind), {"success": False, "message": message})

    async def _handle_auth(self, request: Request) -> Response:
        body = await request.body()

        def authorize() -> Answer | None:
            return self._session_refusal(request) if request.method == "DELETE" else None

        def answer() -> Answer:
            if request.method == "DELETE":
                with self._sessions_lock:
                    self._sessions.pop(request.headers["session-token"], None)
                return json_answer(200, {"success": True})
            try:
                login = json.loads(body or b"{}")
            except ValueError:
                return _failure(400, "Request body must be JSON")
            if not isinstance(login, dict):
                return _failure(400, "Request body must be a JSON object")
            session = self._login(login.get("email"), login.get("password"))
            if session is None:
                return _failure(400, "Invalid username/password.")
            token, expires_at = session
            return json_answer(200, {"success": True, "result": {
                "sessionToken": token,
                "expiresAt": upkeep_date(datetime.fromtimestamp(expires_at, timezone.utc)),
            }})

        return await self.serve_request(request, "/auth", f"{request.method} /auth", authorize, answer)

    async def _handle_resource(self, request: Request) -> Response:
        path = "/" + request.path_params["resource"]
        body = await request.body() if request.method == "POST" else b""

        def answer() -> Answer:
            collection = _PATHS.get(path)
            if collection is None or (request.method == "POST" and collection != "work_orders"):
                return _failure(404, f"Cannot {request.method} {API_PATH}{path}")
            if request.method == "POST":
                return self._create_work_order(body)
            return self._list(collection, request)

        return await self.serve_request(request, path, f"{request.method} {path}?{request.url.query}",
                                        lambda: self._session_refusal(request), answer)

    def _list(self, collection: str, request: Request) -> Answer:
        config = self._state.config
        params = request.query_params
        try:
            limit = _int_param(params, "limit", config.default_limit, 1)
            offset = _int_param(params, "offset", 0, 0)
            after = _instant_param(params, "updatedAtGreaterThan")
            before = _instant_param(params, "updatedAtLessThan")
        except ValueError as error:
            return _failure(400, str(error))
        if limit > config.max_limit:
            return _failure(400, f"limit must be at most {config.max_limit}")
        asset = params.get("asset")
        asset_id = self.neutral_id("assets", asset) if asset else None
        if asset and (collection == "assets" or asset_id is None):
            rows: list[dict[str, Any]] = []
        else:
            rows = [rendering for r, rendering in self.rendered(collection)
                    if (after is None or r["updated_at"] > after) and (before is None or r["updated_at"] < before)
                    and (asset_id is None or r.get("asset_id") == asset_id)]
        page = rows[offset: offset + limit]
        if not page and config.empty_page_404:
            return _failure(404, "No records found")
        return json_answer(200, {"success": True, "results": page})

    def _create_work_order(self, body: bytes) -> Answer:
        try:
            given = json.loads(body or b"{}")
        except ValueError:
            return _failure(400, "Request body must be JSON")
        if not isinstance(given, dict) or not isinstance(given.get("title"), str) or not given["title"].strip():
            return _failure(400, "title is required")
        values: dict[str, Any] = {"title": given["title"].strip()}
        if given.get("description") is not None:
            values["description"] = str(given["description"])
        if "priority" in given:
            neutral = {v: k for k, v in _PRIORITY.items()}.get(given["priority"])
            if neutral is None:
                return _failure(400, "priority must be 0, 1, 2 or 3")
            values["priority"] = neutral
        if "category" in given:
            work_type = {v: k for k, v in _CATEGORY.items()}.get(given["category"])
            if work_type is None:
                return _failure(400, f"category must be one of {sorted(_CATEGORY.values())}")
            values["work_type"] = work_type
        if given.get("asset"):
            asset_id = self.neutral_id("assets", str(given["asset"]))
            if asset_id is None:
                return _failure(400, f"asset {given['asset']!r} does not exist")
            values["asset_id"] = asset_id
        if given.get("dueDate") is not None:
            try:
                values["due_at"] = _instant(str(given["dueDate"]))
            except ValueError:
                return _failure(400, "dueDate must be an ISO 8601 date or epoch milliseconds")
        record = self.data.add_work_order(**values)
        return json_answer(200, {"success": True, "result": self.render("work_orders", record)})


def _failure(status: int, message: str) -> Answer:
    return json_answer(status, {"success": False, "message": message})


def _int_param(params: Any, name: str, default: int, minimum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {raw!r}")
    return value


def _instant(raw: str) -> datetime:
    """Epoch milliseconds or ISO 8601 (a naive time is UTC)."""
    if raw.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(raw) / 1000, timezone.utc)
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _instant_param(params: Any, name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return _instant(raw)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be epoch milliseconds or an ISO 8601 date, got {raw!r}") from None


def serve(config: UpKeepSimConfig | None = None, *, register: dict[str, str] | None = None, host: str = "127.0.0.1",
          port: int = 8767, stop_event: threading.Event | None = None) -> None:
    """Serve until interrupted; for ``ic3 simulate upkeep`` (the banner names no credential)."""
    simulator = UpKeepSimulator(config, register=register)
    serve_api(simulator, host=host, port=port, stop_event=stop_event, banner=(
        "UpKeep simulator at {url} (POST /auth, /assets, /work-orders, /preventive-maintenance; sites "
        "{sites}, rate_limit={rate_limit}, latency_ms={latency_ms}, fault_rate={fault_rate}, "
        "session_ttl_s={session_ttl_s}, empty_page_404={empty_page_404}, seed={seed})"))
