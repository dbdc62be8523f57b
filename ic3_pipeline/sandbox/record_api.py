"""What the UpKeep, Fiix, SAP PM and in-house simulators share: knobs, token bucket, statistics, faults, test controls.

Each simulator is a :class:`RecordApiSimulator`: it owns a :class:`CmmsDataset` (the neutral records), declares its
API routes and renders records in its API's shape; this module handles everything around a request the same way for
all four, in this order (tests and benchmarks rely on it):

1. counted (``requests``, ``per_path``);
2. the token bucket (``rate_limit`` req/s, ``burst``): over the limit -> the API's own throttle answer at once
   (``throttled``), e.g. 429 with ``Retry-After``, or Fiix's error 1100 in a 200 body;
3. ``latency_ms``;
4. the API's auth check -> its own refusal (``unauthorized``);
5. a fault drawn with probability ``fault_rate`` from hash(seed, request key, n-th time it was asked), so a retry of
   the same page usually succeeds (scripted faults, ``script_faults``, come first): ``503`` / ``500`` (the API's
   error body; the request is not processed, so a write is not applied), ``truncated`` (half the JSON, status 200)
   and ``reset`` (the connection drops mid-body) after the request was processed (a write is applied, its answer
   lost), ``hang`` (``hang_seconds``, then the answer);
6. the answer (``ok`` for 2xx, ``bad_request`` for 400, ``not_found`` for 404).

Test controls at the server root, outside the API: ``GET /_sim/stats``, ``POST /_sim/reset``, ``GET|POST
/_sim/config``, ``POST /_sim/change`` ``{"collection": "work_orders", "count": 2}`` or ``"ids": [..]``,
``POST /_sim/delete`` (same body), ``POST /_sim/faults`` ``{"kinds": ["503", "503", "503"]}`` (a burst: the next
requests get these faults in order), ``GET /_sim/truth?collection=assets`` (the records as the API renders them, every
field) and ``GET /_sim/records?collection=assets`` (the neutral records, dates in ISO 8601). Secrets are never echoed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ic3_pipeline.sandbox.cmms_records import COLLECTIONS, CmmsDataset, Record
from ic3_pipeline.sandbox.loopback import (
    DroppedResponse,
    LoopbackServer,
    SimulatorControls,
    SimulatorState,
    effective_burst,
    json_object,
)

logger = logging.getLogger(__name__)

#: Fault kinds ``fault_kinds`` may draw from.
FAULT_KINDS: tuple[str, ...] = ("503", "500", "truncated", "reset", "hang")


@dataclass
class RecordApiConfig:
    """Knobs every record-API simulator has; each simulator's config adds its own (credentials, paging quirks).

    ``sites``, ``assets_per_site`` and ``seed`` shape the dataset and are fixed once the simulator is built (so is a
    register given to the constructor). ``burst`` is the token-bucket capacity; None means ``max(1, rate_limit/10)``.
    """

    SECRETS: ClassVar[frozenset[str]] = frozenset()

    seed: int = 7
    sites: tuple[str, ...] = ("North Plant", "South Plant")
    assets_per_site: int = 25
    rate_limit: float | None = None
    burst: float | None = None
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("503", "500", "truncated", "reset")
    hang_seconds: float = 30.0

    def __post_init__(self) -> None:
        """Normalise JSON-friendly inputs (lists) and refuse knobs the server could not honour."""
        self.sites = tuple(self.sites)
        self.fault_kinds = tuple(self.fault_kinds)
        problems = self.problems()
        if problems:
            raise ValueError(f"invalid {type(self).__name__}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with these knobs; subclasses add their own checks."""
        problems = []
        if not self.sites or not all(isinstance(s, str) and s.strip() for s in self.sites):
            problems.append("sites must be non-empty strings")
        if len(set(self.sites)) != len(self.sites):
            problems.append("sites must be distinct")
        if self.assets_per_site < 1:
            problems.append("assets_per_site must be >= 1")
        if self.rate_limit is not None and not self.rate_limit > 0:
            problems.append("rate_limit must be > 0 or None")
        if self.burst is not None and not self.burst >= 1:
            problems.append("burst must be >= 1 or None")
        if self.latency_ms < 0 or self.hang_seconds < 0:
            problems.append("latency_ms and hang_seconds must be >= 0")
        if not 0.0 <= self.fault_rate <= 1.0:
            problems.append("fault_rate must be within [0, 1]")
        unknown = sorted(set(self.fault_kinds) - set(FAULT_KINDS))
        if unknown or (self.fault_rate > 0 and not self.fault_kinds):
            problems.append(f"fault_kinds must be a non-empty subset of {FAULT_KINDS}, got unknown {unknown}")
        for name in self.SECRETS:
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                problems.append(f"{name} must be a non-empty string")
        return problems

    @property
    def effective_burst(self) -> float:
        return effective_burst(self.rate_limit, self.burst)

    def public(self) -> dict[str, Any]:
        """The knobs as JSON, without the credentials (stand-ins for secrets, never echoed)."""
        view = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self.SECRETS}
        view["sites"], view["fault_kinds"] = list(self.sites), list(self.fault_kinds)
        view["effective_burst"] = self.effective_burst if self.rate_limit else None
        return view


_DATASET_KNOBS = frozenset({"seed", "sites", "assets_per_site"})
_COUNTERS = ("requests", "ok", "throttled", "unauthorized", "not_found", "bad_request")


def _server_state(config: RecordApiConfig) -> SimulatorState:
    return SimulatorState(config, _COUNTERS, "per_path", FAULT_KINDS)


@dataclass(frozen=True)
class Answer:
    """A built response: status, body bytes, extra headers and media type."""

    status: int
    body: bytes
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    media_type: str = "application/json"

    def response(self) -> Response:
        return Response(self.body, self.status, dict(self.headers), media_type=self.media_type)


def encode(payload: Any) -> bytes:
    """Compact UTF-8 JSON, as these APIs send it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_answer(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Answer:
    return Answer(status, encode(payload), headers or {})


def retry_after(wait_s: float) -> str:
    """Whole seconds, at least 1, as a ``Retry-After`` header says it."""
    return str(max(1, math.ceil(wait_s)))


class RecordApiSimulator(SimulatorControls, LoopbackServer, ABC):
    """A simulated CMMS API over a :class:`CmmsDataset`; subclasses give routes, auth, rendering and error bodies."""

    dataset_knobs = _DATASET_KNOBS

    config_class: ClassVar[type[RecordApiConfig]] = RecordApiConfig
    #: Neutral values this API can express (see ``CmmsDataset``).
    work_statuses: ClassVar[tuple[str, ...]] = ("open", "in_progress", "on_hold", "completed", "cancelled")
    priorities: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 5)

    def __init__(self, config: RecordApiConfig | None = None, *, register: Mapping[str, str] | None = None) -> None:
        config = dataclasses.replace(config) if config else self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}")
        self._state = _server_state(config)
        self._rendered: dict[str, tuple[int, list[tuple[Record, dict[str, Any]]]]] = {}
        self.data = CmmsDataset(seed=config.seed, sites=config.sites, assets_per_site=config.assets_per_site,
                                register=register, work_statuses=self.work_statuses, priorities=self.priorities)
        super().__init__()
        self.app = Starlette(routes=self.api_routes() + self._control_routes())

    # -- what a subclass provides --------------------------------------------------------------------

    @abstractmethod
    def api_routes(self) -> list[BaseRoute]:
        """The API's own routes."""

    @abstractmethod
    def render(self, collection: str, record: Record) -> dict[str, Any]:
        """One neutral record in the API's shape, every field."""

    @abstractmethod
    def throttled(self, wait_s: float) -> Answer:
        """The API's answer over its rate limit."""

    @abstractmethod
    def server_error(self, kind: str) -> Answer:
        """The API's answer for an injected ``500`` or ``503``."""

    # -- control -------------------------------------------------------------------------------------

    @property
    def config(self) -> RecordApiConfig:
        """The current knobs (a copy: change them with ``configure``)."""
        return dataclasses.replace(self._state.config)

    def stats(self) -> dict[str, Any]:
        """What the server saw; the same as ``GET /_sim/stats``.

        ``requests`` every API request (throttled ones included), ``per_path`` the same by route (e.g.
        ``/work-orders``, ``FindRequest:WorkOrder``), ``ok`` 2xx answers delivered intact, ``throttled`` answers
        over the rate limit, ``faults`` injected faults by kind, ``unauthorized``, ``not_found``, ``bad_request``.
        """
        return self._state.snapshot()

    def reset_stats(self) -> None:
        self._state.reset()

    def script_faults(self, kinds: list[str]) -> None:
        """The next API requests that pass auth get these faults in order, whatever they ask (``"ok"`` for a normal
        answer): ``["503"] * 5`` is a burst of five 503s, an outage a client must ride out. Scripted faults come
        before the ``fault_rate`` coin; ``reset_stats`` forgets those not yet used."""
        self._state.script(list(kinds))

    def records(self, collection: str) -> list[Record]:
        """The neutral records (what the source means) in id order."""
        return self.data.records(collection)

    def truth(self, collection: str) -> list[dict[str, Any]]:
        """The current records exactly as the API renders them (every field), in id order."""
        return [self.render(collection, record) for record in self.data.records(collection)]

    def rendered(self, collection: str) -> list[tuple[Record, dict[str, Any]]]:
        """(neutral record, API rendering) pairs of the current data, in id order; shared, so never mutate them.

        Kept per dataset version: a client paging through thousands of records costs one rendering per record,
        and any change or delete makes a new version, so a page never comes from stale data.
        """
        version, records = self.data.snapshot(collection)
        cached = self._rendered.get(collection)
        if cached is not None and cached[0] == version:
            return cached[1]
        pairs = [(record, self.render(collection, record)) for record in records]
        self._rendered[collection] = (version, pairs)
        return pairs

    def change(self, collection: str, count: int = 1, ids: list[int] | None = None) -> list[int]:
        """Edit records (see ``CmmsDataset.change``); returns the neutral ids changed."""
        return self.data.change(collection, count, ids)

    def delete(self, collection: str, ids: list[int] | None = None, count: int | None = None) -> list[int]:
        """Remove records (see ``CmmsDataset.delete``); returns the neutral ids removed."""
        return self.data.delete(collection, ids, count)

    # -- the request pipeline ------------------------------------------------------------------------

    async def serve_request(
        self,
        request: Request,
        path_key: str,
        fault_key: str,
        authorize: Callable[[], Answer | None],
        answer: Callable[[], Answer | Awaitable[Answer]],
    ) -> Response:
        """Steps 2-6 of the module docstring for one API request (``authorize`` returns a refusal or None)."""
        wait_s = self._state.admit(path_key)
        if wait_s is not None:
            return self.throttled(wait_s).response()
        config = self._state.config
        if not await self._pause(config.latency_ms / 1000.0, request):
            return Response(status_code=499)
        refusal = authorize()
        if refusal is not None:
            self._state.count("unauthorized")
            return refusal.response()
        fault = self._state.next_fault(fault_key)
        if fault == "hang":
            if not await self._pause(config.hang_seconds, request):
                return Response(status_code=499)
            fault = None
        if fault in ("500", "503"):  # failed before the request was processed: a write is not applied
            return self.server_error(fault).response()
        built = answer()  # truncated and reset answers were processed (a write is applied) and then lost
        result = await built if not isinstance(built, Answer) else built
        if fault == "truncated":
            return Response(result.body[: len(result.body) // 2], 200, media_type=result.media_type)
        if fault == "reset":
            return DroppedResponse(result.body, result.status, dict(result.headers), media_type=result.media_type)
        outcome = {400: "bad_request", 406: "bad_request", 404: "not_found", 401: "unauthorized"}.get(result.status)
        if 200 <= result.status < 300:
            outcome = "ok"
        if outcome:
            self._state.count(outcome)
        return result.response()

    # -- test controls -------------------------------------------------------------------------------

    def _control_routes(self) -> list[BaseRoute]:
        return [
            Route("/_sim/stats", self._handle_stats, methods=["GET"]),
            Route("/_sim/reset", self._handle_reset, methods=["POST"]),
            Route("/_sim/config", self._handle_config, methods=["GET", "POST"]),
            Route("/_sim/change", self._handle_change, methods=["POST"]),
            Route("/_sim/delete", self._handle_delete, methods=["POST"]),
            Route("/_sim/truth", self._handle_truth, methods=["GET"]),
            Route("/_sim/faults", self._handle_faults, methods=["POST"]),
            Route("/_sim/records", self._handle_records, methods=["GET"]),
        ]

    async def _handle_change(self, request: Request) -> Response:
        async def change(body: dict[str, Any]) -> dict[str, Any]:
            return {"changed": self.change(body["collection"], int(body.get("count", 1)), body.get("ids"))}
        return await self._control(request, change)

    async def _handle_delete(self, request: Request) -> Response:
        async def delete(body: dict[str, Any]) -> dict[str, Any]:
            count = body.get("count")
            return {"deleted": self.delete(body["collection"], body.get("ids"),
                                           None if count is None else int(count))}
        return await self._control(request, delete)

    async def _handle_faults(self, request: Request) -> Response:
        async def script(body: dict[str, Any]) -> dict[str, Any]:
            kinds = body["kinds"]
            if not isinstance(kinds, list):
                raise ValueError("kinds must be a list, e.g. [\"503\", \"503\", \"reset\"]")
            self.script_faults(kinds)
            return {"scripted": kinds}
        return await self._control(request, script)

    async def _handle_truth(self, request: Request) -> Response:
        async def truth(_: dict[str, Any]) -> dict[str, Any]:
            collection = request.query_params.get("collection", "")
            return {"collection": collection, "records": self.truth(collection)}
        return await self._control(request, truth)

    async def _handle_records(self, request: Request) -> Response:
        async def records(_: dict[str, Any]) -> dict[str, Any]:
            collection = request.query_params.get("collection", "")
            return {"collection": collection, "records": [
                {k: _iso(v) for k, v in record.items()} for record in self.records(collection)]}
        return await self._control(request, records)

    async def _control(self, request: Request,
                       action: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> Response:
        try:
            body = await json_object(request) if request.method == "POST" else {}
            return JSONResponse(await action(body))
        except KeyError as exc:
            return JSONResponse({"error": f"missing or unknown {exc}; collections: {list(COLLECTIONS)}"},
                                status_code=400)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def serve(simulator: RecordApiSimulator, *, banner: str, host: str = "127.0.0.1", port: int,
          stop_event: threading.Event | None = None) -> None:
    """Serve until interrupted (Ctrl+C) or ``stop_event`` is set; for ``ic3 simulate <name>``.

    Logs one banner line (``banner`` formatted with ``url``, ``root`` and the public knobs), never a credential.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    url = simulator.start(host, port, log_level="warning")
    root = url[: len(url) - len(simulator.url_path)] if simulator.url_path else url
    knobs = simulator.config.public()
    logger.info("%s; stats at %s/_sim/stats", banner.format(url=url, root=root, **knobs), root)
    waiter = stop_event or threading.Event()
    try:
        while not waiter.wait(0.5):
            pass
    except KeyboardInterrupt:
        logger.info("%s stopping", simulator.name)
    finally:
        simulator.stop()
