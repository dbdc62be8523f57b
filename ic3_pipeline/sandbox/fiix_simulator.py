"""A loopback HTTP server that behaves like the Fiix CMMS API (FindRequest), with knobs for its bad days.

Test and demo equipment, built on ``record_api`` (request order, faults, stats and test controls are described
there). It follows ``shared/reference/other-cmms-apis.md`` on its own and never imports the product's connectors,
sync engine or components.

Every call is ``POST /api/?action=FindRequest&service=cmms&appKey=…&accessKey=…&timestamp=<ms>&signatureMethod=
HmacSHA256&signatureVersion=1`` with ``Content-Type: text/plain`` and ``Authorization`` = the lowercase hex
HMAC-SHA256, keyed with the secret key, of the URL without its scheme (``host:port/api/?action=…``, the query exactly as
sent). The base URL (``FIIX_BASE_URL``) is ``http://127.0.0.1:PORT``, the tenant's ``https://{tenant}.macmms.com``.

The body is a FindRequest: ``{"_maCn":"FindRequest","className":"WorkOrder","fields":"id, strCode","filters":
[{"ql":"intSiteID = ? AND intUpdated > ?","parameters":[1, 1700000000000]}],"orderBy":"id","startIndex":0,
"maxObjects":100}``. ``fields`` absent means every field; ``filters`` are ANDed, each ``ql`` a conjunction (``AND``)
of ``field op ?`` with ``=``, ``!=``, ``<>``, ``>``, ``>=``, ``<``, ``<=``, or ``field IN (?, ?)``; a filter may also
carry ``selectedSites`` (site ids), ``fullText`` (a substring of its ``fields``, default every ``str`` field) and a
``name`` (a label); ``dtm`` fields
compare as instants (parameters ``yyyy-MM-dd HH:mm:ss`` or ISO 8601), ``int`` fields as numbers. ``maxObjects`` above
``max_objects`` (100) is silently cut to it, so a client must page on ``totalObjects``, not on a short page.
The answer: ``{"_maCn":"FindResponse","objects":[{"className":"WorkOrder","id":…,…}],"totalObjects":N}``, ordered
by ``orderBy`` (``field [ASC|DESC]``; default ``id``).

Errors come in the body as Fiix's ``{"_maCn":"FindResponse","error":{"leg":…,"code":…,"message":…}}``:

- throttling (over the rate limit): HTTP **200**, ``code`` 1100 and ``"object":{"P_CLIENT_AUTO_RETRY_WAIT_ADVISORY_MS":
  ms}`` (the wait until the bucket has a token, or the ``advisory_ms`` knob), never a 429;
- refused credentials (unknown app/access key 1010, bad or missing signature 1011, timestamp more than
  ``max_clock_skew_s`` away 1012): HTTP 401; a bad request (not text/plain, not a FindRequest, unknown class, field or
  filter) 1020: HTTP 400 (codes other than 1100 are this simulator's own: the reference names none);
- injected faults: 503 an HTML gateway page, 500 the error body with code 500.

Classes and fields (dates ``yyyy-MM-dd HH:mm:ss`` in the tenant's time, here UTC; ``intUpdated`` epoch ms of the
last change; booleans 0/1):

- ``Asset``: ``id, strName, strCode`` (the asset code: the register's asset id when built from one), ``intAssetParentID,
  intAssetLocationID, intCategoryID, intSiteID, bolIsOnline, strMake, strModel, strSerialNumber, intUpdated``;
- ``WorkOrder``: ``id, strCode, strDescription, intWorkOrderStatusID`` (1 open, 2 in progress, 3 on hold,
  4 completed, 5 cancelled), ``intPriorityID`` (1 highest … 5 lowest), ``intMaintenanceTypeID`` (1 preventive,
  2 corrective, 3 emergency, 4 inspection, 5 other), ``intSiteID, strAssetIds`` (comma-separated asset ids, "" for
  none), ``intScheduledMaintenanceID, dtmDateCreated, dtmSuggestedCompletionDate, dtmDateCompleted,
  dtmDateLastModified, intUpdated``;
- ``ScheduledMaintenance``: ``id, strCode, strDescription, intAssetID, intSiteID, intRepeatIntervalDays, bolIsActive,
  dtmNextDueDate, dtmLastCompletedDate, dtmDateLastModified, intUpdated``.
Site ids are 1, 2, … in site order; category ids 1, 2, … in category-name order; location ids 100 + site id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ic3_pipeline.sandbox.cmms_records import Record
from ic3_pipeline.sandbox.record_api import (
    Answer,
    RecordApiConfig,
    RecordApiSimulator,
    json_answer,
    serve as serve_api,
)

API_PATH = "/api/"
THROTTLED = 1100
BAD_KEYS, BAD_SIGNATURE, STALE_TIMESTAMP, BAD_REQUEST = 1010, 1011, 1012, 1020
_CLASSES = {"Asset": "assets", "WorkOrder": "work_orders", "ScheduledMaintenance": "schedules"}
FIELDS: dict[str, tuple[str, ...]] = {
    "Asset": ("id", "strName", "strCode", "intAssetParentID", "intAssetLocationID", "intCategoryID", "intSiteID",
              "bolIsOnline", "strMake", "strModel", "strSerialNumber", "intUpdated"),
    "WorkOrder": ("id", "strCode", "strDescription", "intWorkOrderStatusID", "intPriorityID", "intMaintenanceTypeID",
                  "intSiteID", "strAssetIds", "intScheduledMaintenanceID", "dtmDateCreated",
                  "dtmSuggestedCompletionDate", "dtmDateCompleted", "dtmDateLastModified", "intUpdated"),
    "ScheduledMaintenance": ("id", "strCode", "strDescription", "intAssetID", "intSiteID", "intRepeatIntervalDays",
                             "bolIsActive", "dtmNextDueDate", "dtmLastCompletedDate", "dtmDateLastModified",
                             "intUpdated"),
}
STATUS_IDS = {"open": 1, "in_progress": 2, "on_hold": 3, "completed": 4, "cancelled": 5}
MAINTENANCE_TYPE_IDS = {"preventive": 1, "corrective": 2, "emergency": 3, "inspection": 4, "other": 5}
_REQUIRED_QUERY = ("action", "service", "appKey", "accessKey", "timestamp", "signatureMethod", "signatureVersion")
_CONDITION = re.compile(r"^\s*(\w+)\s*(?:(=|!=|<>|>=|<=|>|<)\s*\?|(IN)\s*\(\s*\?(?:\s*,\s*\?)*\s*\))\s*$",
                        re.IGNORECASE)
_GATEWAY_503 = ("<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service "
                "Temporarily Unavailable</h1></center></body></html>")


@dataclass
class FiixSimConfig(RecordApiConfig):
    """Fiix's own knobs besides the common ones (see ``RecordApiConfig``).

    ``max_objects``: the most objects one answer carries (larger ``maxObjects`` are cut to it).
    ``max_clock_skew_s``: how far the request's timestamp may be from the server's clock.
    ``advisory_ms``: the wait a throttled answer advises; None = until the bucket holds a token (at least 1 ms).
    """

    SECRETS: ClassVar[frozenset[str]] = frozenset({"app_key", "access_key", "secret_key"})

    app_key: str = "sim-app-key"
    access_key: str = "sim-access-key"
    secret_key: str = "sim-secret-key"
    max_objects: int = 100
    max_clock_skew_s: float = 300.0
    advisory_ms: int | None = None

    def problems(self) -> list[str]:
        problems = super().problems()
        if self.max_objects < 1 or self.max_clock_skew_s <= 0:
            problems.append("max_objects must be >= 1 and max_clock_skew_s > 0")
        if self.advisory_ms is not None and self.advisory_ms < 0:
            problems.append("advisory_ms must be >= 0 or None")
        return problems


def fiix_date(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def sign(secret_key: str, url_without_scheme: str) -> str:
    """Fiix's request signature: lowercase hex HMAC-SHA256 of the URL without its scheme."""
    return hmac.new(secret_key.encode(), url_without_scheme.encode(), hashlib.sha256).hexdigest()


class _RequestError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class FiixSimulator(RecordApiSimulator):
    """The simulated Fiix tenant, served on a loopback port (base URL ``http://127.0.0.1:PORT``)."""

    name = "Fiix simulator"
    config_class = FiixSimConfig

    def __init__(self, config: FiixSimConfig | None = None, *, register: dict[str, str] | None = None) -> None:
        super().__init__(config, register=register)
        categories = sorted({r["category"] for r in self.data.records("assets")})
        self.category_ids = {name: number for number, name in enumerate(categories, start=1)}

    # -- rendering -----------------------------------------------------------------------------------

    def render(self, collection: str, record: Record) -> dict[str, Any]:
        site_id = record["site_no"] + 1
        if collection == "assets":
            return {
                "className": "Asset", "id": record["id"], "strName": record["name"], "strCode": record["code"],
                "intAssetParentID": record["parent_id"], "intAssetLocationID": 100 + site_id,
                "intCategoryID": self.category_ids.get(record["category"]), "intSiteID": site_id,
                "bolIsOnline": 1 if record["active"] else 0, "strMake": record["make"], "strModel": record["model"],
                "strSerialNumber": record["serial_number"], "intUpdated": epoch_ms(record["updated_at"]),
            }
        if collection == "work_orders":
            return {
                "className": "WorkOrder", "id": record["id"], "strCode": f"WO{record['id']:06d}",
                "strDescription": record["title"], "intWorkOrderStatusID": STATUS_IDS[record["status"]],
                "intPriorityID": record["priority"], "intMaintenanceTypeID": MAINTENANCE_TYPE_IDS[record["work_type"]],
                "intSiteID": site_id, "strAssetIds": str(record["asset_id"]) if record["asset_id"] else "",
                "intScheduledMaintenanceID": record["schedule_id"], "dtmDateCreated": fiix_date(record["created_at"]),
                "dtmSuggestedCompletionDate": fiix_date(record["due_at"]),
                "dtmDateCompleted": fiix_date(record["completed_at"]),
                "dtmDateLastModified": fiix_date(record["updated_at"]), "intUpdated": epoch_ms(record["updated_at"]),
            }
        if collection == "schedules":
            return {
                "className": "ScheduledMaintenance", "id": record["id"], "strCode": f"SM{record['id']:05d}",
                "strDescription": record["title"], "intAssetID": record["asset_id"], "intSiteID": site_id,
                "intRepeatIntervalDays": record["interval_days"], "bolIsActive": 1 if record["active"] else 0,
                "dtmNextDueDate": fiix_date(record["next_due_at"]),
                "dtmLastCompletedDate": fiix_date(record["last_done_at"]),
                "dtmDateLastModified": fiix_date(record["updated_at"]), "intUpdated": epoch_ms(record["updated_at"]),
            }
        raise KeyError(collection)

    # -- HTTP ----------------------------------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        return [Route("/api/", self._handle, methods=["POST"]), Route("/api", self._handle, methods=["POST"])]

    def throttled(self, wait_s: float) -> Answer:
        advised = self._state.config.advisory_ms
        wait_ms = advised if advised is not None else max(1, int(wait_s * 1000 + 0.999))
        return json_answer(200, {"_maCn": "FindResponse", "error": {
            "leg": "SERVER_REQUEST_RECEIVE", "code": THROTTLED,
            "message": "Too many requests: the client should wait and retry.",
            "object": {"P_CLIENT_AUTO_RETRY_WAIT_ADVISORY_MS": wait_ms},
        }})

    def server_error(self, kind: str) -> Answer:
        if kind == "503":
            return Answer(503, _GATEWAY_503.encode(), media_type="text/html")
        return _error(500, 500, "SERVER_REQUEST_PROCESS", "An unexpected error occurred.")

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        try:
            find = json.loads(body) if body else None
        except ValueError:
            find = None
        class_name = find.get("className") if isinstance(find, dict) else None
        path_key = f"FindRequest:{class_name}" if isinstance(class_name, str) else "FindRequest"
        return await self.serve_request(request, path_key, f"{request.url.path} {body.decode('utf-8', 'replace')}",
                                        lambda: self._refusal(request), lambda: self._find(request, find))

    def _refusal(self, request: Request) -> Answer | None:
        """Keys, timestamp and signature, as the Fiix API checks them before reading the body."""
        config = self._state.config
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        query = {k: v[0] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        missing = [name for name in _REQUIRED_QUERY if name not in query]
        if missing:
            return _error(401, BAD_KEYS, "SERVER_REQUEST_RECEIVE", f"Missing request parameters: {', '.join(missing)}")
        if not (hmac.compare_digest(query["appKey"].encode(), config.app_key.encode())
                and hmac.compare_digest(query["accessKey"].encode(), config.access_key.encode())):
            return _error(401, BAD_KEYS, "SERVER_REQUEST_RECEIVE", "Unknown application or access key.")
        if query["signatureMethod"] != "HmacSHA256" or query["signatureVersion"] != "1":
            return _error(401, BAD_SIGNATURE, "SERVER_REQUEST_RECEIVE",
                          "Unsupported signature method: use HmacSHA256, version 1.")
        try:
            stamp_ms = int(query["timestamp"])
        except ValueError:
            stamp_ms = None
        if stamp_ms is None or abs(time.time() * 1000 - stamp_ms) > config.max_clock_skew_s * 1000:
            return _error(401, STALE_TIMESTAMP, "SERVER_REQUEST_RECEIVE",
                          "The request timestamp is missing or too far from the server time.")
        signed = f"{request.headers.get('host', '')}{request.url.path}?{raw_query}"
        supplied = request.headers.get("authorization", "")
        if not hmac.compare_digest(supplied.encode(), sign(config.secret_key, signed).encode()):
            return _error(401, BAD_SIGNATURE, "SERVER_REQUEST_RECEIVE", "The request signature is not valid.")
        return None

    def _find(self, request: Request, find: Any) -> Answer:
        try:
            if not request.headers.get("content-type", "").lower().startswith("text/plain"):
                raise _RequestError(BAD_REQUEST, "Content-Type must be text/plain.")
            if request.query_params.get("action") != "FindRequest" or request.query_params.get("service") != "cmms":
                raise _RequestError(BAD_REQUEST, "Only action=FindRequest on service=cmms is supported.")
            if not isinstance(find, dict) or find.get("_maCn") != "FindRequest":
                raise _RequestError(BAD_REQUEST, "The body must be a JSON FindRequest (\"_maCn\":\"FindRequest\").")
            return json_answer(200, self._objects(find))
        except _RequestError as error:
            return _error(400, error.code, "SERVER_REQUEST_PROCESS", str(error))

    def _objects(self, find: dict[str, Any]) -> dict[str, Any]:
        class_name = find.get("className")
        if class_name not in _CLASSES:
            raise _RequestError(BAD_REQUEST, f"Unknown className {class_name!r}; known: {sorted(_CLASSES)}.")
        known = FIELDS[class_name]
        fields = _fields(find.get("fields"), known)
        unknown_keys = sorted(set(find) - {"_maCn", "className", "fields", "filters", "orderBy", "startIndex",
                                           "maxObjects"})
        if unknown_keys:
            raise _RequestError(BAD_REQUEST, f"Unsupported FindRequest keys {unknown_keys}.")
        tests = [test for spec in find.get("filters") or [] for test in _filter(spec, known)]
        start = _non_negative(find.get("startIndex", 0), "startIndex")
        limit = min(_non_negative(find.get("maxObjects", self._state.config.max_objects), "maxObjects"),
                    self._state.config.max_objects)
        collection = _CLASSES[class_name]
        rows = [rendering for _, rendering in self.rendered(collection)]
        matching = [row for row in rows if all(test(row) for test in tests)]
        _order(matching, find.get("orderBy"), known)
        page = matching[start: start + limit]
        return {"_maCn": "FindResponse",
                "objects": [{"className": class_name, **{f: row[f] for f in fields}} for row in page],
                "totalObjects": len(matching)}


def _error(status: int, code: int, leg: str, message: str) -> Answer:
    return json_answer(status, {"_maCn": "FindResponse", "error": {"leg": leg, "code": code, "message": message}})


def _fields(raw: Any, known: tuple[str, ...]) -> list[str]:
    if raw is None or (isinstance(raw, str) and raw.strip() in ("", "*")):
        return list(known)
    if not isinstance(raw, str):
        raise _RequestError(BAD_REQUEST, "fields must be a comma-separated string.")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise _RequestError(BAD_REQUEST, f"Unknown fields {unknown}.")
    return ["id"] + [name for name in names if name != "id"]


def _non_negative(raw: Any, name: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise _RequestError(BAD_REQUEST, f"{name} must be a non-negative integer, got {raw!r}.")
    return raw


def _comparable(field: str, value: Any) -> Any:
    """A field's or a parameter's value in the order Fiix compares it: instants for ``dtm``, numbers for the rest."""
    if value is None:
        return None
    if field.startswith("dtm"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, timezone.utc)
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise _RequestError(BAD_REQUEST, f"{value!r} is not a date for {field}.") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    if field.startswith(("int", "bol")) or field == "id":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _RequestError(BAD_REQUEST, f"{value!r} is not a number for {field}.") from None
    return str(value)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<>": lambda a, b: a != b,
    ">": lambda a, b: a is not None and a > b, ">=": lambda a, b: a is not None and a >= b,
    "<": lambda a, b: a is not None and a < b, "<=": lambda a, b: a is not None and a <= b,
}


def _filter(spec: Any, known: tuple[str, ...]) -> list[Callable[[dict[str, Any]], bool]]:
    """One filter object -> one test per ``AND``-ed condition, parameters consumed left to right."""
    if not isinstance(spec, dict):
        raise _RequestError(BAD_REQUEST, "Each filter must be an object.")
    unsupported = sorted(set(spec) - {"ql", "parameters", "name", "fullText", "fields", "selectedSites"})
    if unsupported:
        raise _RequestError(BAD_REQUEST, f"Unsupported filter keys {unsupported}.")
    tests = _text_and_site_tests(spec, known)
    if spec.get("ql") is None:
        if spec.get("parameters"):
            raise _RequestError(BAD_REQUEST, "A filter with parameters needs a ql string.")
        return tests
    if not isinstance(spec["ql"], str):
        raise _RequestError(BAD_REQUEST, "ql must be a string.")
    parameters = list(spec.get("parameters") or [])
    for condition in re.split(r"\s+AND\s+", spec["ql"].strip(), flags=re.IGNORECASE):
        match = _CONDITION.match(condition)
        if match is None:
            raise _RequestError(BAD_REQUEST, f"Cannot parse filter condition {condition!r}.")
        field, op, is_in = match.group(1), match.group(2), match.group(3)
        if field not in known:
            raise _RequestError(BAD_REQUEST, f"Unknown field {field!r} in filter.")
        wanted = condition.count("?")
        if len(parameters) < wanted:
            raise _RequestError(BAD_REQUEST, f"Filter {spec['ql']!r} has more ? than parameters.")
        values = [_comparable(field, p) for p in parameters[:wanted]]
        parameters = parameters[wanted:]
        if is_in:
            tests.append(lambda row, f=field, vs=values: _comparable(f, row[f]) in vs)
        else:
            tests.append(lambda row, f=field, o=_OPS[op], v=values[0]: o(_comparable(f, row[f]), v))
    if parameters:
        raise _RequestError(BAD_REQUEST, f"Filter {spec['ql']!r} has more parameters than ?.")
    return tests


def _text_and_site_tests(spec: dict[str, Any], known: tuple[str, ...]) -> list[Callable[[dict[str, Any]], bool]]:
    """``fullText`` (case-insensitive substring of the ``fields`` named, default every ``str`` field) and
    ``selectedSites`` (site ids the object's ``intSiteID`` must be among); ``name`` only labels a filter."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    text = spec.get("fullText")
    if text is not None:
        if not isinstance(text, str):
            raise _RequestError(BAD_REQUEST, "fullText must be a string.")
        fields = _fields(spec.get("fields"), known) if spec.get("fields") else [f for f in known if f.startswith("str")]
        searched = [f for f in fields if f.startswith("str")]
        needle = text.lower()
        tests.append(lambda row, fs=searched: any(needle in (row[f] or "").lower() for f in fs))
    sites = spec.get("selectedSites")
    if sites is not None:
        if "intSiteID" not in known or not isinstance(sites, list) or not all(
                isinstance(site, int) and not isinstance(site, bool) for site in sites):
            raise _RequestError(BAD_REQUEST, "selectedSites must be a list of site ids, on a class with intSiteID.")
        tests.append(lambda row, chosen=frozenset(sites): row["intSiteID"] in chosen)
    return tests


def _order(rows: list[dict[str, Any]], raw: Any, known: tuple[str, ...]) -> None:
    if raw is None or raw == "":
        return  # already in id order
    terms = [term.split() for term in str(raw).split(",")]
    for term in reversed(terms):
        if not 1 <= len(term) <= 2 or term[0] not in known or (len(term) == 2 and term[1].upper() not in ("ASC",
                                                                                                           "DESC")):
            raise _RequestError(BAD_REQUEST, f"Cannot order by {raw!r}.")
        rows.sort(key=lambda row, f=term[0]: (row[f] is not None, _comparable(f, row[f]) if row[f] is not None else 0),
                  reverse=len(term) == 2 and term[1].upper() == "DESC")


def serve(config: FiixSimConfig | None = None, *, register: dict[str, str] | None = None, host: str = "127.0.0.1",
          port: int = 8768, stop_event: threading.Event | None = None) -> None:
    """Serve until interrupted; for ``ic3 simulate fiix`` (the banner names no key)."""
    simulator = FiixSimulator(config, register=register)
    serve_api(simulator, host=host, port=port, stop_event=stop_event, banner=(
        "Fiix simulator at {url} (POST /api/?action=FindRequest… on Asset, WorkOrder, ScheduledMaintenance; sites "
        "{sites}, rate_limit={rate_limit}, latency_ms={latency_ms}, fault_rate={fault_rate}, "
        "max_objects={max_objects}, seed={seed})"))
