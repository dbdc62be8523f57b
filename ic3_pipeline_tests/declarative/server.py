"""A small loopback API for the declarative connector's tests: one set of records served in each paging style and
behind each auth kind the YAML can declare, written from the API references on its own (it never imports the
connector's code), with counters a test can assert on.

Routes (each behind the configured auth, except the login and token endpoints):
- ``GET /offset/items?limit&offset[&updated_since][&site]``: ``{"success": true, "results": [...]}``; past the end a
  404 ``{"success": false, "message": "Not found"}`` (an API that says "not found" for an empty page);
- ``GET /pages/items?page&per_page``: ``{"data": [...], "meta": {"total": N}}``;
- ``GET /odata/Items?$top&$skiptoken&$filter``: OData V2 ``{"d": {"results": [...], "__next": <absolute URL>}}``,
  at most ``server_page_cap`` rows whatever ``$top`` says; ``$filter=updatedAt ge datetimeoffset'…'``;
- ``GET /v4/Items?$skip``: OData V4 ``{"value": [...], "@odata.nextLink": "Items?$skip=…"}`` (relative);
- ``GET /odata/Broken``: a 400 with the OData error envelope;
- ``GET /link/items?page&per_page``: a JSON list, the next page in a ``Link: <…>; rel="next"`` header;
- ``GET /cursor/items?limit&after``: ``{"items": [...], "next": <cursor or null>}``;
- ``POST /find/?action=FindRequest&…``: a text/plain JSON body ``{"className", "startIndex", "maxObjects",
  "filters": [{"ql", "parameters"}]}`` → ``{"objects": [...], "totalObjects": N}``; the first ``throttle_first``
  calls answer 200 ``{"error": {"code": 1100, "P_CLIENT_AUTO_RETRY_WAIT_ADVISORY_MS": …}}``;
- ``POST /auth`` (session login), ``POST /oauth/token`` (client credentials).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ic3_pipeline.sandbox.loopback import LoopbackServer

SECRET = "decl-test-secret-7f3a9c-not-real"  # distinctive, so tests can search logs for it
USER = "planner@example.com"
BASE_TIME = datetime(2026, 11, 1, tzinfo=timezone.utc)


@dataclass
class FakeConfig:
    records: int = 23
    auth: str = "none"  # none, bearer, api_key_header, api_key_query, basic, session, hmac, oauth2
    session_ttl_s: float = 3600.0
    oauth_ttl_s: int = 3600
    throttle_first: int = 0
    throttle_wait_ms: int | None = 300
    server_page_cap: int = 7


@dataclass
class Counters:
    logins: int = 0
    token_requests: int = 0
    data_calls: int = 0
    refused: int = 0
    throttled: int = 0
    call_times: list[float] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)


def record(index: int) -> dict:
    return {"id": f"R{index:03d}", "name": f"Pump {index}", "site": "S1" if index % 2 else "S2",
            "updatedAt": (BASE_TIME + timedelta(minutes=index)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeApi(LoopbackServer):
    name = "declarative test API"

    def __init__(self, config: FakeConfig | None = None) -> None:
        super().__init__()
        self.config = config or FakeConfig()
        self.counters = Counters()
        self.rows = [record(i) for i in range(self.config.records)]
        self._sessions: dict[str, float] = {}  # token -> expires (time.time())
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/auth", self._login, methods=["POST"]),
            Route("/oauth/token", self._token, methods=["POST"]),
            Route("/offset/items", self._offset),
            Route("/pages/items", self._pages),
            Route("/odata/Items", self._odata_v2),
            Route("/odata/Broken", self._odata_broken),
            Route("/v4/Items", self._odata_v4),
            Route("/link/items", self._link),
            Route("/cursor/items", self._cursor),
            Route("/find/", self._find, methods=["POST"]),
        ])

    # --- auth ---------------------------------------------------------------------------------------------------
    def revoke_sessions(self) -> None:
        """Every session and token stops working (the API restarted): the next call is answered 401."""
        with self._lock:
            self._sessions.clear()

    def _new_token(self, prefix: str, ttl: float) -> str:
        with self._lock:
            token = f"{prefix}-{self.counters.logins + self.counters.token_requests}-{time.monotonic_ns()}"
            self._sessions[token] = time.time() + ttl
        return token

    async def _login(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        self.counters.logins += 1
        if body.get("email") != USER or body.get("password") != SECRET:
            return JSONResponse({"success": False, "message": "Invalid credentials"}, status_code=401)
        token = self._new_token("r:session", self.config.session_ttl_s)
        expires = datetime.now(timezone.utc) + timedelta(seconds=self.config.session_ttl_s)
        return JSONResponse({"success": True, "result": {"sessionToken": token, "expiresAt": expires.isoformat()}})

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        self.counters.token_requests += 1
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != USER or \
                form.get("client_secret") != SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = self._new_token("oauth", self.config.oauth_ttl_s)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": self.config.oauth_ttl_s})

    def _valid_session(self, token: str | None) -> bool:
        with self._lock:
            expires = self._sessions.get(token or "")
        return expires is not None and time.time() < expires

    def _authorised(self, request: Request) -> bool:
        kind, headers, query = self.config.auth, request.headers, request.query_params
        if kind == "none":
            return True
        if kind == "bearer":
            return headers.get("authorization") == f"Bearer {SECRET}"
        if kind == "api_key_header":
            return headers.get("x-api-key") == SECRET
        if kind == "api_key_query":
            return query.get("api_key") == SECRET
        if kind == "basic":
            return headers.get("authorization") == "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
        if kind == "session":
            return self._valid_session(headers.get("session-token"))
        if kind == "oauth2":
            value = headers.get("authorization", "")
            return value.startswith("Bearer ") and self._valid_session(value[len("Bearer "):])
        if kind == "hmac":
            if query.get("appKey") != "app-1" or query.get("accessKey") != "access-1":
                return False
            if abs(time.time() * 1000 - int(query.get("timestamp", "0"))) > 60_000:
                return False
            unsigned = f"{headers['host']}{request.scope['raw_path'].decode()}?{request.scope['query_string'].decode()}"
            wanted = hmac.new(SECRET.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
            return hmac.compare_digest(headers.get("authorization", ""), wanted)
        raise ValueError(kind)

    def _guard(self, request: Request) -> Response | None:
        self.counters.data_calls += 1
        self.counters.call_times.append(time.monotonic())
        self.counters.queries.append(request.scope["query_string"].decode())
        if not self._authorised(request):
            self.counters.refused += 1
            return JSONResponse({"success": False, "message": "Unauthorized"}, status_code=401)
        return None

    # --- data ---------------------------------------------------------------------------------------------------
    def _since(self, rows: list[dict], since: datetime | None) -> list[dict]:
        return [row for row in rows if since is None or _instant(row["updatedAt"]) >= since]

    async def _offset(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        query = request.query_params
        limit, offset = int(query.get("limit", "20")), int(query.get("offset", "0"))
        rows = self._since(self.rows, _instant(query["updated_since"]) if "updated_since" in query else None)
        if "site" in query:
            rows = [row for row in rows if row["site"] == query["site"]]
        if offset >= len(rows):
            return JSONResponse({"success": False, "message": "Not found"}, status_code=404)
        return JSONResponse({"success": True, "results": rows[offset:offset + limit]})

    async def _pages(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        page, size = int(request.query_params["page"]), int(request.query_params["per_page"])
        return JSONResponse({"data": self.rows[(page - 1) * size:page * size], "meta": {"total": len(self.rows)}})

    async def _odata_v2(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        query = dict(request.query_params)
        since = None
        if "$filter" in query:
            prefix = "updatedAt ge datetimeoffset'"
            text = query["$filter"]
            if not (text.startswith(prefix) and text.endswith("'")):
                return _odata_error(400, "BAD_FILTER", f"Invalid filter: {text}")
            since = _instant(text[len(prefix):-1])
        rows = self._since(self.rows, since)
        start = int(query.get("$skiptoken", "0"))
        top = min(int(query.get("$top", "100")), self.config.server_page_cap)
        page = rows[start:start + top]
        body: dict = {"results": page}
        if start + top < len(rows):
            following = {k: v for k, v in query.items() if k not in ("$skiptoken",)}
            following["$skiptoken"] = str(start + top)
            body["__next"] = f"{self.base_url}/odata/Items?{urlencode(following)}"
        return JSONResponse({"d": body})

    async def _odata_broken(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        return _odata_error(400, "/IWBEP/CM_MGW_RT/020", "Property 'Nonsense' is invalid")

    async def _odata_v4(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        skip, top = int(request.query_params.get("$skip", "0")), 5
        body: dict = {"value": self.rows[skip:skip + top]}
        if skip + top < len(self.rows):
            body["@odata.nextLink"] = f"Items?$skip={skip + top}"
        return JSONResponse(body)

    async def _link(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        page, size = int(request.query_params.get("page", "1")), int(request.query_params.get("per_page", "10"))
        headers = {}
        if page * size < len(self.rows):
            headers["Link"] = f'<{self.base_url}/link/items?page={page + 1}&per_page={size}>; rel="next"'
        return JSONResponse(self.rows[(page - 1) * size:page * size], headers=headers)

    async def _cursor(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        limit = int(request.query_params.get("limit", "10"))
        after = request.query_params.get("after")
        start = 0 if after is None else int(base64.b64decode(after).decode()) + 1
        page = self.rows[start:start + limit]
        end = start + len(page) - 1
        following = base64.b64encode(str(end).encode()).decode() if start + limit < len(self.rows) else None
        return JSONResponse({"items": page, "next": following})

    async def _find(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        text = (await request.body()).decode()
        self.counters.bodies.append(text)
        if request.headers.get("content-type", "").split(";")[0] != "text/plain":
            return JSONResponse({"error": {"code": 400, "message": "Content-Type must be text/plain"}})
        if self.counters.throttled < self.config.throttle_first:
            self.counters.throttled += 1
            error = {"code": 1100, "message": "Too many requests"}
            if self.config.throttle_wait_ms is not None:
                error["P_CLIENT_AUTO_RETRY_WAIT_ADVISORY_MS"] = self.config.throttle_wait_ms
            return JSONResponse({"_maCn": "FindResponse", "error": error})
        body = json.loads(text)
        if body.get("className") != "Asset":
            return JSONResponse({"_maCn": "FindResponse", "error": {"code": 500, "message": "Unknown class"}})
        rows = self.rows
        for condition in body.get("filters", []):
            if condition["ql"] == "site = ?":
                rows = [row for row in rows if row["site"] == condition["parameters"][0]]
            elif condition["ql"] == "updatedMs >= ?":
                since_ms = condition["parameters"][0]
                rows = [row for row in rows if _instant(row["updatedAt"]).timestamp() * 1000 >= since_ms]
            else:
                return JSONResponse({"_maCn": "FindResponse", "error": {"code": 400, "message": "Bad filter"}})
        start, count = int(body["startIndex"]), int(body["maxObjects"])
        return JSONResponse({"_maCn": "FindResponse", "objects": rows[start:start + count], "totalObjects": len(rows)})


def _odata_error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": {"lang": "en", "value": message},
                                   "innererror": {"transactionid": "0A1B"}}}, status_code=status)
