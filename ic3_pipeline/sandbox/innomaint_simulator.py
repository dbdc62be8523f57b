"""A loopback HTTP server that behaves like the Innomaint asset-detail API, with knobs for its bad days.

Test and demo equipment (see DESIGN.md, "Simulators"). It is a real server (Starlette served by uvicorn in
a daemon thread) so clients are exercised over real sockets: timeouts, resets and concurrency are real.
It builds its answers from the reference shapes on its own (``innomaint_data``) and never imports the
product's Innomaint client or HTTP layer, so a parsing bug shared by both cannot hide itself.

Order in which an API request is handled, which tests and benchmarks can rely on:

1. the body is read and the ``serialnumber`` noted (``requests``, ``hits`` and the 1-second peak count it);
2. the token bucket: over the limit -> 429 at once, without latency (a gateway in front of the app);
3. ``latency_ms``;
4. the bearer token -> 401; the body -> 400;
5. a fault: the next scripted one for the id, else one drawn with probability ``fault_rate`` from
   hash(seed, id, n-th accepted request for that id), so a retry of the same id usually succeeds;
6. unknown or missing id -> 404; otherwise 200 with the record.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ic3_pipeline.sandbox.innomaint_data import AssetDirectory, encode_body, stable_fraction, with_repairs
from ic3_pipeline.sandbox.loopback import DroppedResponse, LoopbackServer, TokenBucket, effective_burst

logger = logging.getLogger(__name__)

API_PATH = "/api/public/api/restapicontroller/assetmanagement/getAssetIDDetailByAssetID"

#: Fault kinds ``fault_kinds`` may draw from; ``script_faults`` also takes "429" and "ok" (a normal answer).
FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "hang", "malformed", "truncated", "status_false", "reset")
_SCRIPTABLE = frozenset(FAULT_KINDS) | {"429", "ok"}
_RETRY_AFTER_STYLES = ("seconds", "http-date", "none", "mixed")
_RATE_LIMIT_HEADER_STYLES = ("none", "ietf", "ietf-structured", "x")


@dataclass
class SimulatorConfig:
    """Knobs of the simulated API. The simulator keeps its own copy: change a running one with ``configure()``.

    ``burst`` is the token-bucket capacity; left as None it is ``max(1.0, rate_limit * 0.1)``, so at most a
    tenth of a second's worth of requests can arrive back to back before the limit bites, like the real API.
    The bucket starts full.

    ``retry_after`` is what a 429 carries: "seconds" (whole seconds, at least 1), "http-date" (a date at least a
    second away), "none", or "mixed" - absent from about half the 429s (a seeded coin per 429), seconds on the rest.

    ``rate_limit_headers`` adds the bucket's state to every answer past the gateway, 429s included, the way APIs that
    publish their limit do (the real Innomaint API sends none; the default):

    - "ietf": ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` and ``RateLimit-Policy: Q;w=W``
      (draft-ietf-httpapi-ratelimit-headers up to -07);
    - "ietf-structured": ``RateLimit-Policy: "bucket";q=Q;w=W`` and ``RateLimit: "bucket";r=R;t=T`` (draft -08 on);
    - "x": ``X-RateLimit-Limit`` (Q, no window: it tells no rate), ``X-RateLimit-Remaining``, ``X-RateLimit-Reset``
      (a Unix time, as GitHub's API sends it).

    The policy is the bucket's own: W = its capacity / the rate in whole seconds (at least 1), Q = the rate x W, so
    Q / W is the sustained rate whatever the burst. Remaining is the whole tokens left; Reset is the seconds (rounded
    up) until the next token when none is left, else until the bucket is full.
    """

    token: str = "sim-token"
    rate_limit: float | None = None
    burst: float | None = None
    retry_after: str = "seconds"
    rate_limit_headers: str = "none"
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    hang_seconds: float = 30.0
    missing_ids: frozenset[str] = field(default_factory=frozenset)
    missing_fraction: float = 0.0
    seed: int = 7

    def __post_init__(self) -> None:
        """Normalise JSON-friendly inputs (lists) and refuse knobs the server could not honour."""
        self.fault_kinds = tuple(self.fault_kinds)
        self.missing_ids = frozenset(self.missing_ids)
        problems = _config_problems(self)
        if problems:
            raise ValueError("invalid simulator config: " + "; ".join(problems))

    @property
    def effective_burst(self) -> float:
        return effective_burst(self.rate_limit, self.burst)

    def public(self) -> dict[str, Any]:
        """The knobs as JSON, without the token (it is a stand-in for a secret and is never echoed)."""
        view = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "token"}
        view["fault_kinds"] = list(self.fault_kinds)
        view["missing_ids"] = sorted(self.missing_ids)
        view["effective_burst"] = self.effective_burst if self.rate_limit else None
        return view


def _config_problems(config: SimulatorConfig) -> list[str]:
    problems = []
    if not isinstance(config.token, str) or not config.token:
        problems.append("token must be a non-empty string")
    if config.rate_limit is not None and not config.rate_limit > 0:
        problems.append("rate_limit must be > 0 or None")
    if config.burst is not None and not config.burst >= 1:
        problems.append("burst must be >= 1 or None")
    if config.retry_after not in _RETRY_AFTER_STYLES:
        problems.append(f"retry_after must be one of {_RETRY_AFTER_STYLES}")
    if config.rate_limit_headers not in _RATE_LIMIT_HEADER_STYLES:
        problems.append(f"rate_limit_headers must be one of {_RATE_LIMIT_HEADER_STYLES}")
    if config.latency_ms < 0 or config.hang_seconds < 0:
        problems.append("latency_ms and hang_seconds must be >= 0")
    if not 0.0 <= config.fault_rate <= 1.0 or not 0.0 <= config.missing_fraction <= 1.0:
        problems.append("fault_rate and missing_fraction must be within [0, 1]")
    unknown = sorted(set(config.fault_kinds) - set(FAULT_KINDS))
    if unknown or (config.fault_rate > 0 and not config.fault_kinds):
        problems.append(f"fault_kinds must be a non-empty subset of {FAULT_KINDS}, got unknown {unknown}")
    return problems


@dataclass
class _Admission:
    """What the gateway decided for one request: ``wait_s`` is set when it was throttled.

    ``tokens`` is what the bucket holds after the decision and ``throttled_nth`` counts the 429s so far (the coin of
    the "mixed" Retry-After style); both are None without a rate limit.
    """

    wait_s: float | None = None
    tokens: float | None = None
    throttled_nth: int | None = None


class _ServerState:
    """Config, token bucket, statistics and scripted faults, shared by the server thread and the caller."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.lock = threading.Lock()
        self.config = config
        self._bucket = TokenBucket(config.effective_burst)
        self._scripted: dict[str, deque[str]] = {}
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.counts = {k: 0 for k in ("requests", "ok", "throttled", "unauthorized", "not_found", "bad_request")}
        self.faults: dict[str, int] = {}
        self.hits: dict[str, int] = {}
        self.accepted: dict[str, int] = {}
        self.window: deque[float] = deque()
        self.peak = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def reset(self) -> None:
        """Forget everything seen, including the per-id sequence that drives random faults (a fresh server)."""
        with self.lock:
            self._reset_counters()

    def replace_config(self, config: SimulatorConfig) -> None:
        with self.lock:
            self.config = config
            self._bucket.resize(config.effective_burst, bool(config.rate_limit))

    def admit(self, asset_id: str | None) -> _Admission:
        """Count the request, then let the token bucket accept it or name the wait until it would."""
        now = time.monotonic()
        with self.lock:
            self._count_arrival(asset_id, now)
            rate = self.config.rate_limit
            if rate is None:
                return _Admission()
            wait_s = self._bucket.take(rate, self.config.effective_burst, now)
            if wait_s is None:
                return _Admission(tokens=self._bucket.tokens)
            self.counts["throttled"] += 1
            return _Admission(wait_s=wait_s, tokens=self._bucket.tokens,
                              throttled_nth=self.counts["throttled"])

    def _count_arrival(self, asset_id: str | None, now: float) -> None:
        self.counts["requests"] += 1
        wall = time.time()
        self.first_at = wall if self.first_at is None else self.first_at
        self.last_at = wall
        if asset_id is not None:
            self.hits[asset_id] = self.hits.get(asset_id, 0) + 1
        self.window.append(now)
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        self.peak = max(self.peak, len(self.window))

    def count(self, outcome: str) -> None:
        with self.lock:
            self.counts[outcome] += 1

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1
            if kind == "429":
                self.counts["throttled"] += 1

    def script(self, asset_id: str, kinds: Sequence[str]) -> None:
        with self.lock:
            self._scripted.setdefault(asset_id, deque()).extend(kinds)

    def next_fault(self, asset_id: str) -> str | None:
        """The fault for this accepted request: scripted first, else the seeded coin."""
        with self.lock:
            nth = self.accepted.get(asset_id, 0) + 1
            self.accepted[asset_id] = nth
            queue = self._scripted.get(asset_id)
            if queue:
                kind = queue.popleft()
                if not queue:
                    del self._scripted[asset_id]
                return None if kind == "ok" else kind
            config = self.config
        if config.fault_rate <= 0 or stable_fraction(config.seed, "fault", asset_id, nth) >= config.fault_rate:
            return None
        pick = stable_fraction(config.seed, "fault-kind", asset_id, nth)
        return config.fault_kinds[int(pick * len(config.fault_kinds))]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                **self.counts,
                "faults": dict(self.faults),
                "hits": dict(self.hits),
                "peak_rate_1s": self.peak,
                "first_request_at": self.first_at,
                "last_request_at": self.last_at,
            }


class InnomaintSimulator(LoopbackServer):
    """The simulated Innomaint API for a register of asset ids (served by :class:`LoopbackServer`).

    ``sites`` maps asset id -> site name so assets of one site share customer, location and building ids;
    ids it does not name fall back to the text before their first underscore.
    """

    name = "Innomaint simulator"

    def __init__(
        self,
        asset_ids: Iterable[str],
        config: SimulatorConfig | None = None,
        sites: Mapping[str, str] | None = None,
    ) -> None:
        self._asset_ids = list(dict.fromkeys(asset_ids))
        self._sites = dict(sites or {})
        config = dataclasses.replace(config) if config else SimulatorConfig()
        self._state = _ServerState(config)
        self._directory = AssetDirectory(self._asset_ids, config.seed, self._sites)
        self._repairs: dict[str, tuple[int, int]] = {}  # asset id -> (tickets, seconds) added since start
        super().__init__()
        self.app = self._build_app()

    @property
    def asset_count(self) -> int:
        """How many distinct ids the register holds."""
        return len(self._asset_ids)

    # -- control -------------------------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        """The current knobs (a copy: change them with ``configure``)."""
        return dataclasses.replace(self._state.config)

    def configure(self, **changes: Any) -> None:
        """Change knobs of a running simulator; unknown knobs or bad values raise and change nothing."""
        current = self._state.config
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(SimulatorConfig)})
        if unknown:
            raise ValueError(f"unknown simulator knobs {unknown}")
        try:
            updated = dataclasses.replace(current, **changes)
        except TypeError as exc:  # a value of the wrong type, e.g. latency_ms="fast"
            raise ValueError(f"invalid simulator config: {exc}") from exc
        if updated.seed != current.seed:
            self._directory = AssetDirectory(self._asset_ids, updated.seed, self._sites)
        self._state.replace_config(updated)

    def script_faults(self, asset_id: str, kinds: Sequence[str]) -> None:
        """The next ``len(kinds)`` accepted requests for ``asset_id`` get exactly these faults, in order.

        Kinds are those of ``FAULT_KINDS`` plus "429" and "ok" (answer normally). Scripts add up if called twice.
        """
        if isinstance(kinds, str):
            raise TypeError("kinds must be a sequence of fault kinds, not one string")
        unknown = sorted(set(kinds) - _SCRIPTABLE)
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; expected some of {sorted(_SCRIPTABLE)}")
        self._state.script(asset_id, list(kinds))

    def add_repairs(self, asset_id: str, tickets: int = 1, seconds: int = 3600) -> None:
        """Time passes for ``asset_id``: ``tickets`` more breakdowns totalling ``seconds`` of repair, so its
        performance block (counts, breakdown hours, MTTR, MTBF, availability) answers changed from now on."""
        if asset_id not in self._directory:
            raise KeyError(f"{asset_id!r} is not in the simulator's register")
        before = self._repairs.get(asset_id, (0, 0))
        self._repairs[asset_id] = (before[0] + tickets, before[1] + seconds)

    def stats(self) -> dict[str, Any]:
        """What the server saw; the same as ``GET /_sim/stats``.

        ``requests`` counts every API request received (429s included); ``hits`` every request naming an id;
        ``throttled`` every 429 sent, scripted ones included (those also count under ``faults["429"]``);
        ``ok`` success bodies actually delivered (a hang whose client gave up is not ok);
        ``peak_rate_1s`` the most requests received within any one-second window.
        """
        return self._state.snapshot()

    def reset_stats(self) -> None:
        self._state.reset()

    def expected_record(self, asset_id: str) -> dict[str, Any]:
        """The JSON a successful call returns for a register id (also for ids configured as missing)."""
        record = self._directory.record(asset_id)
        if asset_id in self._repairs:
            record = with_repairs(record, *self._repairs[asset_id])
        return record

    def is_missing(self, asset_id: str) -> bool:
        """Whether the CMMS answers 404 for this id: outside the register, listed, or in the missing share."""
        config = self._state.config
        return (
            asset_id not in self._directory
            or asset_id in config.missing_ids
            or stable_fraction(config.seed, "missing", asset_id) < config.missing_fraction
        )

    # -- HTTP ----------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        return Starlette(routes=[
            Route(API_PATH, self._handle_api, methods=["POST"]),
            Route("/_sim/stats", self._handle_stats, methods=["GET"]),
            Route("/_sim/reset", self._handle_reset, methods=["POST"]),
            Route("/_sim/config", self._handle_config, methods=["GET", "POST"]),
            Route("/_sim/repairs", self._handle_repairs, methods=["POST"]),
        ])

    async def _handle_api(self, request: Request) -> Response:
        asset_id = _serialnumber(await request.body())
        admission = self._state.admit(asset_id)
        if admission.wait_s is not None:
            return self._too_many(admission.wait_s, admission)
        config = self._state.config
        if not await self._pause(config.latency_ms / 1000.0, request):
            return Response(status_code=499)
        response = await self._respond(asset_id, request, config)
        response.headers.update(_rate_limit_headers(config, admission.tokens))
        return response

    async def _respond(self, asset_id: str | None, request: Request, config: SimulatorConfig) -> Response:
        if not _authorized(request, config.token):
            self._state.count("unauthorized")
            return _envelope_error(401, "Unauthenticated.")
        if asset_id is None:
            self._state.count("bad_request")
            return _envelope_error(400, "The serialnumber field is required.")
        fault = self._state.next_fault(asset_id)
        if fault is not None:
            self._state.count_fault(fault)
            return await self._faulty(fault, asset_id, request)
        return self._answer(asset_id)

    def _answer(self, asset_id: str) -> Response:
        if self.is_missing(asset_id):
            self._state.count("not_found")
            return _envelope_error(404, "Asset not found.")
        self._state.count("ok")
        return Response(self._body(asset_id), media_type="application/json")

    def _body(self, asset_id: str) -> bytes:
        """The success body, or the not-found envelope for ids without a record (used by body-mangling faults)."""
        if self.is_missing(asset_id):
            return encode_body(_error_payload(404, "Asset not found."))
        return encode_body(self.expected_record(asset_id))

    async def _faulty(self, kind: str, asset_id: str, request: Request) -> Response:
        if kind == "hang":
            if await self._pause(self._state.config.hang_seconds, request):
                return self._answer(asset_id)
            return Response(status_code=499)
        if kind == "429":
            return self._too_many(1.0, None)
        if kind == "reset":
            return DroppedResponse(self._body(asset_id), media_type="application/json")
        return _fault_response(kind, self._body(asset_id))

    def _too_many(self, wait_s: float, admission: _Admission | None) -> Response:
        """A 429 with the configured Retry-After style; ``admission`` is None for a scripted one (no bucket state)."""
        config = self._state.config
        headers = _rate_limit_headers(config, admission.tokens if admission else None)
        style = config.retry_after
        if style == "mixed":
            nth = admission.throttled_nth if admission and admission.throttled_nth else 0
            style = "none" if stable_fraction(config.seed, "retry-after", nth) < 0.5 else "seconds"
        if style == "seconds":
            headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
        elif style == "http-date":
            when = datetime.fromtimestamp(math.ceil(time.time() + max(wait_s, 1.0)), tz=timezone.utc)
            headers["Retry-After"] = format_datetime(when, usegmt=True)
        return _envelope_error(429, "Too Many Attempts.", headers)

    async def _handle_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _handle_reset(self, request: Request) -> Response:
        self.reset_stats()
        return JSONResponse({"reset": True})

    async def _handle_repairs(self, request: Request) -> Response:
        """``{"asset_id": …, "tickets": 1, "seconds": 3600}``: as :meth:`add_repairs`."""
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict) or not isinstance(body.get("asset_id"), str):
                raise ValueError('expected {"asset_id": "...", "tickets": n, "seconds": s}')
            tickets, seconds = body.get("tickets", 1), body.get("seconds", 3600)
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (tickets, seconds)):
                raise ValueError("tickets and seconds must be whole numbers, 0 or more")
            self.add_repairs(body["asset_id"], tickets, seconds)
        except KeyError as exc:
            return JSONResponse({"error": str(exc.args[0])}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"asset_id": body["asset_id"], "added": {"tickets": tickets, "seconds": seconds}})

    async def _handle_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = json.loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of knob changes")
                self.configure(**changes)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self._state.config.public())


def _rate_limit_headers(config: SimulatorConfig, tokens: float | None) -> dict[str, str]:
    """The bucket's state as ``rate_limit_headers`` asks (see SimulatorConfig), or nothing."""
    rate = config.rate_limit
    style = config.rate_limit_headers
    if style == "none" or rate is None or tokens is None:
        return {}
    capacity = config.effective_burst
    window = max(1, round(capacity / rate))
    quota = max(1, round(rate * window))
    remaining = max(0, math.floor(tokens))
    if remaining == 0:
        reset = max(1, math.ceil((1.0 - tokens) / rate))
    else:
        reset = math.ceil(max(0.0, capacity - tokens) / rate)
    if style == "ietf":
        return {"RateLimit-Limit": str(quota), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(reset),
                "RateLimit-Policy": f"{quota};w={window}"}
    if style == "ietf-structured":
        return {"RateLimit-Policy": f'"bucket";q={quota};w={window}', "RateLimit": f'"bucket";r={remaining};t={reset}'}
    return {"X-RateLimit-Limit": str(quota), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(time.time()) + reset)}


def _serialnumber(raw: bytes) -> str | None:
    """The requested id, verbatim, or None when the body is not a JSON object with a non-empty string id."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    value = body.get("serialnumber") if isinstance(body, dict) else None
    return value if isinstance(value, str) and value != "" else None


def _authorized(request: Request, token: str) -> bool:
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode())


def _error_payload(code: int, message: str) -> dict[str, Any]:
    return {"status": False, "response_code": code, "message": message}


def _envelope_error(code: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(encode_body(_error_payload(code, message)), code, headers, media_type="application/json")


_GATEWAY_PAGES = {
    "502": "502 Bad Gateway",
    "503": "503 Service Temporarily Unavailable",
}


def _fault_response(kind: str, body: bytes) -> Response:
    """Bodies for faults that answer at once: gateway pages, a PHP warning, a cut-off body, status false."""
    if kind == "500":
        return _envelope_error(500, "Server Error")
    if kind in _GATEWAY_PAGES:
        title = _GATEWAY_PAGES[kind]
        page = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n" \
               "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        return Response(page, int(kind), media_type="text/html")
    if kind == "malformed":
        warning = b"<br />\n<b>Warning</b>:  Undefined array key \"amc_id\" in " \
                  b"<b>/var/www/html/application/controllers/Restapicontroller.php</b> on line <b>412</b><br />\n"
        return Response(warning + body, media_type="text/html")
    if kind == "truncated":
        return Response(body[: len(body) // 2], media_type="application/json")
    if kind == "status_false":
        payload = _error_payload(500, "Something went wrong. Please try again later.")
        return Response(encode_body(payload), media_type="application/json")
    raise ValueError(f"unknown fault kind {kind!r}")


def serve(
    asset_ids: Iterable[str],
    config: SimulatorConfig | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    sites: Mapping[str, str] | None = None,
    stop_event: threading.Event | None = None,
) -> None:
    """Serve until interrupted (Ctrl+C) or until ``stop_event`` is set; for ``ic3 simulate innomaint``.

    Logs one banner line with the URL and the knobs, never the token.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    simulator = InnomaintSimulator(asset_ids, config, sites)
    url = simulator.start(host, port, log_level="warning")
    knobs = simulator.config.public()
    logger.info(
        "Innomaint simulator: %d assets at %s%s (rate_limit=%s, latency_ms=%s, fault_rate=%s, seed=%s)",
        simulator.asset_count, url, API_PATH, knobs["rate_limit"], knobs["latency_ms"],
        knobs["fault_rate"], knobs["seed"],
    )
    waiter = stop_event or threading.Event()
    try:
        while not waiter.wait(0.5):
            pass
    except KeyboardInterrupt:
        logger.info("Innomaint simulator stopping")
    finally:
        simulator.stop()
