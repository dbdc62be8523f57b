"""The maintenance records behind the UpKeep, Fiix, SAP PM and in-house simulators, in one neutral form.

Each simulator renders these records in its own API's shape (field names, ids, status codes, date formats); the
records themselves say what the source *means*: an asset's code and serial number, a work order's status among
``open``, ``in_progress``, ``on_hold``, ``completed``, ``cancelled``, its priority 1 (highest) … 5 and its work type,
a schedule's interval in days. So a test can compare what a client landed with ``records()`` after the client's
own mapping, and with ``truth()`` (the API's shape) before it.

Built from nothing but the seed, the sites and the sizes, or from a register (asset id -> site): then each asset's
code *is* the register's asset id, so a matching rule on the asset code links the CMMS's assets to the register.
Nothing here may import the product's connectors, sync engine or components: a bug shared by both would hide itself.

Every value is a pure function of those inputs until a test changes the data: ``change`` edits records and moves
their ``updated_at`` past every earlier one (incremental reads must see them), ``delete`` removes records (a full
read must notice they are gone), ``mark_deleted`` flags them (an incremental read sees the flag), ``add`` creates one (as a client's write-back does).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ic3_pipeline.sandbox.innomaint_data import stable_int

#: Fixed "now" of the generated data (the wall clock would break byte-identical answers).
AS_OF = datetime(2026, 3, 19, 9, 30, tzinfo=timezone.utc)

COLLECTIONS: tuple[str, ...] = ("assets", "work_orders", "schedules")
WORK_STATUSES: tuple[str, ...] = ("open", "in_progress", "on_hold", "completed", "cancelled")
WORK_TYPES: tuple[str, ...] = ("preventive", "corrective", "emergency", "inspection", "other")
PRIORITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

Record = dict[str, Any]

_EQUIPMENT = (
    ("PMP", "Centrifugal Pump", "Pumps", ("Grundfos", "CR 15-4"), ("KSB", "Etanorm 65-200")),
    ("AHU", "Air Handling Unit", "HVAC", ("Carrier", "39HQ"), ("Daikin", "D-AHU Pro")),
    ("CHL", "Chiller", "HVAC", ("Trane", "RTAC 300"), ("York", "YVAA 300TR")),
    ("GEN", "Diesel Generator", "Electrical", ("Cummins", "C500D5"), ("Kirloskar", "KG1-500")),
    ("CMP", "Air Compressor", "Pneumatics", ("Atlas Copco", "GA 37"), ("Ingersoll Rand", "R37i")),
    ("CNV", "Conveyor Drive", "Production", ("SEW", "MOVIGEAR"), ("Siemens", "Simogear")),
    ("TRF", "Transformer", "Electrical", ("ABB", "1000kVA ONAN"), ("Siemens", "GEAFOL 630")),
    ("FRK", "Forklift", "Fleet", ("Toyota", "8FGU25"), ("Linde", "H25")),
)
_WO_TEXT = {
    "preventive": ("Quarterly lubrication", "Replace air filters", "Annual service", "Belt tension check"),
    "corrective": ("Repair leaking seal", "Replace worn bearing", "Fix intermittent trip", "Réparer la vanne – fuite"),
    "emergency": ("No power - urgent", "Overheating alarm", "Motor seized"),
    "inspection": ("Safety inspection", "Thermographic survey", "Vibration readings"),
    "other": ("Relabel panel", "Update drawings"),
}
_PM_TEXT = ("Lubrication round", "Filter change", "Annual inspection", "Belt and coupling check", "Oil analysis")
_INTERVALS = (7, 14, 30, 30, 90, 90, 180, 365)


def _at(rng: random.Random, days_back_max: int, days_back_min: int = 0) -> datetime:
    """A past instant, to the second, within the given number of days before AS_OF."""
    return AS_OF - timedelta(seconds=rng.randint(days_back_min * 86400, days_back_max * 86400))


class CmmsDataset:
    """The simulated CMMS's database: assets, work orders and schedules, current state, safe across threads.

    ``work_statuses`` and ``priorities`` are the neutral values this CMMS can express (UpKeep has no cancelled
    status and four priorities), so every record a simulator renders maps back to exactly one neutral value.
    Ids are integers from 1 per collection, in creation order; every list is in id order.
    """

    def __init__(
        self,
        *,
        seed: int,
        sites: Sequence[str] = ("North Plant", "South Plant"),
        assets_per_site: int = 25,
        register: Mapping[str, str] | None = None,
        work_statuses: Sequence[str] = WORK_STATUSES,
        priorities: Sequence[int] = PRIORITIES,
    ) -> None:
        if not set(work_statuses) <= set(WORK_STATUSES) or not set(priorities) <= set(PRIORITIES):
            raise ValueError("work_statuses and priorities must come from the neutral sets")
        self.seed = seed
        self.lock = threading.RLock()
        self.work_statuses, self.priorities = tuple(work_statuses), tuple(priorities)
        if register:
            plan = sorted(register.items(), key=lambda item: (item[1], item[0]))
            self.sites = tuple(sorted({site for _, site in plan}))
        else:
            self.sites = tuple(sites)
            plan = [(None, site) for site in self.sites for _ in range(assets_per_site)]
        if not self.sites or not plan:
            raise ValueError("a dataset needs at least one site and one asset")
        self._tables: dict[str, dict[int, Record]] = {name: {} for name in COLLECTIONS}
        self._next_id = {name: 1 for name in COLLECTIONS}
        self._changes = 0
        self.version = 0
        self._latest = AS_OF
        self._generate(plan)
        self._latest = max(r["updated_at"] for table in self._tables.values() for r in table.values())

    # -- generation ----------------------------------------------------------------------------------

    def _generate(self, plan: list[tuple[str | None, str]]) -> None:
        per_site: dict[str, int] = {}
        for register_id, site in plan:
            per_site[site] = per_site.get(site, 0) + 1
            self._new_asset(register_id, site, per_site[site])
        assets = list(self._tables["assets"].values())
        for asset in assets:
            rng = random.Random(stable_int(self.seed, "asset-work", asset["code"]))
            schedule = self._new_schedule(asset, rng) if rng.random() < 0.5 else None
            for _ in range(rng.choice((1, 2, 2, 3))):
                order = self._new_work_order(asset, rng)
                if schedule is not None and order["work_type"] == "preventive":
                    order["schedule_id"] = schedule["id"]

    def _insert(self, collection: str, record: Record) -> Record:
        record.setdefault("marked_deleted", False)
        record["id"] = self._next_id[collection]
        self._next_id[collection] += 1
        self._tables[collection][record["id"]] = record
        return record

    def _new_asset(self, register_id: str | None, site: str, nth: int) -> Record:
        rng = random.Random(stable_int(self.seed, "asset", site, nth, register_id or ""))
        prefix, kind, category, *models = _EQUIPMENT[rng.randrange(len(_EQUIPMENT))]
        make, model = rng.choice(models)
        site_no = self.sites.index(site)
        code = register_id or f"{''.join(w[0] for w in site.split())[:3].upper()}-{prefix}-{nth:03d}"
        created = _at(rng, 2000, 400)
        return self._insert("assets", {
            "code": code,
            "name": f"{kind} {nth:02d} - {site}",
            "site": site,
            "site_no": site_no,
            "category": category,
            "make": make,
            "model": model,
            "serial_number": f"{make[:2].upper()}{stable_int(self.seed, 'serial', code) % 10**8:08d}",
            "active": rng.random() > 0.08,
            "parent_id": None,
            "created_at": created,
            "updated_at": _at(rng, 399, 1),
        })

    def _new_work_order(self, asset: Record | None, rng: random.Random, **given: Any) -> Record:
        work_type = given.get("work_type") or rng.choice(WORK_TYPES[:4] * 3 + WORK_TYPES[4:])
        status = given.get("status") or rng.choice(self.work_statuses)
        created = given.get("created_at") or _at(rng, 360, 2)
        due = given.get("due_at", created + timedelta(days=rng.choice((1, 3, 7, 14, 30))))
        completed = created + timedelta(hours=rng.randint(2, 24 * 20)) if status == "completed" else None
        updated = given.get("updated_at") or min(AS_OF, max(created, completed or created) + timedelta(hours=rng.randint(0, 48)))
        return self._insert("work_orders", {
            "title": given.get("title") or rng.choice(_WO_TEXT[work_type]),
            "description": given.get("description", f"Raised for {asset['name']}" if asset else "General work"),
            "status": status,
            "priority": given.get("priority") or rng.choice(self.priorities),
            "work_type": work_type,
            "asset_id": asset["id"] if asset else None,
            "site": given.get("site") or (asset["site"] if asset else self.sites[0]),
            "site_no": self.sites.index(given.get("site") or (asset["site"] if asset else self.sites[0])),
            "schedule_id": None,
            "created_at": created,
            "due_at": due,
            "completed_at": completed,
            "updated_at": updated,
        })

    def _new_schedule(self, asset: Record, rng: random.Random) -> Record:
        interval = rng.choice(_INTERVALS)
        last_done = _at(rng, interval, 0) if rng.random() > 0.15 else None
        next_due = (last_done or AS_OF) + timedelta(days=interval)
        return self._insert("schedules", {
            "title": f"{rng.choice(_PM_TEXT)} - {asset['name']}",
            "asset_id": asset["id"],
            "site": asset["site"],
            "site_no": asset["site_no"],
            "interval_days": interval,
            "next_due_at": next_due,
            "last_done_at": last_done,
            "active": rng.random() > 0.1,
            "created_at": asset["created_at"] + timedelta(days=rng.randint(1, 30)),
            "updated_at": _at(rng, 200, 1),
        })

    # -- reading -------------------------------------------------------------------------------------

    def records(self, collection: str) -> list[Record]:
        """Copies of the current records in id order."""
        table = self._table(collection)
        with self.lock:
            return [dict(record) for record in table.values()]

    def get(self, collection: str, record_id: int) -> Record | None:
        with self.lock:
            record = self._table(collection).get(record_id)
            return dict(record) if record is not None else None

    def snapshot(self, collection: str) -> tuple[int, list[Record]]:
        """The dataset's version and the current records (shared, never mutated: records are replaced on change)."""
        table = self._table(collection)
        with self.lock:
            return self.version, list(table.values())

    # -- changing ------------------------------------------------------------------------------------

    def _tick(self) -> datetime:
        """A change time after every earlier one: the wall clock, or 1 s past the latest if the clock is behind."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        self._latest = max(now, self._latest + timedelta(seconds=1))
        return self._latest

    def change(self, collection: str, count: int = 1, ids: Iterable[int] | None = None,
               site: str | None = None) -> list[int]:
        """Edit ``count`` drawn records (or those named): a field changes and ``updated_at`` moves to now.

        Which records is drawn from the seed and the number of changes so far, so a test is repeatable.
        """
        table = self._table(collection)
        with self.lock:
            chosen = self._choose(table, ids, count, site, "change")
            when = self._tick()
            for record_id in chosen:
                self._changes += 1
                table[record_id] = _edited(collection, dict(table[record_id]), self._changes, when,
                                           self.work_statuses)
            self.version += 1
            return chosen

    def delete(self, collection: str, ids: Iterable[int] | None = None, count: int | None = None,
               site: str | None = None) -> list[int]:
        """Remove the named records (those that exist) or ``count`` drawn ones; returns the ids removed."""
        if (ids is None) == (count is None):
            raise ValueError("give either ids or count")
        table = self._table(collection)
        with self.lock:
            chosen = self._choose(table, ids, count or 0, site, "delete")
            for record_id in chosen:
                del table[record_id]
            self.version += 1
            return chosen

    def mark_deleted(self, collection: str, ids: Iterable[int] | None = None, count: int | None = None) -> list[int]:
        """Flag records as deleted without removing them (``marked_deleted``, ``updated_at`` now), as CMMSs that
        keep a deletion flag do; returns the ids flagged (those already flagged are left alone)."""
        if (ids is None) == (count is None):
            raise ValueError("give either ids or count")
        table = self._table(collection)
        with self.lock:
            live = {i: r for i, r in table.items() if not r["marked_deleted"]}
            chosen = self._choose(live, ids, count or 0, None, "mark-deleted")
            when = self._tick()
            for record_id in chosen:
                table[record_id] = {**table[record_id], "marked_deleted": True, "updated_at": when}
            self.version += 1
            return chosen

    def add_work_order(self, **values: Any) -> Record:
        """Create a work order as an API write would (neutral values; missing ones drawn), updated now."""
        unknown = set(values) - {"title", "description", "status", "priority", "work_type", "asset_id", "site",
                                 "due_at"}
        if unknown:
            raise ValueError(f"unknown work order fields {sorted(unknown)}")
        with self.lock:
            asset = self._tables["assets"].get(values.pop("asset_id")) if values.get("asset_id") else None
            values.pop("asset_id", None)
            now = self._tick()
            rng = random.Random(stable_int(self.seed, "new-wo", self._next_id["work_orders"]))
            values.setdefault("status", "open")
            record = self._new_work_order(asset, rng, created_at=now, updated_at=now, **values)
            self.version += 1
            return dict(record)

    def _choose(self, table: dict[int, Record], ids: Iterable[int] | None, count: int, site: str | None,
                purpose: str) -> list[int]:
        if ids is not None:
            return [i for i in (int(x) for x in ids) if i in table]
        candidates = [i for i, r in table.items() if site is None or r["site"] == site]
        candidates.sort(key=lambda i: stable_int(self.seed, purpose, self._changes, len(table), i))
        return sorted(candidates[: max(0, count)])

    def _table(self, collection: str) -> dict[int, Record]:
        table = self._tables.get(collection)
        if table is None:
            raise KeyError(f"no collection {collection!r}; known: {list(COLLECTIONS)}")
        return table


def _edited(collection: str, record: Record, nth: int, when: datetime, statuses: Sequence[str]) -> Record:
    """The record after one edit in the CMMS: a work order moves on, an asset is renamed, a schedule is done."""
    if collection == "work_orders":
        flow = [s for s in ("open", "in_progress", "on_hold", "completed") if s in statuses]
        current = record["status"]
        record["status"] = flow[(flow.index(current) + 1) % len(flow)] if current in flow else flow[0]
        record["completed_at"] = when if record["status"] == "completed" else None
    elif collection == "assets":
        record["name"] = f"{record['name'].split(' (rev ')[0]} (rev {nth})"
        if nth % 3 == 0:
            record["active"] = not record["active"]
    else:
        record["last_done_at"] = when
        record["next_due_at"] = when + timedelta(days=record["interval_days"])
    record["updated_at"] = when
    return record
