"""Deterministic IBM Maximo records for the Maximo simulator, and the changes tests make to them.

Built from ``shared/reference/maximo-api.md`` alone: nothing here may import the product's Maximo client,
or a parsing bug shared by both would hide itself.

Every value is a pure function of (seed, the site list, assets per site), so two datasets built from the same
inputs render byte-identical answers until something is changed. Values are as Maximo sends them: dates in
ISO 8601 with the site's UTC offset (``2024-03-05T09:50:00-05:00``), numbers as numbers, optional attributes
null (the server drops them), a ``_rowstamp`` string that grows on every change, composite keys whose parts
repeat across sites (asset ``1001`` exists at every site), a few work orders pointing at assets that do not
exist (the client must report those, never fill them in), and people whose groups live in another object
structure.

Records hold Python values (datetimes, ints, floats, bools, None); ``render`` turns one into the JSON a
member carries.
"""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ic3_pipeline.sandbox.innomaint_data import stable_int

try:  # the offsets of a US-East Maximo install, daylight saving included
    from zoneinfo import ZoneInfo

    SITE_ZONE: Any = ZoneInfo("America/New_York")
except Exception:  # pragma: no cover - a system without tz data still gets a realistic fixed offset
    SITE_ZONE = timezone(timedelta(hours=-5))

#: Fixed "now" of the simulated CMMS for generated data (wall-clock time would break byte-identical answers).
AS_OF = datetime(2026, 3, 19, 9, 50, tzinfo=SITE_ZONE)

Key = tuple[str, ...]
ValueFn = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class ObjectStructure:
    """What the API exposes of one object structure: its key, its attributes in answer order, its child arrays."""

    name: str
    keys: tuple[str, ...]
    attributes: tuple[str, ...]
    children: tuple[str, ...]
    per_site: bool

    @property
    def has_changedate(self) -> bool:
        return "changedate" in self.attributes

    def href_id(self, key: Key) -> str:
        """The opaque member id: ``_`` + base64 of the key with the site last (``1008/BEDFORD``), as Maximo does."""
        return _href_id(self.per_site, key)


@lru_cache(maxsize=1 << 16)
def _href_id(per_site: bool, key: Key) -> str:
    parts = list(key[1:]) + [key[0]] if per_site else list(key)
    return "_" + base64.urlsafe_b64encode("/".join(parts).encode("utf-8")).decode("ascii").rstrip("=")


STRUCTURES: dict[str, ObjectStructure] = {s.name: s for s in (
    ObjectStructure(
        "mxapilocations", ("siteid", "location"),
        ("location", "siteid", "orgid", "description", "status", "type", "changedate"), (), True,
    ),
    ObjectStructure(
        "mxapiasset", ("siteid", "assetnum"),
        ("assetnum", "siteid", "orgid", "description", "status", "status_description", "location", "assettype",
         "parent", "serialnum", "priority", "failurecode", "vendor", "manufacturer", "installdate", "changedate",
         "assetuid"),
        ("assetmeter", "assetspec", "assetdoclinks", "assetfailure"), True,
    ),
    ObjectStructure(
        "mxapiwodetail", ("siteid", "wonum"),
        ("wonum", "workorderid", "siteid", "orgid", "description", "status", "worktype", "wopriority", "location",
         "assetnum", "reportdate", "schedstart", "actstart", "actfinish", "targstartdate", "targcompdate",
         "changedate", "parent", "istask", "pmnum"),
        ("wolabor", "womaterial", "wotool", "serviceaddress"), True,
    ),
    ObjectStructure(
        "mxapiinventory", ("siteid", "itemnum", "location"),
        ("itemnum", "itemsetid", "location", "siteid", "orgid", "curbal", "issueunit", "status", "minlevel",
         "maxlevel", "inventoryid"),
        ("invbalances", "invcost", "itemcondition", "matrectrans", "transfercuritem"), True,
    ),
    ObjectStructure(
        "mxapidomain", ("domainid",),
        ("domainid", "domaintype", "description", "maxtype", "length", "scale", "maxdomainid"),
        ("synonymdomain", "alndomain", "numericdomain"), False,
    ),
    ObjectStructure(
        "mxapiperuser", ("personid",),
        ("personid", "displayname", "firstname", "lastname", "status", "primaryemail", "personuid"),
        ("user", "groupuser"), False,
    ),
    ObjectStructure(
        "mxapimaxgroup", ("groupname",),
        ("groupname", "description", "authallsites", "maxgroupid"), (), False,
    ),
)}


@dataclass(frozen=True)
class Record:
    """One member: attributes (None = null), child arrays, and its row stamp. Replaced, never mutated, on change."""

    attrs: dict[str, Any]
    children: dict[str, list[dict[str, Any]]]
    rowstamp: int

    # Rendering is most of a page's cost; a record never changes, so its JSON values are worked out once.
    @cached_property
    def json_attrs(self) -> dict[str, Any]:
        return {attr: json_value(value) for attr, value in self.attrs.items()}

    @cached_property
    def json_children(self) -> dict[str, list[dict[str, Any]]]:
        """Child rows as JSON with nulls kept; ``lean_children`` the same with nulls dropped."""
        return {name: [{k: json_value(v) for k, v in row.items()} for row in rows]
                for name, rows in self.children.items()}

    @cached_property
    def lean_children(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [{k: v for k, v in row.items() if v is not None} for row in rows]
                for name, rows in self.json_children.items()}

    def prepare(self) -> None:
        """Work the JSON out now: at build time, so a client's first read is as fast as its later ones."""
        _ = self.json_attrs, self.lean_children


@dataclass(frozen=True)
class Row:
    """A record as queries see it: ``values`` holds every attribute, added ones included (None = null)."""

    key: Key
    record: Record
    values: dict[str, Any]


@dataclass
class _Table:
    structure: ObjectStructure
    rows: dict[Key, Record] = field(default_factory=dict)  # insertion order = the order answers use without orderBy
    extra: dict[str, ValueFn] = field(default_factory=dict)  # attributes added with add_attribute, in order
    changes: int = 0
    version: int = 0
    cached: tuple[int, list[Row]] | None = None


def json_value(value: Any) -> Any:
    """A Python value as Maximo writes it in JSON: datetimes with their offset, to the second; dates as dates."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


class MaximoDataset:
    """The simulated Maximo database: every object structure's records, current state, safe across threads."""

    def __init__(self, sites: Sequence[str], assets_per_site: int, seed: int, dangling_every: int = 50) -> None:
        self.sites = tuple(sites)
        self.seed = seed
        self.lock = threading.RLock()
        self._stamp = 1000 + stable_int(seed, "rowstamp") % 50000
        self._tables = {name: _Table(structure) for name, structure in STRUCTURES.items()}
        groups = _build_groups(seed, self.sites)
        self._load("mxapimaxgroup", groups)
        self._load("mxapidomain", _build_domains(seed))
        self._load("mxapiperuser", _build_people(seed, self.sites, [g["groupname"] for g, _ in groups]))
        for index, site in enumerate(self.sites):
            builder = _SiteBuilder(seed, site, index, assets_per_site, dangling_every)
            self._load("mxapilocations", builder.locations)
            self._load("mxapiasset", builder.assets)
            self._load("mxapiwodetail", builder.workorders)
            self._load("mxapiinventory", builder.inventory)

    def _load(self, name: str, rows: Iterable[tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]]) -> None:
        table = self._tables[name]
        for attrs, children in rows:
            key = tuple(str(attrs[k]) for k in table.structure.keys)
            record = Record(attrs, children, self._next_stamp())
            record.prepare()
            table.rows[key] = record

    def _next_stamp(self) -> int:
        self._stamp += 1 + stable_int(self.seed, "stamp-step", self._stamp) % 7
        return self._stamp

    # -- reading -------------------------------------------------------------------------------------

    @staticmethod
    def structure(name: str) -> ObjectStructure | None:
        """The object structure for a name in any case (``MXAPIASSET``), or None when Maximo has none such."""
        return STRUCTURES.get(name.lower())

    def attribute_names(self, name: str) -> tuple[str, ...]:
        """Every attribute a member can carry, added ones included (what where/orderBy may name)."""
        table = self._table(name)
        with self.lock:
            return table.structure.attributes + tuple(table.extra)

    def rows(self, name: str) -> tuple[int, list[Row]]:
        """The current rows in insertion order with their attribute values, and the table's version.

        The version grows with every change, delete or added attribute, so callers may cache what they derive
        from a version (the simulator keeps filtered, sorted results per query) without ever serving stale data.
        """
        table = self._table(name)
        with self.lock:
            if table.cached is not None and table.cached[0] == table.version:
                return table.cached
            version, items, extra = table.version, list(table.rows.items()), list(table.extra.items())
        rows = [Row(key, record, _with_extra(record.attrs, extra)) for key, record in items]
        with self.lock:
            if table.version == version:
                table.cached = (version, rows)
        return version, rows

    def render(self, row: Row, select: Any, keep_nulls: bool, href: str) -> dict[str, Any]:
        """A member as lean JSON: selected attributes in answer order, selected children, ``_rowstamp``, ``href``.

        ``select`` is duck-typed (``attrs``: names or None for all; ``children``: name -> nested select);
        ``None`` selects nothing, as Maximo answers members without ``oslc.select`` with their href only.
        """
        member: dict[str, Any] = {}
        record = row.record
        if select is not None:
            converted = record.json_attrs
            for attr, value in row.values.items():
                if (select.attrs is None or attr in select.attrs) and (keep_nulls or value is not None):
                    member[attr] = converted[attr] if attr in converted else json_value(value)
            children = record.json_children if keep_nulls else record.lean_children
            for child, child_select in select.children.items():
                rows = children.get(child)
                if rows:
                    names = child_select.attrs
                    member[child] = [dict(r) if names is None else {k: v for k, v in r.items() if k in names}
                                     for r in rows]
        member["_rowstamp"] = str(record.rowstamp)
        member["href"] = href
        return member

    # -- changing ------------------------------------------------------------------------------------

    def change(self, name: str, count: int = 1, site: str | None = None, now: datetime | None = None) -> list[Key]:
        """Modify ``count`` records (of ``site`` if given): a field changes, a new ``_rowstamp`` and changedate.

        Which records is drawn from the seed and how many changes came before, so a test is repeatable.
        """
        table = self._table(name)
        when = (now or datetime.now(timezone.utc)).astimezone(SITE_ZONE).replace(microsecond=0)
        with self.lock:
            keys = self._pick(table, count, site, "change")
            for key in keys:
                table.changes += 1
                old = table.rows[key]
                attrs = _mutated(name, dict(old.attrs), table.changes)
                if table.structure.has_changedate:
                    attrs["changedate"] = when
                table.rows[key] = Record(attrs, old.children, self._next_stamp())
            table.version += 1
            return keys

    def delete(
        self, name: str, keys: Iterable[Key | str] | None = None, count: int | None = None, site: str | None = None,
    ) -> list[Key]:
        """Remove the named records (those that exist), or ``count`` drawn ones; returns the keys removed."""
        table = self._table(name)
        with self.lock:
            if keys is not None:
                chosen = [k for k in (_as_key(k) for k in keys) if k in table.rows]
            else:
                chosen = self._pick(table, count or 0, site, "delete")
            for key in chosen:
                del table.rows[key]
            table.version += 1
            return chosen

    def add_attribute(self, name: str, attribute: str, value_fn: ValueFn | None = None) -> None:
        """From now on every record of ``name`` carries ``attribute`` (schema drift, as after a Maximo upgrade).

        ``value_fn`` gets a record's attributes (Python values) and returns the JSON value (None = null);
        by default a short deterministic code derived from the record's key.
        """
        table = self._table(name)
        if not attribute or not attribute.replace("_", "").isalnum():
            raise ValueError(f"attribute names are letters, digits and underscores, got {attribute!r}")
        attribute = attribute.lower()
        if attribute in table.structure.attributes or attribute in table.structure.children:
            raise ValueError(f"{name} already has {attribute!r}")
        if value_fn is None:
            keys, seed = table.structure.keys, self.seed

            def value_fn(attrs: dict[str, Any]) -> Any:
                key = tuple(str(attrs[k]) for k in keys)
                return f"{attribute.upper()}-{stable_int(seed, attribute, *key) % 10000:04d}"

        with self.lock:
            table.extra[attribute] = value_fn
            table.version += 1

    def create_work_order(self, given: dict[str, Any], now: datetime | None = None) -> Key:
        """Add a work order as Maximo does on a POST to MXAPIWODETAIL: the next ``wonum`` of the site (one above the
        highest numeric one), status WAPPR, ``reportdate``/``changedate`` now, the given attributes kept. ``given``
        must hold ``siteid``; a ``wonum`` already used at the site raises ``ValueError``."""
        table = self._table("mxapiwodetail")
        when = (now or datetime.now(timezone.utc)).astimezone(SITE_ZONE).replace(microsecond=0)
        site = str(given["siteid"])
        with self.lock:
            numbers = [int(key[1]) for key in table.rows if key[0] == site and key[1].isdigit()]
            wonum = str(given.get("wonum") or (max(numbers, default=5000) + 1))
            if (site, wonum) in table.rows:
                raise ValueError(f"work order {wonum} already exists at site {site}")
            ids = [record.attrs.get("workorderid") or 0 for record in table.rows.values()]
            attrs: dict[str, Any] = dict.fromkeys(table.structure.attributes)
            attrs.update({"orgid": "EAGLENA", "status": "WAPPR", "istask": False, "reportdate": when,
                          "changedate": when})
            attrs.update({k: v for k, v in given.items() if k in table.structure.attributes})
            attrs.update({"wonum": wonum, "siteid": site, "workorderid": max(ids, default=0) + 1})
            record = Record(attrs, {child: [] for child in table.structure.children}, self._next_stamp())
            record.prepare()
            table.rows[(site, wonum)] = record
            table.version += 1
            return (site, wonum)

    def _pick(self, table: _Table, count: int, site: str | None, purpose: str) -> list[Key]:
        if site is not None and not table.structure.per_site:
            raise ValueError(f"{table.structure.name} is not kept per site")
        candidates = [k for k in table.rows if site is None or k[0] == site]
        candidates.sort(key=lambda k: stable_int(self.seed, purpose, table.changes, len(table.rows), *k))
        return candidates[: max(0, count)]

    def _table(self, name: str) -> _Table:
        table = self._tables.get(name.lower())
        if table is None:
            raise KeyError(f"no object structure {name!r}; known: {sorted(self._tables)}")
        return table


def _with_extra(attrs: dict[str, Any], extra: list[tuple[str, ValueFn]]) -> dict[str, Any]:
    if not extra:
        return attrs  # records are never mutated in place, so sharing the dict is safe
    values = dict(attrs)
    for attribute, value_fn in extra:
        values[attribute] = value_fn(dict(attrs))
    return values


def _as_key(key: Key | str) -> Key:
    return (key,) if isinstance(key, str) else tuple(str(part) for part in key)


_STATUS_CYCLE = {
    "mxapilocations": ("OPERATING", "NOT READY", "DECOMMISSIONED"),
    "mxapiasset": ("OPERATING", "BROKEN", "NOT READY", "LIMITEDUSE"),
    "mxapiwodetail": ("WAPPR", "APPR", "INPRG", "COMP", "CLOSE"),
    "mxapiperuser": ("ACTIVE", "INACTIVE"),
}
_ASSET_STATUS = {
    "OPERATING": "Operating", "NOT READY": "Not Ready", "ACTIVE": "Active", "BROKEN": "Broken",
    "DECOMMISSIONED": "Decommissioned", "LIMITEDUSE": "Limited Use",
}


def _mutated(name: str, attrs: dict[str, Any], nth: int) -> dict[str, Any]:
    """The record after one edit in Maximo: the next status, a new balance, or a revised description."""
    cycle = _STATUS_CYCLE.get(name)
    if cycle:
        current = attrs.get("status")
        attrs["status"] = cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else cycle[0]
        if name == "mxapiasset":
            attrs["status_description"] = _ASSET_STATUS[attrs["status"]]
    elif name == "mxapiinventory":
        attrs["curbal"] = float(attrs["curbal"] or 0) + 1.0 + nth % 5
    else:
        base = str(attrs.get("description") or "").split(" (rev ")[0]
        attrs["description"] = f"{base} (rev {nth})"
    return attrs


# -- generation ----------------------------------------------------------------------------------------

_LOCATION_KINDS = (
    ("BR", "Boiler Room"), ("OFF", "Office"), ("BPM", "Pump Station"), ("SHOP", "Machine Shop"),
    ("PH", "Penthouse Mechanical"), ("LAB", "Laboratory"), ("DOCK", "Loading Dock"), ("ELEC", "Electrical Room"),
)
_EQUIPMENT = (
    ("Centrifugal Pump 100GPM", "PUMPS", "FACILITIES"), ("Air Handling Unit - Roof", "HVAC", "FACILITIES"),
    ("Chiller 200 Ton", "HVAC", "FACILITIES"), ("Boiler - Natural Gas", "BOILERS", "FACILITIES"),
    ("Conveyor Belt Drive", "CONVEYOR", "PRODUCTION"), ("Forklift 5000 lb", "FLEET", "FLEET"),
    ("Emergency Generator 500kW", None, "FACILITIES"), ("Air Compressor 50HP", "PUMPS", "PRODUCTION"),
    ("Cooling Tower Fan", "HVAC", None), ("Windows XP Operating System", None, "IT"),
    ("Pompe à chaleur – Bâtiment B", "HVAC", "FACILITIES"), ("Fire Sprinkler Riser", None, None),
)
_VENDORS = ("ALLIEDWR", "BERGEN", "CUMMINS", "GRAINGER", "TRANE", "KSB", "CARRIER")
_METERS = (("RUNHOURS", "HOURS"), ("TEMP-F", "DEG F"), ("PRESSURE", "PSI"), ("VIBRATION", "IN/SEC"))
_SPECS = (("CAPACITY", "numeric", "GPM"), ("VOLTAGE", "numeric", "V"), ("MATERIAL", "aln", None),
          ("MOTORHP", "numeric", "HP"), ("REFRIGERANT", "aln", None))
_ALN_SPECS = {"MATERIAL": ("STAINLESS", "CAST IRON", "BRONZE"), "REFRIGERANT": ("R-134A", "R-410A")}
_FAILURES = (("LEAK", "SEAL", "Seal failure"), ("NOPOWER", "FUSE", "Blown fuse"), ("NOISE", "BEARING", "Worn bearing"))
_WO_TEXT = (
    "Inspect and lubricate", "Replace drive belt", "Annual safety inspection", "Repair leaking seal",
    "Calibrate sensors", "Emergency repair - no power", "Replace filters", "Réparer la vanne – urgent",
)
_WORKTYPES = ("PM", "CM", "EM", "CP", "PM", "CM")
_WO_STATUSES = ("WAPPR", "APPR", "INPRG", "COMP", "CLOSE", "CAN")
_CRAFTS = (("ELECT", "Electrician"), ("MECH", "Mechanic"), ("HVAC", "HVAC Technician"), ("PLUMB", "Plumber"))
_ITEMS = (
    ("Bearing, Ball 2in", "EACH"), ("V-Belt A48", "EACH"), ("Filter, Air 20x20x2", "EACH"), ("Grease, EP2", "TUBE"),
    ("Seal Kit, Pump", "KIT"), ("Fuse 30A", "EACH"), ("Hydraulic Oil ISO 46", "GAL"), ("Gasket 4in Flange", "EACH"),
)
_TOOLS = ("TORQUE-WRENCH", "MULTIMETER", "PIPE-THREADER", "CRANE-5T")
_CITIES = (("Bedford", "MA", "01730"), ("Nashua", "NH", "03060"), ("Texas City", "TX", "77590"))


def _at(rng: random.Random, days_back_max: int, days_back_min: int = 0) -> datetime:
    """A past instant in the site's zone, to the second, within the given number of days before AS_OF."""
    seconds = rng.randint(days_back_min * 86400, days_back_max * 86400)
    return (AS_OF - timedelta(seconds=seconds)).astimezone(SITE_ZONE)


def _maybe(rng: random.Random, value: Any, share_null: float) -> Any:
    return None if rng.random() < share_null else value


class _SiteBuilder:
    """The records of one site; a pure function of (seed, site, site index, sizes)."""

    def __init__(self, seed: int, site: str, index: int, assets: int, dangling_every: int) -> None:
        self.seed, self.site, self.index = seed, site, index
        self.rng = random.Random(stable_int(seed, "site", site))
        self.locations = self._locations(max(6, assets // 4))
        operating = [a["location"] for a, _ in self.locations if a["type"] == "OPERATING"]
        self.storerooms = [a["location"] for a, _ in self.locations if a["type"] == "STOREROOM"]
        self.assets = self._assets(assets, operating)
        self.workorders = self._workorders(assets * 2, [a["assetnum"] for a, _ in self.assets], operating,
                                           dangling_every)
        self.inventory = self._inventory(max(4, assets // 2))

    def _locations(self, count: int) -> list[tuple[dict[str, Any], dict]]:
        rng, rows, seen = self.rng, [], set()
        for name, description in (("CENTRAL", "Central Storeroom"), ("SPAREPARTS", "Spare Parts Storeroom")):
            rows.append(self._location(name, description, "STOREROOM", "OPERATING"))
            seen.add(name)
        misses = 0
        while len(rows) < count:
            prefix, kind = rng.choice(_LOCATION_KINDS)
            number = rng.randint(1, 9) * 100 + rng.randint(0, 20)
            if misses > 50:  # the realistic names are used up (a very large site): number on past them
                number = 10_000 + len(rows)
            name = f"{prefix}{number}"
            if name in seen:
                misses += 1
                continue
            misses = 0
            seen.add(name)
            status = rng.choices(("OPERATING", "NOT READY", "DECOMMISSIONED"), (8, 1, 1))[0]
            rows.append(self._location(name, f"{kind} {number}", rng.choice(("OPERATING",) * 5 + ("REPAIR",)),
                                       status))
        return rows

    def _location(self, name: str, description: str, kind: str, status: str) -> tuple[dict[str, Any], dict]:
        changed = _at(self.rng, 1500)
        return ({"location": name, "siteid": self.site, "orgid": "EAGLENA", "description": description,
                 "status": status, "type": kind, "changedate": changed}, {})

    def _assets(self, count: int, locations: list[str]) -> list[tuple[dict[str, Any], dict]]:
        rng, rows = self.rng, []
        for i in range(count):
            assetnum = str(1001 + i)
            description, failurecode, assettype = rng.choice(_EQUIPMENT)
            status = rng.choices(tuple(_ASSET_STATUS), (10, 1, 1, 1, 1, 1))[0]
            installed = _maybe(rng, (AS_OF - timedelta(days=rng.randint(200, 7000))).date(), 0.2)
            attrs = {
                "assetnum": assetnum, "siteid": self.site, "orgid": "EAGLENA", "description": description,
                "status": status, "status_description": _ASSET_STATUS[status],
                "location": _maybe(rng, rng.choice(locations), 0.15) if locations else None,
                "assettype": assettype,
                "parent": str(1001 + rng.randrange(i)) if i >= 5 and rng.random() < 0.2 else None,
                "serialnum": _maybe(rng, f"{rng.choice('ABCKMSTX')}{rng.randint(10000, 99999)}-{rng.randint(1, 99):02d}",
                                    0.4),
                "priority": _maybe(rng, rng.randint(1, 5), 0.2),
                "failurecode": failurecode,
                "vendor": _maybe(rng, rng.choice(_VENDORS), 0.3),
                "manufacturer": _maybe(rng, rng.choice(_VENDORS), 0.3),
                "installdate": datetime(installed.year, installed.month, installed.day, tzinfo=SITE_ZONE)
                if installed else None,
                "changedate": _at(rng, 1200),
                "assetuid": 100 + self.index * 100000 + i,
            }
            rows.append((attrs, self._asset_children(attrs["assetuid"])))
        return rows

    def _asset_children(self, uid: int) -> dict[str, list[dict[str, Any]]]:
        rng = self.rng
        meters = [{"metername": name, "assetmeterid": uid * 10 + n, "measureunitid": unit, "active": rng.random() < 0.9,
                   "lastreading": round(rng.uniform(0, 5000), 1) if name != "RUNHOURS" else rng.randint(0, 60000),
                   "lastreadingdate": _maybe(rng, _at(rng, 90), 0.2)}
                  for n, (name, unit) in enumerate(rng.sample(_METERS, rng.randint(0, 3)))]
        specs = []
        for n, (attr, kind, unit) in enumerate(rng.sample(_SPECS, rng.randint(0, 4))):
            spec = {"assetattrid": attr, "assetspecid": uid * 10 + n, "measureunitid": unit,
                    "numvalue": None, "alnvalue": None}
            if kind == "numeric":
                spec["numvalue"] = rng.choice((15, 45, 120, 240, 480, 7.5, 12.25))
            else:
                spec["alnvalue"] = rng.choice(_ALN_SPECS[attr])
            specs.append(spec)
        docs = [{"doclinksid": uid * 10 + n, "document": f"MANUAL-{uid}-{n}", "doctype": "Attachments",
                 "description": rng.choice(("Operating manual", "Wiring diagram", "Warranty certificate")),
                 "urltype": "FILE", "createdate": _at(rng, 2000)}
                for n in range(rng.choice((0, 0, 1, 2)))]
        failures = [{"assetfailureid": uid * 10 + n, "failurecode": problem, "problemcode": cause,
                     "description": text}
                    for n, (problem, cause, text) in enumerate(rng.sample(_FAILURES, rng.choice((0, 0, 0, 1, 2))))]
        return {"assetmeter": meters, "assetspec": specs, "assetdoclinks": docs, "assetfailure": failures}

    def _workorders(self, count: int, assetnums: list[str], locations: list[str],
                    dangling_every: int) -> list[tuple[dict[str, Any], dict]]:
        rng, rows, roots = self.rng, [], []
        for i in range(count):
            wonum = str(5001 + i)
            reported = _at(rng, 700, 3)
            status = rng.choice(_WO_STATUSES)
            worktype = rng.choice(_WORKTYPES)
            is_task = bool(roots) and rng.random() < 0.15
            started = reported + timedelta(hours=rng.randint(1, 240)) if status in ("INPRG", "COMP", "CLOSE") else None
            finished = started + timedelta(minutes=rng.randint(20, 2880)) if started and status != "INPRG" else None
            if dangling_every and i % dangling_every == dangling_every - 1:
                assetnum: str | None = str(100001 + i)  # an asset Maximo no longer knows: a dangling reference
            else:
                assetnum = _maybe(rng, rng.choice(assetnums), 0.1) if assetnums else None
            target = reported + timedelta(days=rng.randint(1, 10))
            latest = max(t for t in (reported, started, finished) if t is not None)
            attrs = {
                "wonum": wonum, "workorderid": 200 + self.index * 100000 + i, "siteid": self.site,
                "orgid": "EAGLENA", "description": rng.choice(_WO_TEXT), "status": status, "worktype": worktype,
                "wopriority": _maybe(rng, rng.randint(0, 999), 0.15),
                "location": _maybe(rng, rng.choice(locations), 0.2) if locations else None,
                "assetnum": assetnum, "reportdate": reported,
                "schedstart": _maybe(rng, reported + timedelta(days=rng.randint(0, 5)), 0.3),
                "actstart": started, "actfinish": finished,
                "targstartdate": target, "targcompdate": target + timedelta(days=rng.randint(1, 5)),
                "changedate": min(AS_OF, latest + timedelta(minutes=rng.randint(1, 600))),
                "parent": rng.choice(roots) if is_task else None, "istask": is_task,
                "pmnum": f"PM{rng.randint(1000, 1999)}" if worktype == "PM" else None,
            }
            if not is_task:
                roots.append(wonum)
            rows.append((attrs, self._wo_children(attrs["workorderid"])))
        return rows

    def _wo_children(self, woid: int) -> dict[str, list[dict[str, Any]]]:
        rng = self.rng
        labor = [{"wplaborid": woid * 10 + n, "laborcode": rng.choice(("WILSON", "SMITH", "GARCIA", "NGUYEN")),
                  "craft": craft, "skilllevel": rng.choice(("FIRSTCLASS", "SECONDCLASS", None)),
                  "laborhrs": rng.choice((0.5, 1.0, 2.0, 4.0, 8.0))}
                 for n, (craft, _) in enumerate(rng.sample(_CRAFTS, rng.randint(0, 2)))]
        materials = [{"wpitemid": woid * 10 + n, "itemnum": f"0-{1000 + j:04d}", "itemqty": rng.randint(1, 12),
                      "unitcost": round(rng.uniform(2, 400), 2), "storeloc": self.storerooms[0]}
                     for n, j in enumerate(rng.sample(range(len(_ITEMS)), rng.randint(0, 2)))]
        tools = [{"wptoolid": woid * 10 + 5, "itemnum": rng.choice(_TOOLS), "itemqty": 1,
                  "toolhrs": rng.choice((1.0, 2.5, 4.0))}] if rng.random() < 0.2 else []
        city, state, postal = _CITIES[self.index % len(_CITIES)]
        address = [{"addresscode": f"{self.site}-{rng.randint(1, 40)}",
                    "streetaddress": f"{rng.randint(1, 999)} {rng.choice(('Main', 'Crosby', 'Middlesex'))} St",
                    "city": city, "stateprovince": state, "postalcode": postal, "country": "US"}] \
            if rng.random() < 0.3 else []
        return {"wolabor": labor, "womaterial": materials, "wotool": tools, "serviceaddress": address}

    def _inventory(self, items: int) -> list[tuple[dict[str, Any], dict]]:
        rng, rows = self.rng, []
        for j in range(items):
            description, unit = _ITEMS[j % len(_ITEMS)]
            stores = self.storerooms if rng.random() < 0.3 else [rng.choice(self.storerooms)]
            for store in stores:
                balance = float(rng.randint(0, 250))
                uid = 300 + self.index * 100000 + len(rows)
                attrs = {"itemnum": f"0-{1000 + j:04d}", "itemsetid": "SET1", "location": store,
                         "siteid": self.site, "orgid": "EAGLENA", "curbal": balance, "issueunit": unit,
                         "status": rng.choices(("ACTIVE", "PENDOBS", "PLANNING"), (8, 1, 1))[0],
                         "minlevel": _maybe(rng, float(rng.randint(0, 10)), 0.3),
                         "maxlevel": _maybe(rng, float(rng.randint(20, 300)), 0.3), "inventoryid": uid}
                rows.append((attrs, self._inventory_children(uid, store, balance, description)))
        return rows

    def _inventory_children(self, uid: int, store: str, balance: float,
                            description: str) -> dict[str, list[dict[str, Any]]]:
        rng = self.rng
        balances = [{"invbalancesid": uid * 10, "binnum": f"{rng.choice('ABCD')}-{rng.randint(1, 40):02d}",
                     "curbal": balance, "physcnt": balance, "physcntdate": _at(rng, 365),
                     "lotnum": _maybe(rng, f"LOT{rng.randint(100, 999)}", 0.7)}]
        cost = round(rng.uniform(1, 500), 2)
        costs = [{"invcostid": uid * 10, "avgcost": cost, "lastcost": round(cost * rng.uniform(0.9, 1.1), 2),
                  "stdcost": cost, "conditioncode": None}]
        conditions = [{"conditioncode": code, "condrate": rate, "description": text}
                      for code, rate, text in (("NEW", 100, "New"), ("USED", 60, "Used"))] \
            if rng.random() < 0.2 else []
        receipts = [{"matrectransid": uid * 10 + n, "transdate": _at(rng, 500), "quantity": float(rng.randint(1, 50)),
                     "issuetype": "RECEIPT", "ponum": _maybe(rng, str(rng.randint(1000, 1999)), 0.3),
                     "description": description}
                    for n in range(rng.choice((0, 1, 1, 2)))]
        transfers = [{"tostoreloc": store, "quantity": float(rng.randint(1, 5)), "fromstoreloc": None,
                      "unitcost": cost}] if rng.random() < 0.1 else []
        return {"invbalances": balances, "invcost": costs, "itemcondition": conditions,
                "matrectrans": receipts, "transfercuritem": transfers}


_GROUPS = (
    ("MAXADMIN", "Maximo Administrators", True), ("MAXEVERYONE", "Everyone", True),
    ("PLANNERS", "Maintenance Planners", True), ("SUPERVISORS", "Maintenance Supervisors", False),
    ("TECHNICIANS", "Craft Technicians", False), ("STOREROOM", "Storeroom Clerks", False),
    ("READONLY", "Read Only Users", True),
)


def _build_groups(seed: int, sites: Sequence[str]) -> list[tuple[dict[str, Any], dict]]:
    groups = list(_GROUPS) + [(f"TECH_{site}"[:30], f"Technicians at {site}", False) for site in sites]
    return [({"groupname": name, "description": text, "authallsites": all_sites,
              "maxgroupid": 10 + stable_int(seed, "group", name) % 900 * 10 + n % 10}, {})
            for n, (name, text, all_sites) in enumerate(groups)]


_DOMAINS = (
    ("WOSTATUS", "SYNONYM", "Work Order Status", "UPPER", (
        ("WAPPR", "Waiting on Approval"), ("APPR", "Approved"), ("INPRG", "In Progress"), ("COMP", "Completed"),
        ("CLOSE", "Closed"), ("CAN", "Canceled"))),
    ("LOCASSETSTATUS", "SYNONYM", "Location and Asset Status", "UPPER",
     tuple((k, v) for k, v in _ASSET_STATUS.items())),
    ("ITEMSTATUS", "SYNONYM", "Item Status", "UPPER", (("ACTIVE", "Active"), ("PENDOBS", "Pending Obsolescence"),
                                                       ("PLANNING", "Planning"))),
    ("ASSETTYPE", "ALN", "Asset Types", "UPPER", (("FACILITIES", "Facilities"), ("FLEET", "Fleet"),
                                                   ("PRODUCTION", "Production"), ("IT", "Information Technology"))),
    ("COUNTRY", "ALN", "Countries", "ALN", (("US", "United States"), ("CA", "Canada"), ("CI", "Côte d’Ivoire"))),
    ("PRIORITY", "NUMERIC", "Priorities", "INTEGER", tuple((n, f"Priority {n}") for n in range(1, 6))),
    ("RISKFACTOR", "NUMERIC", "Risk Factors", "DECIMAL", ((0.5, "Low"), (1.0, "Normal"), (1.5, "High"),
                                                          (2.25, "Severe"))),
)
_CHILD_OF_TYPE = {"SYNONYM": "synonymdomain", "ALN": "alndomain", "NUMERIC": "numericdomain"}


def _build_domains(seed: int) -> list[tuple[dict[str, Any], dict]]:
    rows = []
    for n, (domainid, kind, text, maxtype, values) in enumerate(_DOMAINS):
        attrs = {"domainid": domainid, "domaintype": kind, "description": text, "maxtype": maxtype,
                 "length": 12 if kind != "NUMERIC" else 8, "scale": 2 if maxtype == "DECIMAL" else None,
                 "maxdomainid": 50 + n * 7 + stable_int(seed, "domain", domainid) % 5}
        if kind == "SYNONYM":
            children = [{"value": v, "maxvalue": v, "description": d, "defaults": True, "siteid": None}
                        for v, d in values]
        else:
            children = [{"value": v, "description": d} for v, d in values]
        rows.append((attrs, {_CHILD_OF_TYPE[kind]: children}))
    return rows


_FIRST = ("Mike", "Sarah", "John", "Maria", "Wei", "Priya", "Jose", "Anne", "Tom", "Zoë", "Ahmed", "Linda")
_LAST = ("Wilson", "Smith", "Garcia", "Nguyen", "Johnson", "Brown", "O'Neil", "Müller", "Patel", "Kim", "Lopez",
         "Davis", "Martin", "Clark")


def _build_people(seed: int, sites: Sequence[str], groups: list[str]) -> list[tuple[dict[str, Any], dict]]:
    rng = random.Random(stable_int(seed, "people"))
    rows, seen = [], set()
    while len(rows) < max(6, 3 * len(sites)):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        base = "".join(c for c in last.upper() if c.isalnum())[:8]
        personid = base if base not in seen else f"{base}{len(rows)}"
        seen.add(personid)
        login = personid.lower()
        has_user = rng.random() < 0.85
        status = "ACTIVE" if rng.random() < 0.9 else "INACTIVE"
        attrs = {"personid": personid, "displayname": f"{first} {last}", "firstname": first, "lastname": last,
                 "status": status,
                 "primaryemail": _maybe(rng, f"{first.lower()}.{login}@example.com", 0.25),
                 "personuid": 400 + len(rows)}
        children = {
            "user": [{"loginid": login, "userid": personid, "status": status,
                      "defsite": rng.choice(list(sites)) if sites else None}] if has_user else [],
            "groupuser": [{"groupname": g, "groupuserid": 900 + len(rows) * 10 + n}
                          for n, g in enumerate(rng.sample(groups, rng.randint(1, 3)))] if has_user else [],
        }
        rows.append((attrs, children))
    return rows
