"""A loopback HTTP server that behaves like SAP S/4HANA PM's OData V2 APIs, with knobs for its bad days.

Test and demo equipment, built on ``record_api`` (request order, faults, stats and test controls are described
there) and ``sap_odata`` (the query options). It follows ``shared/reference/other-cmms-apis.md`` on its own and never
imports the product's connectors, sync engine or components. The base URL (``SAP_PM_BASE_URL``) is
``http://127.0.0.1:PORT``; the services live under ``/sap/opu/odata/sap/``:

- ``API_EQUIPMENT/Equipment`` (assets; key ``Equipment`` + ``ValidityEndDate``),
- ``API_MAINTENANCEORDER;v=2/MaintenanceOrder`` (work orders; ``Equipment`` names the asset),
- ``API_MAINTENANCEPLAN/MaintenancePlan`` (PM schedules: the simulator's choice of service and fields for maintenance
  plans, which the reference does not describe).

HTTP basic auth (``user``/``password``); refused -> 401 with ``WWW-Authenticate: Basic`` and SAP's HTML logon-error
page, as the ICF answers before OData is reached. JSON only: ``$format=json`` or ``Accept: application/json`` (else
406 in the error envelope — a real Gateway would answer Atom XML). Answers ``{"d":{"results":[…],"__next":"…",
"__count":"N"}}``; every record carries ``__metadata`` (``id``, ``uri``, ``type``).

Paging is server-driven: a page holds at most ``default_page_size`` (100) rows without ``$top`` and
``max_page_size`` (5,000) with it; with ``uneven_pages`` (default on) a page may be cut to as little as half that, so
**a page may hold fewer rows than ``$top`` while more remain**; then ``__next`` is the absolute URL of the rest,
the original query plus an opaque ``$skiptoken`` (a bad one is a 400). ``$skip``/``$top`` delimit the whole read.
``$inlinecount=allpages`` adds ``__count`` (a string, matching rows before ``$skip``/``$top``). ``$filter`` (see
``sap_odata``: ``LastChangeDateTime ge datetimeoffset'2025-03-01T13:00:00Z'``, ``MaintenancePlant eq '1010'``,
joined by ``and``), ``$select``, ``$orderby`` (default: the key).

Dates: Edm.DateTime as ``/Date(ms)/``, Edm.DateTimeOffset as ``/Date(ms+0000)/``, written ``\\/Date(…)\\/`` in the
JSON text as SAP does (a JSON parser reads ``/Date(…)/``). Errors use the OData envelope ``{"error":{"code":…,
"message":{"lang":"en","value":…},"innererror":{…}}}``: 400 bad query option, 404 unknown service or entity set,
429 over the rate limit (with ``Retry-After``), 500 injected; an injected 503 is SAP Web Dispatcher's HTML page.

Values: ``Equipment`` 10000001…, plants ``1010``, ``1020``, … by site (``MaintenancePlant`` on equipment and orders,
``MaintenancePlanningPlant`` on plans); ``TechnicalObjectSortField`` holds the asset code (the register's asset id when
built from one), ``SerialNumber`` the serial number; orders: ``MaintenanceOrderType`` PM01 corrective, PM02
preventive, PM03 emergency, PM04 inspection, PM05 other; ``MaintPriority`` "1" very high … "4" low;
``MaintOrderSystemStatus`` CRTD open, REL in progress, TECO completed, DLFL cancelled (SAP has no on-hold state);
``TechnicalCompletionDateTime`` (Edm.DateTime). With ``deletion_flag``, deleting equipment sets
``EquipmentIsMarkedForDeletion`` and moves ``LastChangeDateTime`` instead of removing it. Plans: ``CycleLength`` (Edm.Decimal, a string, in days) with
``CycleUnit`` "DAY", ``NextPlannedDate`` / ``LastCallDate`` (Edm.DateTime), ``MaintenancePlanIsInactive``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ic3_pipeline.sandbox.cmms_records import Record
from ic3_pipeline.sandbox.innomaint_data import stable_int
from ic3_pipeline.sandbox.record_api import (
    Answer,
    RecordApiConfig,
    RecordApiSimulator,
    retry_after,
    serve as serve_api,
)
from ic3_pipeline.sandbox.sap_odata import (
    EDM_BOOLEAN as B,
    EDM_DATETIME as DT,
    EDM_DATETIMEOFFSET as DTO,
    EDM_STRING as S,
    ODataQueryError,
    parse_filter,
    parse_orderby,
    parse_select,
    to_json,
)

ROOT = "/sap/opu/odata/sap"
_EDM_DECIMAL = "Edm.Decimal"
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=timezone.utc)


@dataclass(frozen=True)
class EntitySet:
    service: str
    name: str
    collection: str
    type_name: str
    keys: tuple[str, ...]
    schema: dict[str, str]  # property -> Edm type, in answer order
    component: str


ENTITY_SETS: dict[tuple[str, str], EntitySet] = {(e.service, e.name): e for e in (
    EntitySet("API_EQUIPMENT", "Equipment", "assets", "API_EQUIPMENT.A_EquipmentType", ("Equipment", "ValidityEndDate"),
              {"Equipment": S, "ValidityEndDate": DT, "EquipmentName": S, "EquipmentCategory": S,
               "TechnicalObjectType": S, "MaintenancePlant": S, "FunctionalLocation": S,
               "SuperordinateEquipment": S, "SerialNumber": S, "TechnicalObjectSortField": S,
               "AssetManufacturerName": S, "ManufacturerPartTypeName": S, "CreationDate": DT,
               "LastChangeDateTime": DTO, "EquipmentIsMarkedForDeletion": B, "EquipmentIsInactive": B},
              "PM-EQM-EQ"),
    EntitySet("API_MAINTENANCEORDER;v=2", "MaintenanceOrder", "work_orders",
              "API_MAINTENANCEORDER.A_MaintenanceOrderType", ("MaintenanceOrder",),
              {"MaintenanceOrder": S, "MaintenanceOrderType": S, "MaintenanceOrderDesc": S,
               "MaintOrderSystemStatus": S, "MaintPriority": S, "MaintenanceActivityType": S, "Equipment": S,
               "FunctionalLocation": S, "MaintenancePlant": S, "MainWorkCenter": S, "MaintenanceNotification": S,
               "MaintenancePlan": S, "MaintOrderCreationDateTime": DTO, "MaintOrdBasicStartDateTime": DTO,
               "MaintOrdBasicEndDateTime": DTO, "TechnicalCompletionDateTime": DT, "LastChangeDateTime": DTO},
              "PM-WOC-MO"),
    EntitySet("API_MAINTENANCEPLAN", "MaintenancePlan", "schedules", "API_MAINTENANCEPLAN.A_MaintenancePlanType",
              ("MaintenancePlan",),
              {"MaintenancePlan": S, "MaintenancePlanDesc": S, "MaintenancePlanCategory": S, "Equipment": S,
               "FunctionalLocation": S, "MaintenancePlanningPlant": S, "CycleLength": _EDM_DECIMAL, "CycleUnit": S,
               "NextPlannedDate": DT, "LastCallDate": DT, "MaintenancePlanIsInactive": B,
               "LastChangeDateTime": DTO},
              "PM-PRM-MP"),
)}
_BY_COLLECTION = {e.collection: e for e in ENTITY_SETS.values()}
_ORDER_TYPE = {"corrective": "PM01", "preventive": "PM02", "emergency": "PM03", "inspection": "PM04", "other": "PM05"}
_ACTIVITY = {"corrective": "003", "preventive": "002", "emergency": "004", "inspection": "001", "other": "005"}
_SYSTEM_STATUS = {"open": "CRTD", "in_progress": "REL", "completed": "TECO", "cancelled": "DLFL"}
_WORK_CENTERS = ("MECH-01", "ELEC-01", "HVAC-01", "INSP-01")
_LOGON_ERROR = (
    "<html><head><title>Logon Error Message</title></head><body><h1>Logon failed</h1>"
    "<p>Logon failed. Check your user name and password.</p></body></html>"
)
_DISPATCHER_503 = (
    "<html><head><title>Service Unavailable</title></head><body><h2>503 Service Unavailable</h2>"
    "<p>SAP Web Dispatcher: no server is available to handle this request.</p></body></html>"
)


@dataclass
class SapPmSimConfig(RecordApiConfig):
    """SAP PM's own knobs besides the common ones (see ``RecordApiConfig``): basic-auth user and password, the
    server's page sizes without and with ``$top``, and whether pages may come out shorter than that.

    ``deletion_flag``: deleting equipment sets ``EquipmentIsMarkedForDeletion`` (and moves ``LastChangeDateTime``)
    instead of removing it, as SAP does; other records are still removed."""

    SECRETS: ClassVar[frozenset[str]] = frozenset({"user", "password"})

    user: str = "SIM_USER"
    password: str = "sim-password"
    default_page_size: int = 100
    max_page_size: int = 5000
    uneven_pages: bool = True
    deletion_flag: bool = False

    def problems(self) -> list[str]:
        problems = super().problems()
        if not 1 <= self.default_page_size <= self.max_page_size:
            problems.append("default_page_size must be within [1, max_page_size]")
        return problems


def plant(site_no: int) -> str:
    return str(1010 + 10 * site_no)


class SapPmSimulator(RecordApiSimulator):
    """The simulated SAP Gateway with the three PM services, served on a loopback port."""

    name = "SAP PM simulator"
    config_class = SapPmSimConfig
    work_statuses = ("open", "in_progress", "completed", "cancelled")
    priorities = (1, 2, 3, 4)

    def __init__(self, config: SapPmSimConfig | None = None, *, register: dict[str, str] | None = None) -> None:
        super().__init__(config, register=register)
        self._token_salt = f"{stable_int(self.data.seed, 'skiptoken') % 16**8:08x}"  # deterministic page sizes
        self._values: dict[str, tuple[int, list[tuple[dict[str, Any], Record]]]] = {}
        self._results: OrderedDict[tuple[str, str, str], tuple[int, list[Record]]] = OrderedDict()

    def delete(self, collection: str, ids: list[int] | None = None, count: int | None = None) -> list[int]:
        """Remove records, or with ``deletion_flag`` mark equipment for deletion (it stays in the answers)."""
        if collection == "assets" and self._state.config.deletion_flag:
            return self.data.mark_deleted(collection, ids, count)
        return super().delete(collection, ids, count)

    # -- rendering -----------------------------------------------------------------------------------

    def equipment(self, asset_id: int | None) -> str:
        return "" if asset_id is None else str(10000000 + asset_id)

    def values(self, collection: str, record: Record) -> dict[str, Any]:
        """A record's properties as Python values (what ``$filter`` and ``$orderby`` compare)."""
        werks = plant(record["site_no"])
        if collection == "assets":
            return {
                "Equipment": self.equipment(record["id"]), "ValidityEndDate": _END_OF_TIME,
                "EquipmentName": record["name"][:40], "EquipmentCategory": "M",
                "TechnicalObjectType": record["category"].upper()[:10], "MaintenancePlant": werks,
                "FunctionalLocation": f"{werks}-PLANT", "SuperordinateEquipment": "",
                "SerialNumber": record["serial_number"], "TechnicalObjectSortField": record["code"],
                "AssetManufacturerName": record["make"], "ManufacturerPartTypeName": record["model"],
                "CreationDate": record["created_at"].replace(hour=0, minute=0, second=0),
                "LastChangeDateTime": record["updated_at"], "EquipmentIsMarkedForDeletion": record["marked_deleted"],
                "EquipmentIsInactive": not record["active"],
            }
        if collection == "work_orders":
            return {
                "MaintenanceOrder": str(4000000 + record["id"]), "MaintenanceOrderType": _ORDER_TYPE[record["work_type"]],
                "MaintenanceOrderDesc": record["title"][:40],
                "MaintOrderSystemStatus": _SYSTEM_STATUS[record["status"]], "MaintPriority": str(record["priority"]),
                "MaintenanceActivityType": _ACTIVITY[record["work_type"]],
                "Equipment": self.equipment(record["asset_id"]), "FunctionalLocation": f"{werks}-PLANT",
                "MaintenancePlant": werks,
                "MainWorkCenter": _WORK_CENTERS[stable_int(self.data.seed, "wc", record["id"]) % len(_WORK_CENTERS)],
                "MaintenanceNotification": "" if record["work_type"] == "preventive" else str(10000000 + record["id"]),
                "MaintenancePlan": "" if record["schedule_id"] is None else str(1000000 + record["schedule_id"]),
                "MaintOrderCreationDateTime": record["created_at"], "MaintOrdBasicStartDateTime": record["created_at"],
                "MaintOrdBasicEndDateTime": record["due_at"], "TechnicalCompletionDateTime": record["completed_at"],
                "LastChangeDateTime": record["updated_at"],
            }
        if collection == "schedules":
            return {
                "MaintenancePlan": str(1000000 + record["id"]), "MaintenancePlanDesc": record["title"][:40],
                "MaintenancePlanCategory": "PM", "Equipment": self.equipment(record["asset_id"]),
                "FunctionalLocation": f"{werks}-PLANT", "MaintenancePlanningPlant": werks,
                "CycleLength": str(record["interval_days"]), "CycleUnit": "DAY",
                "NextPlannedDate": record["next_due_at"], "LastCallDate": record["last_done_at"],
                "MaintenancePlanIsInactive": not record["active"], "LastChangeDateTime": record["updated_at"],
            }
        raise KeyError(collection)

    def render(self, collection: str, record: Record, select: list[str] | None = None,
               base_url: str | None = None) -> dict[str, Any]:
        entity = _BY_COLLECTION[collection]
        values = self.values(collection, record)
        uri = f"{base_url or self.base_url}{ROOT}/{entity.service}/{entity.name}({_key_predicate(entity, values)})"
        rendered: dict[str, Any] = {"__metadata": {"id": uri, "uri": uri, "type": entity.type_name}}
        for prop in select or entity.schema:
            rendered[prop] = to_json(values[prop], entity.schema[prop])
        return rendered

    # -- HTTP ----------------------------------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        return [Route(ROOT + "/{service}/{entity_set}", self._handle, methods=["GET"])]

    def throttled(self, wait_s: float) -> Answer:
        return _odata_error(429, "/IWFND/CM_CONSUMER/429", "Too many requests: the rate limit is exceeded.",
                            "API_EQUIPMENT", {"Retry-After": retry_after(wait_s)})

    def server_error(self, kind: str) -> Answer:
        if kind == "503":
            return Answer(503, _DISPATCHER_503.encode(), media_type="text/html")
        return _odata_error(500, "/IWBEP/CM_MGW_RT/004", "Internal error in the backend system.", "API_EQUIPMENT")

    async def _handle(self, request: Request) -> Response:
        service, entity_name = request.path_params["service"], request.path_params["entity_set"]
        return await self.serve_request(
            request, f"{service}/{entity_name}", f"{request.url.path}?{request.url.query}",
            lambda: self._refusal(request), lambda: self._collection(request, service, entity_name))

    def _refusal(self, request: Request) -> Answer | None:
        config = self._state.config
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        if scheme.lower() == "basic" and hmac.compare_digest(user.encode(), config.user.encode()) \
                and hmac.compare_digest(password.encode(), config.password.encode()):
            return None
        return Answer(401, _LOGON_ERROR.encode(), {
            "WWW-Authenticate": 'Basic realm="SAP NetWeaver Application Server [S4H/100]"'}, media_type="text/html")

    def _collection(self, request: Request, service: str, entity_name: str) -> Answer:
        entity = ENTITY_SETS.get((service, entity_name))
        if entity is None:
            return _odata_error(404, "/IWFND/MED/170",
                                f"No service found for namespace '/SAP/', name '{service}', version '0001'"
                                if not any(s == service for s, _ in ENTITY_SETS)
                                else f"Resource not found for segment '{entity_name}'", service)
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        params = dict(pairs)
        wants_json = params.get("$format") == "json" or (
            "$format" not in params and "application/json" in request.headers.get("accept", ""))
        if not wants_json:
            return _odata_error(406, "/IWBEP/CM_MGW_RT/026", "The simulator answers JSON only: send $format=json "
                                "or Accept: application/json", service)
        try:
            page = self._page(request, entity, pairs, params)
        except ODataQueryError as error:
            return _odata_error(400, "/IWBEP/CM_MGW_RT/022", str(error), service)
        return Answer(200, _encode(page))

    def _page(self, request: Request, entity: EntitySet, pairs: list[tuple[str, str]],
              params: dict[str, str]) -> dict[str, Any]:
        config = self._state.config
        tests = parse_filter(params.get("$filter"), entity.schema)
        select = parse_select(params.get("$select"), entity.schema)
        order = parse_orderby(params.get("$orderby"), entity.schema) or [(k, False) for k in entity.keys]
        skip, top = _count_option(params, "$skip"), _count_option(params, "$top")
        if params.get("$inlinecount") not in (None, "allpages", "none"):
            raise ODataQueryError(f"Invalid system query option $inlinecount={params['$inlinecount']}")
        ordered = self._matching(entity, params, tests, order)
        window_end = len(ordered) if top is None else min(len(ordered), (skip or 0) + top)
        start = self._token_offset(params.get("$skiptoken"), skip or 0, window_end)
        capacity = config.max_page_size if top is not None else config.default_page_size
        if config.uneven_pages and capacity > 1:
            capacity -= stable_int(config.seed, "page", entity.name, request.url.query, start) % (capacity // 2 + 1)
        end = min(window_end, start + capacity)
        base = str(request.base_url).rstrip("/")
        body: dict[str, Any] = {"results": [self.render(entity.collection, record, select, base)
                                            for record in ordered[start:end]]}
        if params.get("$inlinecount") == "allpages":
            body["__count"] = str(len(ordered))
        if end < window_end:
            kept = [(k, v) for k, v in pairs if k != "$skiptoken"] + [("$skiptoken", self._token(end))]
            query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=',:$')}" for k, v in kept)
            body["__next"] = f"{base}{ROOT}/{entity.service}/{entity.name}?{query}"
        return {"d": body}

    def _matching(self, entity: EntitySet, params: dict[str, str], tests: list[Callable[[dict[str, Any]], bool]],
                  order: list[tuple[str, bool]]) -> list[Record]:
        """The records matching ``$filter`` in ``$orderby`` order, on the current data.

        Kept per (query, dataset version) for the next pages of the same read: any change or delete makes a new
        version, so a page never comes from stale data, and a read of N pages costs one filter and sort, not N.
        """
        version = self.data.snapshot(entity.collection)[0]
        cache_key = (entity.collection, params.get("$filter", ""), params.get("$orderby", ""))
        cached = self._results.get(cache_key)
        if cached is not None and cached[0] == version:
            self._results.move_to_end(cache_key)
            return cached[1]
        rows = [(values, record) for values, record in self._current_values(entity.collection)
                if all(test(values) for test in tests)]
        if order != [(key, False) for key in entity.keys]:  # records already come in key (= id) order
            for prop, descending in reversed(order):
                rows.sort(key=lambda pair, p=prop: (pair[0][p] is not None,
                                                    pair[0][p] if pair[0][p] is not None else 0), reverse=descending)
        ordered = [record for _, record in rows]
        self._results[cache_key] = (version, ordered)
        while len(self._results) > 32:
            self._results.popitem(last=False)
        return ordered

    def _current_values(self, collection: str) -> list[tuple[dict[str, Any], Record]]:
        """Every record with its property values, kept per dataset version (a long read costs one pass per page,
        not one conversion per record per page). Only the server thread calls this."""
        version, records = self.data.snapshot(collection)
        cached = self._values.get(collection)
        if cached is None or cached[0] != version:
            cached = (version, [(self.values(collection, record), record) for record in records])
            self._values[collection] = cached
        return cached[1]

    def _token(self, offset: int) -> str:
        """Opaque to clients: the offset, salted per seed."""
        return base64.urlsafe_b64encode(f"{self._token_salt}:{offset}".encode()).decode().rstrip("=")

    def _token_offset(self, token: str | None, first: int, window_end: int) -> int:
        if token is None:
            return first
        try:
            salt, _, offset = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
            value = int(offset)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            salt, value = "", -1
        if salt != self._token_salt or not first <= value <= window_end:
            raise ODataQueryError(f"Invalid $skiptoken '{token}'")
        return value


def _count_option(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise ODataQueryError(f"Invalid value '{raw}' of system query option {name}")
    return int(raw)


def _key_predicate(entity: EntitySet, values: dict[str, Any]) -> str:
    parts = []
    for key in entity.keys:
        value = values[key]
        if isinstance(value, datetime):
            literal = "datetime'" + quote(value.strftime("%Y-%m-%dT%H:%M:%S"), safe="") + "'"
        else:
            literal = f"'{value}'"
        parts.append(f"{key}={literal}" if len(entity.keys) > 1 else literal)
    return ",".join(parts)


def _encode(payload: Any) -> bytes:
    """JSON as SAP Gateway writes it: ``\\/Date(…)\\/`` with escaped slashes."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.replace('"/Date(', '"\\/Date(').replace(')/"', ')\\/"').encode("utf-8")


def _odata_error(status: int, code: str, message: str, service: str,
                 headers: dict[str, str] | None = None) -> Answer:
    stamp = datetime.now(timezone.utc)
    envelope = {"error": {
        "code": code, "message": {"lang": "en", "value": message},
        "innererror": {
            "application": {"component_id": "PM", "service_namespace": "/SAP/", "service_id": service.split(";")[0],
                            "service_version": "0001"},
            "transactionid": secrets.token_hex(16).upper(),
            "timestamp": stamp.strftime("%Y%m%d%H%M%S.") + f"{stamp.microsecond:06d}0",
            "Error_Resolution": {"SAP_Transaction": "For backend administrators: use ADT feed reader "
                                 "\"SAP Gateway Error Log\" or run transaction /IWFND/ERROR_LOG on SAP Gateway hub "
                                 "system and search for entries with the timestamp above for more details",
                                 "SAP_Note": "See SAP Note 1797736 for error analysis "
                                 "(https://service.sap.com/sap/support/notes/1797736)"},
            "errordetails": [],
        },
    }}
    return Answer(status, _encode(envelope), headers or {})


def serve(config: SapPmSimConfig | None = None, *, register: dict[str, str] | None = None, host: str = "127.0.0.1",
          port: int = 8769, stop_event: threading.Event | None = None) -> None:
    """Serve until interrupted; for ``ic3 simulate sap_pm`` (the banner names no credential)."""
    simulator = SapPmSimulator(config, register=register)
    serve_api(simulator, host=host, port=port, stop_event=stop_event, banner=(
        "SAP PM simulator at {url} (" + ROOT + "/API_EQUIPMENT/Equipment, API_MAINTENANCEORDER;v=2/MaintenanceOrder, "
        "API_MAINTENANCEPLAN/MaintenancePlan; sites {sites}, rate_limit={rate_limit}, latency_ms={latency_ms}, "
        "fault_rate={fault_rate}, default_page_size={default_page_size}, uneven_pages={uneven_pages}, seed={seed})"))
