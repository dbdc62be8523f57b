"""A loopback HTTP server that behaves like IBM Maximo's OSLC REST API, with knobs for its bad days.

Test and demo equipment (see DESIGN.md, "Simulators"), built like the Innomaint simulator: Starlette served
by uvicorn in a daemon thread over a real socket. It follows ``shared/reference/maximo-api.md`` on its own
(``maximo_data`` for records, ``maximo_query`` for select/where/orderBy) and never imports the product's
Maximo client or HTTP layer, so a parsing bug shared by both cannot hide itself.

Routes under the context root ``/maximo``: ``oslc/os/{name}`` and ``api/os/{name}`` (names in any case).
``POST oslc/os/mxapiwodetail`` creates a work order (201, ``Location``, the record back when a ``properties``
header asks for it, as Maximo answers), counted in ``creates``/``created``.
Paging is evaluated per request on the current data, as without ``stablePaging``: a record changed between
two pages may move, and ``on_page`` lets tests change data exactly between pages.

Order in which an API request is handled, which tests and benchmarks can rely on:

1. counted (``requests``, ``per_os``);
2. the token bucket (``rate_limit`` req/s, ``burst``): over the limit -> 429 with ``Retry-After`` at once;
3. ``latency_ms``;
4. auth: ``apikey`` header (else ``apikey`` query parameter), or ``maxauth`` = base64(user:password) when a
   user is configured -> else 401 ``BMXAA0021E``;
5. a fault drawn with probability ``fault_rate`` from hash(seed, path+query, n-th time it was asked), so a
   retry of the same page usually succeeds: ``503`` (an HTML gateway page), ``500`` (Error envelope),
   ``truncated`` (half the JSON body, status 200), ``reset`` (connection dropped mid-body), ``hang``
   (``hang_seconds``, then the answer);
6. unknown object structure -> 404; a bad query or a page size above ``max_page_size`` -> 400; else the page.

The API key is never logged, echoed, or put in the ``href`` links (an ``apikey`` query parameter is left out
of them, so a client following ``nextPage`` sends its key again the way it sent it first).
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ic3_pipeline.sandbox.loopback import (
    DroppedResponse,
    LoopbackServer,
    SimulatorControls,
    SimulatorState,
    effective_burst,
    json_object,
)
from ic3_pipeline.sandbox.maximo_data import Key, MaximoDataset, Row, ValueFn
from ic3_pipeline.sandbox.maximo_query import (
    Ordering,
    Predicate,
    QueryError,
    Selection,
    parse_order,
    parse_select,
    parse_where,
    sort_rows,
)

logger = logging.getLogger(__name__)

CONTEXT_ROOT = "/maximo"
#: Fault kinds ``fault_kinds`` may draw from.
FAULT_KINDS: tuple[str, ...] = ("503", "500", "truncated", "reset", "hang")
DEFAULT_PAGE_SIZE = 1000
_ROUTES = ("oslc", "api")
_DATASET_KNOBS = frozenset({"sites", "assets_per_site", "seed", "dangling_every"})
_SECRET_KNOBS = frozenset({"api_key", "password"})
_CACHED_QUERIES = 32

PageHook = Callable[[str, int], None]


@dataclass
class MaximoSimConfig:
    """Knobs of the simulated Maximo. The simulator keeps its own copy: change a running one with ``configure()``.

    The dataset knobs (``sites``, ``assets_per_site``, ``seed``, ``dangling_every``: one work order in that many
    points at an asset that does not exist, 0 for none) are fixed once the simulator is built. ``burst`` is
    the token-bucket capacity; None means ``max(1, rate_limit / 10)``.
    """

    sites: tuple[str, ...] = ("BEDFORD", "NASHUA")
    assets_per_site: int = 40
    seed: int = 7
    api_key: str = "sim-apikey"
    rate_limit: float | None = None
    burst: float | None = None
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("503", "truncated", "reset", "hang")
    hang_seconds: float = 30.0
    max_page_size: int = 1000
    absolute_next: bool = False
    user: str | None = None
    password: str | None = None
    dangling_every: int = 50

    def __post_init__(self) -> None:
        """Normalise JSON-friendly inputs (lists) and refuse knobs the server could not honour."""
        self.sites = tuple(self.sites)
        self.fault_kinds = tuple(self.fault_kinds)
        problems = _config_problems(self)
        if problems:
            raise ValueError("invalid Maximo simulator config: " + "; ".join(problems))

    @property
    def effective_burst(self) -> float:
        return effective_burst(self.rate_limit, self.burst)

    def public(self) -> dict[str, Any]:
        """The knobs as JSON, without the API key or password (stand-ins for secrets, never echoed)."""
        view = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _SECRET_KNOBS}
        view["sites"], view["fault_kinds"] = list(self.sites), list(self.fault_kinds)
        view["effective_burst"] = self.effective_burst if self.rate_limit else None
        return view


def _config_problems(config: MaximoSimConfig) -> list[str]:
    problems = []
    if not config.sites or not all(isinstance(s, str) and s for s in config.sites):
        problems.append("sites must be non-empty strings")
    if len(set(config.sites)) != len(config.sites):
        problems.append("sites must be distinct")
    if config.assets_per_site < 1 or config.dangling_every < 0:
        problems.append("assets_per_site must be >= 1 and dangling_every >= 0")
    if not isinstance(config.api_key, str) or not config.api_key:
        problems.append("api_key must be a non-empty string")
    if (config.user is None) != (config.password is None):
        problems.append("user and password go together")
    if config.rate_limit is not None and not config.rate_limit > 0:
        problems.append("rate_limit must be > 0 or None")
    if config.burst is not None and not config.burst >= 1:
        problems.append("burst must be >= 1 or None")
    if config.latency_ms < 0 or config.hang_seconds < 0:
        problems.append("latency_ms and hang_seconds must be >= 0")
    if not 0.0 <= config.fault_rate <= 1.0:
        problems.append("fault_rate must be within [0, 1]")
    if config.max_page_size < 1:
        problems.append("max_page_size must be >= 1")
    unknown = sorted(set(config.fault_kinds) - set(FAULT_KINDS))
    if unknown or (config.fault_rate > 0 and not config.fault_kinds):
        problems.append(f"fault_kinds must be a non-empty subset of {FAULT_KINDS}, got unknown {unknown}")
    return problems


_COUNTERS = ("requests", "pages", "throttled", "unauthorized", "not_found", "bad_request", "page_size_refused",
             "creates", "created")


def _server_state(config: MaximoSimConfig) -> SimulatorState:
    return SimulatorState(config, _COUNTERS, "per_os")


@dataclass(frozen=True)
class _Answer:
    """A built response body: its status and bytes (a page, or an Error envelope)."""

    status: int
    body: bytes


class MaximoSimulator(SimulatorControls, LoopbackServer):
    """The simulated Maximo: seven object structures over ``config.sites``, served on a loopback port."""

    dataset_knobs = _DATASET_KNOBS

    name = "Maximo simulator"
    url_path = CONTEXT_ROOT  # the base URL runs up to and including the context root

    def __init__(self, config: MaximoSimConfig | None = None) -> None:
        config = dataclasses.replace(config) if config else MaximoSimConfig()
        self._state = _server_state(config)
        self._data = MaximoDataset(config.sites, config.assets_per_site, config.seed, config.dangling_every)
        self._on_page: PageHook | None = None
        self._results: OrderedDict[tuple[str, str, str], tuple[int, list[Row]]] = OrderedDict()
        super().__init__()
        self.app = self._build_app()

    # -- control -------------------------------------------------------------------------------------

    @property
    def config(self) -> MaximoSimConfig:
        """The current knobs (a copy: change them with ``configure``)."""
        return dataclasses.replace(self._state.config)

    def stats(self) -> dict[str, Any]:
        """What the server saw; the same as ``GET /_sim/stats``.

        ``requests`` every API request (429s included), ``per_os`` the same by lower-case object structure name,
        ``pages`` pages delivered intact, ``throttled`` 429s, ``faults`` injected faults by kind,
        ``unauthorized`` 401s, ``not_found`` 404s, ``bad_request`` 400s, ``page_size_refused`` the 400s
        among them for a page size above ``max_page_size``; ``creates`` POSTs that passed auth (faulted ones
        included), ``created`` records they created.
        """
        return self._state.snapshot()

    def reset_stats(self) -> None:
        self._state.reset()

    def truth(self, os_name: str, site: str | None = None) -> list[dict[str, Any]]:
        """The current records as a lean ``oslc.select=*`` with every child would send them, sorted by key."""
        structure = self._structure(os_name)
        if site is not None and not structure.per_site:
            raise ValueError(f"{structure.name} is not kept per site")
        everything = Selection(None, {child: Selection(None) for child in structure.children})
        _, rows = self._data.rows(structure.name)
        chosen = sorted((row for row in rows if site is None or row.key[0] == site), key=lambda row: row.key)
        return [self._data.render(row, everything, False, self._member_href("oslc", structure.name, row.key))
                for row in chosen]

    def dangling_references(self) -> list[tuple[str, str, str]]:
        """Work orders whose asset does not exist at their site: (siteid, wonum, assetnum)."""
        assets = {row.key for row in self._data.rows("mxapiasset")[1]}
        return [(row.key[0], row.key[1], row.values["assetnum"]) for row in self._data.rows("mxapiwodetail")[1]
                if row.values["assetnum"] is not None and (row.key[0], row.values["assetnum"]) not in assets]

    def change(self, os_name: str, count: int = 1, site: str | None = None) -> list[Key]:
        """Modify ``count`` records: a field changes, new ``_rowstamp``, ``changedate`` now (where it has one)."""
        return self._data.change(self._structure(os_name).name, count, site)

    def delete(self, os_name: str, keys: Iterable[Key | str] | None = None, count: int | None = None,
               site: str | None = None) -> list[Key]:
        """Remove the named records, or ``count`` drawn ones; returns the keys actually removed."""
        if (keys is None) == (count is None):
            raise ValueError("give either keys or count")
        return self._data.delete(self._structure(os_name).name, keys, count, site)

    def add_attribute(self, os_name: str, attribute: str, value_fn: ValueFn | None = None) -> None:
        """From now on every record of that object structure carries ``attribute`` (see ``MaximoDataset``)."""
        self._data.add_attribute(self._structure(os_name).name, attribute, value_fn)

    def on_page(self, callback: PageHook | None) -> None:
        """Call ``callback(os_name, pageno)`` after each page is built and before it is sent; None clears it.

        It runs on the server's thread: it may call ``change``/``delete``/``add_attribute``, but must not make
        requests to this server.
        """
        self._on_page = callback

    def _structure(self, os_name: str) -> Any:
        structure = self._data.structure(os_name)
        if structure is None:
            raise KeyError(f"no object structure {os_name!r}")
        return structure

    # -- HTTP ----------------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        return Starlette(routes=[
            Route(CONTEXT_ROOT + "/{route}/os/{name}", self._handle_collection, methods=["GET"]),
            Route(CONTEXT_ROOT + "/{route}/os/{name}", self._handle_create, methods=["POST"]),
            Route("/_sim/stats", self._handle_stats, methods=["GET"]),
            Route("/_sim/reset", self._handle_reset, methods=["POST"]),
            Route("/_sim/config", self._handle_config, methods=["GET", "POST"]),
            Route("/_sim/change", self._handle_change, methods=["POST"]),
            Route("/_sim/delete", self._handle_delete, methods=["POST"]),
            Route("/_sim/add_attribute", self._handle_add_attribute, methods=["POST"]),
        ])

    async def _handle_collection(self, request: Request) -> Response:
        route, os_name = request.path_params["route"].lower(), request.path_params["name"].lower()
        wait_s = self._state.admit(os_name)
        if wait_s is not None:
            return _too_many(wait_s)
        config = self._state.config
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        params = {name.lower(): value for name, value in pairs}
        lean = params.get("lean") == "1"
        if not await self._pause(config.latency_ms / 1000.0, request):
            return Response(status_code=499)
        if not _authorized(request, params, config):
            self._state.count("unauthorized")
            return self._error(401, "BMXAA0021E", "User name and password combination are not valid. Try again.",
                               lean)
        fault = self._state.next_fault(f"{request.url.path}?{request.url.query}")
        if fault == "hang":
            if not await self._pause(config.hang_seconds, request):
                return Response(status_code=499)
            fault = None
        if route not in _ROUTES or self._data.structure(os_name) is None:
            answer = self._error_answer(404, "BMXAA8727E", f"The object structure {os_name.upper()} was not found.",
                                        lean)
            self._state.count("not_found")
        else:
            answer = self._page(route, os_name, pairs, params, config)
        if fault is None:
            if answer.status == 200:
                self._state.count("pages")
            return Response(answer.body, answer.status, media_type="application/json")
        return _faulty(fault, answer)

    async def _handle_create(self, request: Request) -> Response:
        """``POST oslc/os/mxapiwodetail``: create a work order. Same order as a read (counted, rate limit, latency,
        auth, seeded fault); then 201 with ``Location`` (the new record's URI) and, when the ``properties`` header
        names attributes (``wonum,href`` or ``*``), the created record as the body, else an empty body. Only work
        orders can be created here; a body without ``siteid``, with an asset unknown at the site or a ``wopriority``
        that is not a whole number 0-999 is a 400 Error envelope."""
        route, os_name = request.path_params["route"].lower(), request.path_params["name"].lower()
        wait_s = self._state.admit(os_name)
        if wait_s is not None:
            return _too_many(wait_s)
        config = self._state.config
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        params = {name.lower(): value for name, value in pairs}
        lean = params.get("lean") == "1"
        if not await self._pause(config.latency_ms / 1000.0, request):
            return Response(status_code=499)
        if not _authorized(request, params, config):
            self._state.count("unauthorized")
            return self._error(401, "BMXAA0021E", "User name and password combination are not valid. Try again.",
                               lean)
        self._state.count("creates")
        fault = self._state.next_fault(f"POST {request.url.path}?{request.url.query}")
        if fault == "hang":
            if not await self._pause(config.hang_seconds, request):
                return Response(status_code=499)
            fault = None
        if fault is not None:  # the record is not created: the gateway or the server failed first
            return _faulty(fault, _Answer(500, b"{}"))
        if route not in _ROUTES or os_name != "mxapiwodetail":
            self._state.count("not_found")
            return self._error(404, "BMXAA8727E", f"The object structure {os_name.upper()} was not found.", lean)
        try:
            given = json.loads(await request.body() or b"{}")
        except ValueError:
            given = None
        problem = self._create_problem(given)
        if problem is not None:
            self._state.count("bad_request")
            return self._error(400, problem[0], problem[1], lean)
        key = self._data.create_work_order({k.lower(): v for k, v in given.items()})
        self._state.count("created")
        href = self._member_href(route, os_name, key)
        location = f"{self.base_url}/{route}/os/{os_name}/{self._structure(os_name).href_id(key)}"
        wanted = request.headers.get("properties")
        if not wanted:
            return Response(b"", 201, {"Location": location})
        row = next(row for row in self._data.rows(os_name)[1] if row.key == key)
        names = None if wanted.strip() == "*" else {name.strip().lower() for name in wanted.split(",")}
        member = self._data.render(row, Selection(None if names is None else frozenset(names), {}), False, href)
        if names is not None:
            member = {k: v for k, v in member.items() if k in names}
        return Response(_encode(member), 201, {"Location": location}, media_type="application/json")

    def _create_problem(self, given: Any) -> tuple[str, str] | None:
        if not isinstance(given, dict):
            return "BMXAA9549E", "The request body must be a JSON object."
        given = {k.lower(): v for k, v in given.items()}
        site = given.get("siteid")
        if not isinstance(site, str) or site not in self._state.config.sites:
            return "BMXAA4195E", f"A value is required for the Site field on the WORKORDER object (got {site!r})."
        assetnum = given.get("assetnum")
        if assetnum is not None and not any(row.key == (site, str(assetnum))
                                            for row in self._data.rows("mxapiasset")[1]):
            return "BMXAA2661E", f"Asset {assetnum} is not a valid asset at site {site}."
        priority = given.get("wopriority")
        if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)
                                     or not 0 <= priority <= 999):
            return "BMXAA4049E", f"The value {priority!r} for wopriority is not a whole number from 0 to 999."
        return None

    def _page(self, route: str, os_name: str, pairs: list[tuple[str, str]], params: dict[str, str],
              config: MaximoSimConfig) -> _Answer:
        """One page of the collection, evaluated now on the current data."""
        lean = params.get("lean") == "1"
        structure = self._structure(os_name)
        attributes = self._data.attribute_names(os_name)
        try:
            select = parse_select(params.get("oslc.select"), attributes, structure.children)
            where = parse_where(params.get("oslc.where"), attributes)
            order = parse_order(params.get("oslc.orderby"), attributes)
            page_size = _positive("oslc.pageSize", params.get("oslc.pagesize"), None)
            pageno = _positive("pageno", params.get("pageno"), 1)
            ordered = self._matching(os_name, params, where, order)
        except QueryError as error:  # a value of the wrong kind surfaces only when compared
            self._state.count("bad_request")
            return self._error_answer(400, error.reason_code, str(error).partition(" - ")[2] or str(error), lean)
        if page_size is not None and page_size > config.max_page_size:
            self._state.count("bad_request")
            self._state.count("page_size_refused")
            return self._error_answer(
                400, "BMXAA9520E",
                f"The page size {page_size} exceeds the maximum page size {config.max_page_size} "
                "set in mxe.oslc.maxpagesize.", lean)
        size = page_size if page_size is not None else min(DEFAULT_PAGE_SIZE, config.max_page_size)
        total = len(ordered)
        if params.get("count") == "1":
            return _Answer(200, _encode({"totalCount": total}))
        page = ordered[(pageno - 1) * size: pageno * size]
        keep_nulls, prefix = params.get("_dropnulls") == "0", self._link(f"{route}/os/{os_name}/")
        members = [self._data.render(row, select, keep_nulls, prefix + structure.href_id(row.key)) for row in page]
        info: dict[str, Any] = {}
        if pageno * size < total:
            info["nextPage"] = {"href": self._collection_href(route, os_name, pairs, next_page=pageno + 1)}
        if params.get("collectioncount") == "1":
            info["totalPages"], info["totalCount"] = math.ceil(total / size), total
        info["pagenum"] = pageno
        info["href"] = self._collection_href(route, os_name, pairs)
        payload = {"member": members, "href": self._link(f"{route}/os/{os_name}"), "responseInfo": info}
        self._call_page_hook(os_name, pageno)
        return _Answer(200, _encode(payload if lean else _namespaced(payload)))

    def _matching(self, os_name: str, params: dict[str, str], where: list[Predicate],
                  order: list[Ordering]) -> list[Row]:
        """The rows matching ``where`` in ``order``, on the current data.

        Kept per (query, table version) for the next pages of the same query: any change, delete or new attribute
        makes a new version, so a page never comes from stale data (paging stays unstable, as in Maximo), and a
        full read costs one filter and sort instead of one per page. Only the server thread calls this.
        """
        version, rows = self._data.rows(os_name)
        cache_key = (os_name, params.get("oslc.where", ""), params.get("oslc.orderby", ""))
        cached = self._results.get(cache_key)
        if cached is not None and cached[0] == version:
            self._results.move_to_end(cache_key)
            return cached[1]
        matching = [row for row in rows if all(predicate(row.values) for predicate in where)]
        ordered = sort_rows(matching, order, lambda row, attr: row.values.get(attr))
        self._results[cache_key] = (version, ordered)
        while len(self._results) > _CACHED_QUERIES:
            self._results.popitem(last=False)
        return ordered

    def _call_page_hook(self, os_name: str, pageno: int) -> None:
        hook = self._on_page
        if hook is None:
            return
        try:
            hook(os_name, pageno)
        except Exception:  # a broken test hook must not turn into a server error the client would retry
            logger.exception("on_page hook failed for %s page %d", os_name, pageno)

    def _link(self, relative: str) -> str:
        """An href as Maximo writes it: relative to the context root, or absolute when ``absolute_next``."""
        return f"{self.base_url}/{relative}" if self._state.config.absolute_next else relative

    def _member_href(self, route: str, os_name: str, key: Key) -> str:
        return self._link(f"{route}/os/{os_name}/{self._structure(os_name).href_id(key)}")

    def _collection_href(self, route: str, os_name: str, pairs: list[tuple[str, str]],
                         next_page: int | None = None) -> str:
        """This request's link (or its next page's: ``pageno`` first), without any ``apikey`` parameter."""
        kept = [(k, v) for k, v in pairs if k.lower() != "apikey" and (next_page is None or k.lower() != "pageno")]
        if next_page is not None:
            kept.insert(0, ("pageno", str(next_page)))
        query = "&".join(f"{quote(k, safe='.')}={quote(v, safe='*,.')}" for k, v in kept)
        return self._link(f"{route}/os/{os_name}" + (f"?{query}" if query else ""))

    def _error_answer(self, status: int, reason: str, message: str, lean: bool) -> _Answer:
        error = {"reasonCode": reason, "message": f"{reason} - {message}", "statusCode": str(status),
                 "extendedError": {"moreInfo": {"href": f"{self.base_url}/oslc/error/messages/{reason}"}}}
        if lean:
            return _Answer(status, _encode({"Error": error}))
        return _Answer(status, _encode({"oslc:Error": {
            "spi:reasonCode": reason, "oslc:message": error["message"], "oslc:statusCode": str(status),
            "oslc:extendedError": {"oslc:moreInfo": {"rdf:resource": error["extendedError"]["moreInfo"]["href"]}},
        }}))

    def _error(self, status: int, reason: str, message: str, lean: bool) -> Response:
        answer = self._error_answer(status, reason, message, lean)
        return Response(answer.body, answer.status, media_type="application/json")

    # -- admin endpoints -----------------------------------------------------------------------------

    async def _handle_change(self, request: Request) -> Response:
        return await self._admin(request, lambda body: {"changed": self.change(
            body["os"], int(body.get("count", 1)), body.get("site"))})

    async def _handle_delete(self, request: Request) -> Response:
        def delete(body: dict[str, Any]) -> dict[str, Any]:
            keys = body.get("keys")
            count = body.get("count")
            return {"deleted": self.delete(body["os"], keys=keys, count=None if count is None else int(count),
                                           site=body.get("site"))}
        return await self._admin(request, delete)

    async def _handle_add_attribute(self, request: Request) -> Response:
        def add(body: dict[str, Any]) -> dict[str, Any]:
            self.add_attribute(body["os"], body["attribute"])
            return {"added": body["attribute"].lower(), "os": body["os"].lower()}
        return await self._admin(request, add)

    async def _admin(self, request: Request, action: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
        try:
            return JSONResponse(action(await json_object(request)))
        except KeyError as exc:
            return JSONResponse({"error": f"missing or unknown {exc}"}, status_code=400)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)


def _authorized(request: Request, params: dict[str, str], config: MaximoSimConfig) -> bool:
    """The ``apikey`` header wins over the query parameter; ``maxauth`` only when a user is configured."""
    supplied = request.headers.get("apikey")
    if supplied is None:
        supplied = params.get("apikey")
    if supplied is not None:
        return hmac.compare_digest(supplied.encode(), config.api_key.encode())
    maxauth = request.headers.get("maxauth")
    if maxauth is None or config.user is None or config.password is None:
        return False
    expected = base64.b64encode(f"{config.user}:{config.password}".encode()).decode("ascii")
    return hmac.compare_digest(maxauth.strip().encode(), expected.encode())


def _positive(name: str, raw: str | None, default: int | None) -> int | None:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise QueryError("BMXAA8738E", f"BMXAA8738E - The value {raw!r} of {name} must be a positive integer.")
    return value


def _namespaced(payload: dict[str, Any]) -> dict[str, Any]:
    """The default (``lean=0``) form: ``rdfs:member``, ``spi:`` attributes, ``oslc:responseInfo``."""
    def member(row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in row.items():
            if name == "href":
                out["rdf:about"] = value
            elif name == "_rowstamp":
                out[name] = value
            elif isinstance(value, list):
                out[f"spi:{name}"] = [{f"spi:{k}": v for k, v in child.items()} for child in value]
            else:
                out[f"spi:{name}"] = value
        return out

    info = payload["responseInfo"]
    namespaced_info: dict[str, Any] = {"rdf:about": info["href"], "spi:pagenum": info["pagenum"]}
    if "nextPage" in info:
        namespaced_info["oslc:nextPage"] = {"rdf:resource": info["nextPage"]["href"]}
    if "totalCount" in info:
        namespaced_info["oslc:totalCount"], namespaced_info["oslc:totalPages"] = info["totalCount"], info["totalPages"]
    return {"rdfs:member": [member(row) for row in payload["member"]], "rdf:about": payload["href"],
            "oslc:responseInfo": namespaced_info}


def _encode(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON without padding, as Maximo sends it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _too_many(wait_s: float) -> Response:
    """What the API gateway in front of Maximo answers over its rate limit (IBM API Connect's body)."""
    body = {"httpCode": "429", "httpMessage": "Too Many Requests", "moreInformation": "Rate Limit exceeded"}
    return Response(_encode(body), 429, {"Retry-After": str(max(1, math.ceil(wait_s)))},
                    media_type="application/json")


_GATEWAY_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>IBM HTTP Server</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def _faulty(kind: str, answer: _Answer) -> Response:
    """The injected fault instead of ``answer`` (whose body the cut and dropped kinds use)."""
    if kind == "503":
        return Response(_GATEWAY_503, 503, media_type="text/html")
    if kind == "500":
        error = {"reasonCode": "BMXAA4214E", "message": "BMXAA4214E - An unknown error has occurred.",
                 "statusCode": "500", "extendedError": {"moreInfo": {}}}
        return Response(_encode({"Error": error}), 500, media_type="application/json")
    if kind == "truncated":
        return Response(answer.body[: len(answer.body) // 2], 200, media_type="application/json")
    if kind == "reset":
        return DroppedResponse(answer.body, answer.status, media_type="application/json")
    raise ValueError(f"unknown fault kind {kind!r}")


def serve(
    config: MaximoSimConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8766,
    stop_event: threading.Event | None = None,
) -> None:
    """Serve until interrupted (Ctrl+C) or until ``stop_event`` is set; for ``ic3 simulate maximo``.

    Logs one banner line with the URL, sizes and knobs, never the API key or password.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    simulator = MaximoSimulator(config)
    url = simulator.start(host, port, log_level="warning")
    knobs = simulator.config.public()
    logger.info(
        "Maximo simulator: sites %s, %d assets each, at %s (oslc/os/<name>, api/os/<name>; rate_limit=%s, "
        "latency_ms=%s, fault_rate=%s, max_page_size=%s, seed=%s); stats at %s/_sim/stats",
        ",".join(knobs["sites"]), knobs["assets_per_site"], url, knobs["rate_limit"], knobs["latency_ms"],
        knobs["fault_rate"], knobs["max_page_size"], knobs["seed"], url[: -len(CONTEXT_ROOT)],
    )
    waiter = stop_event or threading.Event()
    try:
        while not waiter.wait(0.5):
            pass
    except KeyboardInterrupt:
        logger.info("Maximo simulator stopping")
    finally:
        simulator.stop()
