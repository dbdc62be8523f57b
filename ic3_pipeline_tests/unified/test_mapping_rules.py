"""What a mapping makes of records: paths into nested records, constants, concatenations, conditions, maps with
defaults, required fields, the columns' own checks, lookups into the register; and the writer on SQLite and
PostgreSQL: a page replaces its records' unified rows and errors, a repeated source_id is an error, not a crash."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select

from ic3_pipeline.sync.mapping import MappingConfigError, compile_mapping
from ic3_pipeline.sync.unified_writer import UnifiedWriter
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc, utc_now
from ic3_pipeline.warehouse.unified_tables import cmms_asset, cmms_maintenance_schedule, mapping_error

SCHEDULE = {
    "table": "cmms_maintenance_schedule",
    "source_id": {"concat": ["plant", {"const": "PM"}, "id"], "separator": "-"},
    "fields": {
        "title": {"path": "text.en", "steps": ["trim"], "default": "(untitled)"},
        "asset_source_id": {"path": "assets.0.code"},
        "interval_days": {"when": [
            {"if": {"path": "unit", "equals": "WEEK"}, "then": {"path": "every", "steps": [{"multiply": 7}]}},
            {"if": {"path": "unit", "in": ["DAY", "D"]}, "then": {"path": "every", "steps": ["float"]}},
        ]},
        "interval_meter": {"when": [{"if": {"all": [{"path": "unit", "matches": "^(HRS|KM)$"},
                                                    {"path": "every", "exists": True}]},
                                     "then": {"path": "every"}}]},
        "next_due_at": {"path": "next", "steps": ["date"]},
        "last_done_at": {"path": "last", "steps": [{"date": "epoch_ms"}]},
        "active": {"when": [{"if": {"any": [{"path": "state", "not_in": ["ACTIVE", "RUNNING"]},
                                            {"path": "deleted", "equals": True}]}, "then": False}],
                   "else": True},
    },
}


def test_a_schedule_maps_through_every_kind_of_source():
    mapping = compile_mapping(SCHEDULE)
    mapped = mapping.map_record({
        "plant": "1000", "id": 7, "text": {"en": "  Lubricate  "}, "assets": [{"code": "EQ-1"}, {"code": "EQ-2"}],
        "unit": "WEEK", "every": "2", "next": "/Date(1700000000000+0100)/", "last": 1690000000000,
        "state": "ACTIVE", "deleted": False})
    assert mapped.failures == []
    assert mapped.source_id == "1000-PM-7"
    assert mapped.row == {
        "title": "Lubricate", "asset_source_id": "EQ-1", "interval_days": 14.0, "interval_meter": None,
        "next_due_at": datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc),
        "last_done_at": datetime(2023, 7, 22, 4, 26, 40, tzinfo=timezone.utc), "active": True}

    other = mapping.map_record({"plant": "1000", "id": 8, "unit": "HRS", "every": 250, "state": "INACTIVE",
                                "assets": []})
    assert other.failures == []
    assert other.row["title"] == "(untitled)"  # missing: the default
    assert other.row["asset_source_id"] is None  # a list index past the end: missing
    assert (other.row["interval_days"], other.row["interval_meter"], other.row["active"]) == (None, 250.0, False)

    no_id = mapping.map_record({"id": 9})  # a concat part missing: no source_id at all
    assert [(f.field, f.transform) for f in no_id.failures] == [("source_id", "required")]


def test_map_default_required_and_the_columns_own_checks():
    mapping = compile_mapping({"table": "cmms_work_order", "source_id": {"path": "id", "steps": ["trim"]}, "fields": {
        "status": {"path": "st", "map": {"O": "open", "X": "cancelled"}, "default": "open"},
        "work_type": {"path": "kind", "map": {"1": "preventive"}},
        "priority": {"path": "prio"},
        "title": {"path": "name", "required": True},
        "due_at": {"path": "due"},
    }})
    good = mapping.map_record({"id": " 1 ", "st": "Z", "kind": 1, "prio": "2", "name": "x",
                               "due": "2024-01-01T00:00:00+01:00"})
    assert good.failures == [] and good.source_id == "1"
    assert good.row == {"status": "open", "work_type": "preventive", "priority": 2, "title": "x",
                        "due_at": datetime(2023, 12, 31, 23, 0, tzinfo=timezone.utc)}
    assert mapping.map_record({"id": "2", "name": "x", "st": ""}).row["status"] == "open"  # empty: the default

    bad = mapping.map_record({"id": "3", "kind": 2, "prio": 9, "due": "tomorrow"})
    assert {(f.field, f.transform, f.message) for f in bad.failures} == {
        ("work_type", "map", "2 is not in the map (1) and the map has no default"),
        ("priority", "cmms_work_order.priority", "9 is not one of 1, 2, 3, 4, 5: map it to one of them (a `map` "
                                                 "with a `default`)"),
        ("title", "required", "is required but the record has no value for it"),
        ("due_at", "cmms_work_order.due_at", "'tomorrow' is not an ISO 8601 date; add a `date` step with its format "
                                             "(the column holds dates)"),
    }
    assert {f.field: f.value for f in bad.failures}["due_at"] == "tomorrow"
    nested = mapping.map_record({"id": "4", "name": {"en": "x"}})
    assert [(f.field, f.message) for f in nested.failures] == [
        ("title", "{'en': 'x'} is a record, not a single value: give a path to one of its fields (the column holds "
                  "text)")]


@pytest.mark.parametrize(("block", "path", "message"), [
    ({"table": "cmms_asset", "fields": {}}, "", "`source_id` is required"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"name": {}}}, "fields.name",
     "a field takes its value from exactly one of path, const, concat, when or lookup"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"name": {"path": "a..b"}}}, "fields.name.path",
     "path 'a..b' must be attribute names joined by dots"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"name": {"path": "a", "else": "x"}}},
     "fields.name", "`else` belongs with `when`"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"ic3_asset_id": {"lookup": {
        "master": "ic3_asset_master", "match": [{"path": "s", "column": "cmms_asset_id"}]}, "steps": ["int"]}}},
     "fields.ic3_asset_id", "a lookup gives the master's id as it is: no `steps` or `map` after it"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"ic3_asset_id": {"lookup": {
        "master": "ic3_pump_master", "match": [{"path": "s", "column": "x"}]}}}},
     "fields.ic3_asset_id.lookup.master", "unknown master 'ic3_pump_master'; lookups read: ic3_asset_master"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"ic3_asset_id": {"lookup": {
        "match": [{"field": "serial", "column": "cmms_asset_id"}]}}}},
     "fields.ic3_asset_id.lookup.match.0.field", "'serial' is not a mapped field of this table"),
    ({"table": "cmms_work_order", "source_id": {"path": "id"}, "fields": {"status": {"when": [
        {"if": {"path": "a", "exists": True}, "then": "closed"}]}}}, "fields.status.when.0.then",
     "'closed' is not a value of status"),
    ({"table": "cmms_work_order", "source_id": {"path": "id"}, "fields": {"status": {"when": [
        {"if": {"path": "a", "equals": 1, "in": [1]}, "then": "open"}]}}}, "fields.status.when.0.if",
     "a condition has exactly one test"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"name": {"path": "a", "steps": [
        {"extract": "(x"}]}}}, "fields.name.steps.0", "bad regular expression '(x'"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"name": "description"}}, "fields.name",
     "must be a mapping (key: value), not 'description'; a field is written like {path: description, steps: [trim]}"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"name": {"path": "a", "steps": "trim"}}},
     "fields.name.steps", "must be a list (`[a, b]`), not 'trim'"),
    ({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {"name": {"path": "a"}}, "filter": 1}, "filter",
     "unknown key 'filter'"),
    ({"source_id": {"path": "id"}}, "table", "`table` is required"),
])
def test_a_mistake_names_its_key_path(block, path, message):
    with pytest.raises(MappingConfigError) as raised:
        compile_mapping(block)
    assert raised.value.dotted == path
    assert message in raised.value.message, raised.value.message


def test_the_writer_replaces_rows_and_errors_and_resolves_lookups(engine):
    with engine.begin() as conn:
        for serial in ("SN-1", "SN-2", "sn-2"):
            conn.execute(insert(tables.asset_master).values(cmms_asset_id=serial))
        ids = dict(conn.execute(select(tables.asset_master.c.cmms_asset_id, tables.asset_master.c.asset_id)).all())
    mapping = compile_mapping({"table": "cmms_asset", "source_id": {"path": "id"}, "fields": {
        "serial_number": {"path": "serial"},
        "source_updated_at": {"path": "changed", "steps": ["date"]},
        "ic3_asset_id": {"lookup": {"match": [{"field": "serial_number", "column": "cmms_asset_id"},
                                              {"path": "tag", "column": "cmms_asset_id"}]}},
    }})
    writer = UnifiedWriter(mapping, source="acme", stream="assets", partition="P1", run_id="run-1")
    first = utc_now()
    page = [(("a",), {"id": "A", "serial": "SN-1", "changed": "2024-01-01T00:00:00Z"}),
            (("b",), {"id": "B", "serial": "SN-2", "tag": " SN-1 "}),  # case counts: SN-2 is one row, not sn-2
            (("c",), {"id": "C", "serial": "nope", "tag": "SN-1"}),  # the second rule finds it
            (("d",), {"id": "D", "changed": "soon"}),  # a bad date: an error, no row
            (("e",), {"id": "A"})]  # the same source_id as a: an error, the first kept
    with engine.begin() as conn:
        figures = writer.write(conn, page, first)
    assert (figures.rows, figures.failed) == (3, 2)
    with engine.connect() as conn:
        rows = {r.source_id: r for r in conn.execute(select(cmms_asset))}
        errors = conn.execute(select(mapping_error).order_by(mapping_error.c.record_key)).all()
    assert {k: r.ic3_asset_id for k, r in rows.items()} == {"A": ids["SN-1"], "B": ids["SN-2"], "C": ids["SN-1"]}
    assert {(r._record_key, r._stream, r._partition) for r in rows.values()} == {
        ("a", "assets", "P1"), ("b", "assets", "P1"), ("c", "assets", "P1")}
    assert [(e.record_key, e.source_id, e.field, e.value, e.transform, e.run_id) for e in errors] == [
        ("d", "D", "source_updated_at", "soon", "date", "run-1"),
        ("e", "A", "source_id", "A", "unique", "run-1")]
    assert "also the record 'a' of this page" in errors[1].message

    # Read again: d is fixed, a now fails. The page replaces both records' rows and errors.
    later = utc_now()
    with engine.begin() as conn:
        writer.write(conn, [(("a",), {"id": "A", "changed": "never"}),
                            (("d",), {"id": "D", "changed": "2024-02-01T00:00:00+01:00"})], later)
    with engine.connect() as conn:
        rows = {r.source_id: r for r in conn.execute(select(cmms_asset))}
        errors = conn.execute(select(mapping_error.c.record_key, mapping_error.c.field)).all()
    assert set(rows) == {"B", "C", "D"}  # a's old row is gone, not left stale
    assert as_utc(rows["D"].source_updated_at) == datetime(2024, 1, 31, 23, 0, tzinfo=timezone.utc)
    assert sorted(errors) == [("a", "source_updated_at"), ("e", "source_id")]

    # A complete full read that started after `later` saw only D: the others are marked deleted, softly.
    seen_since = utc_now()
    with engine.begin() as conn:
        writer.write(conn, [(("d",), {"id": "D"})], utc_now())
    with engine.begin() as conn:
        marked = writer.mark_deleted(conn, seen_since, utc_now())
    with engine.connect() as conn:
        live = set(conn.execute(select(cmms_asset.c.source_id).where(cmms_asset.c._deleted_at.is_(None))).scalars())
    assert marked == 2 and live == {"D"}


def test_a_schedule_row_lands_in_its_table(engine):
    writer = UnifiedWriter(compile_mapping(SCHEDULE), source="sap", stream="plans", partition="", run_id=None)
    with engine.begin() as conn:
        writer.write(conn, [(("1",), {"plant": "1000", "id": 1, "unit": "D", "every": 30, "state": "RUNNING",
                                      "next": "2024-05-01"})], utc_now())
    with engine.connect() as conn:
        [row] = conn.execute(select(cmms_maintenance_schedule)).all()
    assert (row.source, row.source_id, row.interval_days, row.active, as_utc(row.next_due_at)) == (
        "sap", "1000-PM-1", 30.0, True, datetime(2024, 5, 1, tzinfo=timezone.utc))
