"""Deterministic Innomaint asset records for the simulator.

Built from the reference shapes in ``shared/reference/innomaint-api.md`` alone: nothing here may import
the product's Innomaint client or parsers, or a bug shared by both would hide itself.

Every value is a pure function of (seed, asset id, the asset's site and the register's set of ids), so two
simulators given the same inputs answer byte-identical bodies. The records are realistic (performance
figures are mutually consistent: ``mttr = breakdown / tickets``, ``mtbf = (actual - breakdown) / tickets``)
and as nasty as the reference warns: durations past 24 hours, ``"0"``/``""``/null durations, numbers sent
as strings, optional keys missing, MySQL-style zero dates.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: Fixed "now" of the simulated CMMS. Using the wall clock would break byte-identical bodies.
AS_OF = datetime(2026, 3, 19, 4, 21, 46, tzinfo=timezone.utc)

_CREATED_FROM = datetime(2019, 1, 1, tzinfo=timezone.utc)
_CREATED_SPAN_S = int((datetime(2025, 12, 31, tzinfo=timezone.utc) - _CREATED_FROM).total_seconds())

_CUSTOMERS = (
    "DJB Khyala", "DJB Dwarka", "DJB Rohini", "JWIL Delhi", "NDMC Water Works", "Jal Board North",
    "Jal Board South", "PHED Jaipur", "BWSSB East", "Metro Water Chennai", "HMWSSB Zone 3", "PMC Pune",
)
_FLOOR_NAMES = ("UGR", "Ground Floor", "Pump House", "First Floor", "Basement", "Terrace", "OHT", "Panel Room")
_DEPARTMENT_NAMES = ("Working", "Standby", "Electrical", "Mechanical", "Operations", "Civil", "Instrumentation")
_EQUIPMENT = (
    ("LT-Panel", ("NA", "L&T ML-400", "Siemens SIVACON")),
    ("Pump", ("NA", "KSB Omega 150", "Kirloskar DB 125")),
    ("Motor", ("NA", "ABB M3BP", "Crompton ND-90")),
    ("Chiller", ("Carrier 30XA", "Trane RTAC")),
    ("DG Set", ("Cummins C500", "Kirloskar KG1")),
    ("Transformer", ("NA", "Voltamp 1000KVA")),
    ("VFD", ("Danfoss FC-202", "ABB ACS580")),
    ("Borewell Pump", ("NA", "Texmo DM-10")),
)
_CAPACITIES = ("90KW", "45KW", "15 HP", "7.5HP", "250KVA", "1000 KVA", "500 LPM", "NA", "")
_CRITICALITY = (("High", "Critical"), ("Medium", "Semi-Critical"), ("Low", "Non-Critical"))
_IN_CHARGE = ("JWIL", "L&T O&M", "Site Engineer", "R. Sharma", "A. Khan")
_MAPPING_STATUSES = ("Mapped", "Unmapped", "Pending")
_TRACEABILITY_STATUSES = ("Active", "Inactive")


def stable_int(*parts: object) -> int:
    """A 64-bit integer from ``parts`` that is the same in every process (``hash()`` is salted per process).

    ``surrogatepass`` because asset ids arrive from JSON and may hold lone surrogates.
    """
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) from ``parts``: the deterministic coin behind missing ids and injected faults."""
    return stable_int(*parts) / 2**64


def default_site(asset_id: str) -> str:
    """The site an id belongs to when the caller gives no site map: the text before the first underscore.

    Register ids look like ``Delhi Cantt Naraina_BP_01`` (site, equipment code, number).
    """
    return asset_id.split("_", 1)[0]


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The bytes the simulator sends for a JSON payload.

    ASCII-escaped (as PHP's ``json_encode`` does by default), which also survives lone surrogates in ids.
    """
    return json.dumps(payload, separators=(",", ":")).encode("ascii")


class _UniqueIds:
    """Hands out ids that look random but never repeat within one namespace.

    Candidates come from a seeded hash and collisions move to the next free number, so an id stays put
    when unrelated assets are added (unless they collide, which the wide ranges make rare).
    """

    def __init__(self, seed: int, namespace: str, low: int, high: int) -> None:
        self._seed, self._namespace, self._low, self._span = seed, namespace, low, high - low
        self._taken: set[int] = set()

    def allocate(self, key: str) -> int:
        offset = stable_int(self._seed, self._namespace, key) % self._span
        while self._low + offset in self._taken:
            offset = (offset + 1) % self._span
        self._taken.add(self._low + offset)
        return self._low + offset


@dataclass(frozen=True)
class Department:
    department_id: int
    department_name: str
    asset_department_id: int


@dataclass(frozen=True)
class Floor:
    floor_id: int
    floor_name: str
    asset_floor_id: int
    departments: tuple[Department, ...]


@dataclass(frozen=True)
class Site:
    """One location of the register: all its assets share customer, location and building ids."""

    name: str
    customer_id: int
    customer_name: str
    location_id: int
    building_id: int
    asset_building_id: int
    floors: tuple[Floor, ...]


class AssetDirectory:
    """The simulated CMMS's view of the register: which ids exist, their sites and their stable ids."""

    def __init__(self, asset_ids: Iterable[str], seed: int, sites: Mapping[str, str] | None = None) -> None:
        self.seed = seed
        site_map = sites or {}
        self._site_of: dict[str, str] = {}
        for asset_id in asset_ids:
            self._site_of[asset_id] = site_map.get(asset_id) or default_site(asset_id)
        self._sites = _build_sites(sorted(set(self._site_of.values())), seed)
        traceids = _UniqueIds(seed, "traceid", 100_000, 10_000_000)
        self._traceids = {asset_id: traceids.allocate(asset_id) for asset_id in sorted(self._site_of)}

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self._site_of

    def __len__(self) -> int:
        return len(self._site_of)

    def site(self, asset_id: str) -> Site:
        return self._sites[self._site_of[asset_id]]

    def traceid(self, asset_id: str) -> int:
        return self._traceids[asset_id]

    def record(self, asset_id: str) -> dict[str, Any]:
        """The full success envelope for a register id; ``KeyError`` for an id outside the register."""
        if asset_id not in self._site_of:
            raise KeyError(asset_id)
        return build_record(asset_id, self.traceid(asset_id), self.site(asset_id), self.seed)


def _build_sites(names: list[str], seed: int) -> dict[str, Site]:
    """Sites in sorted order so id allocation does not depend on the register's row order."""
    customers = _build_customers(seed)
    allocators = {
        kind: _UniqueIds(seed, kind, low, high)
        for kind, low, high in (
            ("location", 10_000, 99_999), ("building", 10_000, 99_999), ("asset_building", 10_000, 99_999),
            ("floor", 10_000, 999_999), ("asset_floor", 10_000, 999_999),
            ("department", 10_000, 999_999), ("asset_department", 10_000, 999_999),
        )
    }
    sites = {}
    for name in names:
        customer_name = _CUSTOMERS[stable_int(seed, "customer-of", name) % len(_CUSTOMERS)]
        sites[name] = Site(
            name=name,
            customer_id=customers[customer_name],
            customer_name=customer_name,
            location_id=allocators["location"].allocate(name),
            building_id=allocators["building"].allocate(name),
            asset_building_id=allocators["asset_building"].allocate(name),
            floors=_build_floors(name, seed, allocators),
        )
    return sites


def _build_customers(seed: int) -> dict[str, int]:
    ids = _UniqueIds(seed, "customer", 20_000, 29_999)
    return {name: ids.allocate(name) for name in _CUSTOMERS}


def _build_floors(site: str, seed: int, allocators: Mapping[str, _UniqueIds]) -> tuple[Floor, ...]:
    """One to three floors per building, one to three departments per floor."""
    rng = random.Random(stable_int(seed, "floors", site))
    floors = []
    for floor_name in rng.sample(_FLOOR_NAMES, rng.randint(1, 3)):
        floor_key = f"{site}\x1f{floor_name}"
        departments = tuple(
            Department(
                department_id=allocators["department"].allocate(f"{floor_key}\x1f{name}"),
                department_name=name,
                asset_department_id=allocators["asset_department"].allocate(f"{floor_key}\x1f{name}"),
            )
            for name in rng.sample(_DEPARTMENT_NAMES, rng.randint(1, 3))
        )
        floors.append(Floor(
            floor_id=allocators["floor"].allocate(floor_key),
            floor_name=floor_name,
            asset_floor_id=allocators["asset_floor"].allocate(floor_key),
            departments=departments,
        ))
    return tuple(floors)


def build_record(asset_id: str, traceid: int, site: Site, seed: int) -> dict[str, Any]:
    """The success envelope for one asset. Draws happen in a fixed order: reordering them changes every body."""
    rng = random.Random(stable_int(seed, "asset", asset_id))
    performance, totals = _performance(rng)
    workorders = _workorders(rng, totals["tickets"])
    data = _data(rng, asset_id, traceid, site, totals, workorders)
    return {
        "status": True,
        "response_code": 200,
        "response": {"data": data, "performance": performance, "workorder_transactional": workorders},
    }


def _data(
    rng: random.Random, asset_id: str, traceid: int, site: Site, totals: Mapping[str, Any],
    workorders: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    floor = rng.choice(site.floors)
    department = rng.choice(floor.departments)
    mapping_id = rng.randint(400_000, 999_999)
    location_mapping_id = rng.randint(400_000, 999_999)
    tickets_open = totals["tickets"] + rng.randint(0, 4)
    schedules = int(workorders["upto"]["schedule_count"]) + rng.randint(0, 12)
    data: dict[str, Any] = {
        "id": traceid,
        "traceid": traceid,
        "serialnumber": asset_id,
        "barcode": f"MOD{rng.randint(100_000, 999_999)}/SER{traceid}",
        "criticality": totals["criticality"],
        "capacity_rating": rng.choice(_CAPACITIES),
        "customer_id": site.customer_id,
        "customer_name": site.customer_name,
        "location_id": site.location_id,
        "location_name": site.name,
        "building_id": site.building_id,
        "building_name": site.name,
        "floor_id": floor.floor_id,
        "floor_name": floor.floor_name,
        "department_id": department.department_id,
        "department_name": department.department_name,
        "asset_floor_id": floor.asset_floor_id,
        "asset_building_id": site.asset_building_id,
        "asset_department_id": department.asset_department_id,
        "installation_date": _installation_date(rng),
        "ticketcount": _maybe_string(rng, tickets_open),
        "schedulecount": _maybe_string(rng, schedules),
        "schedule_configured": int(schedules > 0),
        "schedule_initiate": int(schedules > 0 and rng.random() < 0.9),
        "in_charge_person": rng.choice(_IN_CHARGE + ("", None)),
        "iot_device_mapped": int(rng.random() < 0.15),
        "status": 1 if rng.random() < 0.95 else 0,
        "asset_live_status": 1 if rng.random() < 0.9 else 0,
        "traceability_updated_on": _timestamp(rng, "%Y-%m-%d %H:%M:%S+00"),
        "fk_customers_equipment_mapping_id": mapping_id,
        "customers_locations_serialnumber_mapping_id": location_mapping_id,
        "customer_traceability_id": mapping_id,
        "customer_model_id": rng.randint(200_000, 299_999),
        "location_traceability_id": location_mapping_id,
        "location_model_id": rng.randint(200_000, 299_999),
    }
    data.update(_optional_fields(rng))
    return data


def _optional_fields(rng: random.Random) -> dict[str, Any]:
    """Keys the reference says "may appear": each group is present for some assets only."""
    extra: dict[str, Any] = {}
    if rng.random() < 0.7:
        extra["mapping_status"] = rng.choice(_MAPPING_STATUSES + (None,))
        extra["traceability_status"] = rng.choice(_TRACEABILITY_STATUSES + ("",))
    if rng.random() < 0.6:
        extra["year_of_manufacturing"] = rng.choice((None, rng.randint(1998, 2025)))
    if rng.random() < 0.65:
        for flag in ("is_loaner", "is_ble_tracking", "is_rfid_tracking", "is_qr_tracking", "is_tracking_enabled"):
            extra[flag] = int(rng.random() < 0.2)
    if rng.random() < 0.5:
        extra.update(_geolocation(rng))
    if rng.random() < 0.35:
        extra.update(_amc(rng))
    return extra


def _geolocation(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.15:
        return {"latitude": "", "longitude": "", "address": None}
    return {
        "latitude": f"{rng.uniform(8.0, 32.0):.6f}",
        "longitude": f"{rng.uniform(69.0, 89.0):.6f}",
        "address": f"Plot {rng.randint(1, 400)}, Sector {rng.randint(1, 60)}",
    }


def _amc(rng: random.Random) -> dict[str, Any]:
    start = AS_OF - timedelta(days=rng.randint(30, 1500))
    end = start + timedelta(days=365 * rng.randint(1, 3))
    return {
        "amc_id": rng.choice((rng.randint(1000, 9999), str(rng.randint(1000, 9999)))),
        "amc_start_date": start.strftime("%Y-%m-%d"),
        "amc_end_date": end.strftime("%Y-%m-%d") if rng.random() < 0.9 else None,
    }


def _performance(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """Performance block plus the totals other blocks reuse (tickets, criticality)."""
    created = _CREATED_FROM + timedelta(seconds=rng.randrange(_CREATED_SPAN_S))
    actual_s = int((AS_OF - created).total_seconds())
    tickets = _ticket_total(rng)
    breakdown_s = sum(rng.randint(300, 48 * 3600) for _ in range(tickets))
    criticality, criticality_label = rng.choice(_CRITICALITY)
    equipment, models = rng.choice(_EQUIPMENT)
    performance = {
        "equipments_name": equipment,
        "equipment_model_name": rng.choice(models),
        "criticality_type_label": criticality_label,
        "total_ticket": _maybe_string(rng, tickets, 0.1),
        "mttr": _nasty_duration(rng, breakdown_s // tickets if tickets else 0, 0.06),
        "mtbf": _nasty_duration(rng, (actual_s - breakdown_s) // tickets if tickets else actual_s, 0.06),
        "availability": _availability(rng, actual_s, breakdown_s),
        "total_ticket_breakdown_hrs": _nasty_duration(rng, breakdown_s, 0.05),
        "total_schedule_breakdown_hrs": _schedule_breakdown(rng),
        "asset_created_date": created.strftime("%d/%m/%Y %H:%M") if rng.random() < 0.93 else None,
        "total_actual_hrs": _nasty_duration(rng, actual_s, 0.03),
    }
    if criticality is not None and rng.random() < 0.04:
        criticality = rng.choice(("", None))
    return performance, {"tickets": tickets, "criticality": criticality}


def _ticket_total(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.3:
        return 0
    return rng.randint(1, 5) if roll < 0.8 else rng.randint(6, 40)


def _availability(rng: random.Random, actual_s: int, breakdown_s: int) -> str | None:
    """A percentage string with at most two decimals and no trailing zeros (``"99.87"``, ``"100"``)."""
    if rng.random() < 0.05:
        return None
    percent = 100.0 * max(actual_s - breakdown_s, 0) / actual_s
    return f"{percent:.2f}".rstrip("0").rstrip(".")


def _schedule_breakdown(rng: random.Random) -> str | None:
    if rng.random() < 0.6:
        return "0"
    return _nasty_duration(rng, rng.randint(0, 200 * 3600), 0.1)


def _workorders(rng: random.Random, tickets: int) -> dict[str, dict[str, str]]:
    """``upto`` (all time) and ``last_year`` blocks; last year never exceeds all time. Everything is a string."""
    upto = {"work_estimate": rng.randint(0, 6), "schedule": rng.randint(0, 60), "ticket": tickets}
    blocks: dict[str, dict[str, str]] = {}
    for period, counts in (("upto", upto), ("last_year", {k: rng.randint(0, v) for k, v in upto.items()})):
        block = {}
        for kind, count in counts.items():
            block[f"{kind}_count"] = str(count)
            block[f"{kind}_cost"] = _cost(rng, count)
        blocks[period] = block
    return blocks


def _cost(rng: random.Random, count: int) -> str:
    if count == 0 or rng.random() < 0.4:
        return "0.00" if rng.random() < 0.9 else "0"
    return f"{count * rng.uniform(150.0, 25_000.0):.2f}"


def _installation_date(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.5:
        return None
    if roll < 0.53:
        return "0000-00-00"
    return (AS_OF - timedelta(days=rng.randint(200, 6000))).strftime("%Y-%m-%d")


def _timestamp(rng: random.Random, fmt: str) -> str:
    return (AS_OF - timedelta(seconds=rng.randint(0, 90 * 86400))).strftime(fmt)


def _maybe_string(rng: random.Random, value: int, share: float = 0.3) -> int | str:
    """Numbers that are sometimes sent as numeric strings, as the real API does."""
    return str(value) if rng.random() < share else value


def _nasty_duration(rng: random.Random, seconds: int, nasty_share: float) -> str | None:
    """``H…H:MM:SS`` (hours past 24 are normal), or now and then ``"0"``, ``""`` or null."""
    if rng.random() < nasty_share:
        return rng.choice(("0", "", None))
    return format_duration(seconds)


def format_duration(seconds: int) -> str:
    """``8526:06:43`` style: at least two hour digits, no day rollover."""
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def with_repairs(record: dict[str, Any], repairs: int, repair_seconds: int) -> dict[str, Any]:
    """``record`` as the CMMS answers it after ``repairs`` more breakdown tickets totalling ``repair_seconds``: the
    ticket count and breakdown hours grow, MTTR, MTBF and availability follow (operating time is unchanged). Values
    the record sent as null or empty count as 0."""
    changed = json.loads(json.dumps(record))
    performance = changed["response"]["performance"]
    tickets = _as_int(performance.get("total_ticket")) + repairs
    breakdown_s = _duration_seconds(performance.get("total_ticket_breakdown_hrs")) + repair_seconds
    actual_s = _duration_seconds(performance.get("total_actual_hrs"))
    performance["total_ticket"] = tickets
    performance["total_ticket_breakdown_hrs"] = format_duration(breakdown_s)
    performance["mttr"] = format_duration(breakdown_s // tickets if tickets else 0)
    performance["mtbf"] = format_duration((actual_s - breakdown_s) // tickets if tickets else actual_s)
    if actual_s:
        percent = 100.0 * max(actual_s - breakdown_s, 0) / actual_s
        performance["availability"] = f"{percent:.2f}".rstrip("0").rstrip(".")
    return changed


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _duration_seconds(value: object) -> int:
    """The seconds of a ``H…H:MM:SS`` duration this module wrote; 0 for the null, empty or ``"0"`` it also sends."""
    if not isinstance(value, str) or value.count(":") != 2:
        return 0
    hours, minutes, seconds = (int(part) for part in value.split(":"))
    return hours * 3600 + minutes * 60 + seconds
