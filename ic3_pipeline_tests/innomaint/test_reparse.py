"""Re-parse: a parser change applied to the landed answers rebuilds the tables exactly as a fresh sync with that parser
would, without a single request to the API; a refused asset or a crash mid-way leaves each asset wholly old or new."""

from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ic3_pipeline.cli import main
from ic3_pipeline.connectors.innomaint import records, values
from ic3_pipeline.sync import reparse as reparse_module
from ic3_pipeline.sync.reparse import reparse_assets
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint.conftest import TOKEN
from ic3_pipeline_tests.sources import INNOMAINT, inconsistent

asset, performance, workorders = tables.asset_master, tables.asset_performance, tables.workorder_summary


def typed_tables(engine) -> dict[str, tuple]:
    """Every value a parser derives, per asset (versions and times left out: a re-parse stamps its own version)."""
    skip = {"id", "sync_version", "recorded_at", "updated_at", "last_synced_at", "last_attempt_at", "created_at"}
    with engine.connect() as conn:
        rows = {}
        for table, key in ((asset, "cmms_asset_id"), (performance, "cmms_asset_id")):
            columns = [c for c in table.columns if c.name not in skip]
            for row in conn.execute(select(*columns).where(table.c[key].is_not(None))):
                rows[(table.name, row._mapping[key])] = tuple(row)
        for row in conn.execute(select(*(c for c in workorders.columns if c.name not in skip))):
            rows[(workorders.name, row.cmms_asset_id, row.period_type)] = tuple(row)
    return rows


def versions(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(asset.c.cmms_asset_id, asset.c.sync_version)).all())


def mttr_hours(engine) -> dict[str, float | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(performance.c.cmms_asset_id, performance.c.mttr_hours)).all())


def in_minutes(value: object) -> float | None:
    hours = values.duration_hours(value)
    return None if hours is None else round(hours * 60, 6)


@pytest.fixture
def minutes_parser(monkeypatch):
    """The parser change under test: MTTR stored in minutes, criticality upper-cased."""

    def change():
        monkeypatch.setitem(records.PERFORMANCE_FIELDS, "mttr", ("mttr", "mttr_hours", in_minutes))
        monkeypatch.setitem(records.MASTER_FIELDS, "criticality",
                            ("criticality", lambda value: (values.text(value) or "").upper() or None))

    return change


def test_a_parser_change_rebuilds_the_tables_exactly_without_calling_the_api(pipeline, minutes_parser):
    engine = pipeline.engine
    assert pipeline.enrich().success
    old_tables, old_versions, old_mttr = typed_tables(engine), versions(engine), mttr_hours(engine)
    minutes_parser()
    pipeline.simulator.reset_stats()

    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None)

    assert pipeline.simulator.stats()["requests"] == 0  # not one call to the API
    n = len(pipeline.asset_ids)
    assert (report.due, report.rebuilt, report.refused, report.skipped) == (n, n, 0, 0)
    assert versions(engine) == {a: v + 1 for a, v in old_versions.items()}
    assert inconsistent(engine) == []
    reparsed = typed_tables(engine)
    assert reparsed != old_tables
    assert {a: m for a, m in mttr_hours(engine).items() if m} == {
        a: round(m * 60, 6) for a, m in old_mttr.items() if m}
    # Exactly what a sync with the changed parser writes: fetch everything again and compare every derived value.
    assert pipeline.enrich(config={"force": True}).success
    assert typed_tables(engine) == reparsed


def test_reparse_without_a_change_leaves_every_value_as_it_was(pipeline):
    engine = pipeline.engine
    assert pipeline.enrich(pipeline.partition_keys[:2]).success
    before = typed_tables(engine)
    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, pipeline.partition_keys[:1])
    assert 0 < report.rebuilt < len(pipeline.asset_ids) and report.refused == 0
    assert set(report.rebuilt_by_partition) == {pipeline.partition_keys[0]}
    assert typed_tables(engine) == before
    assert inconsistent(engine) == []


def test_an_asset_the_database_refuses_mid_reparse_keeps_its_old_rows(pipeline, minutes_parser, monkeypatch):
    """One asset's re-parsed rows break a constraint: it is rolled back alone (its rows and version as before) and
    reported; its siblings in the same transaction are rebuilt."""
    engine = pipeline.engine
    assert pipeline.enrich().success
    old_versions, old_mttr = versions(engine), mttr_hours(engine)
    victim = pipeline.asset_ids[5]
    minutes_parser()
    parse = records.parse_response

    def refused_for_victim(body, requested_id):
        record = parse(body, requested_id)
        if requested_id == victim:
            record.master["cmms_asset_id"] = None  # NOT NULL: the database refuses this asset's rows
        return record

    monkeypatch.setattr(records, "parse_response", refused_for_victim)
    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None)

    assert report.refused == 1 and report.rebuilt == len(pipeline.asset_ids) - 1
    assert report.refusals[0][0] == victim and "the database refused this asset's rows" in report.refusals[0][1]
    now_versions, now_mttr = versions(engine), mttr_hours(engine)
    assert now_versions[victim] == old_versions[victim] and now_mttr[victim] == old_mttr[victim]
    assert all(now_versions[a] == old_versions[a] + 1 for a in pipeline.asset_ids if a != victim)
    assert inconsistent(engine) == []


def test_a_crash_mid_reparse_leaves_each_asset_wholly_old_or_wholly_new(pipeline, minutes_parser, monkeypatch):
    engine = pipeline.engine
    assert pipeline.enrich().success
    old_versions, old_mttr = versions(engine), mttr_hours(engine)
    minutes_parser()
    monkeypatch.setattr(reparse_module, "GROUP", 25)
    write, calls = INNOMAINT.connector.write, []

    def crash_on_third_group(conn, items):
        calls.append(len(items))
        write(conn, items)  # the rows are sent, then the connection dies before the commit
        if len(calls) == 3:
            raise ConnectionResetError("server closed the connection unexpectedly")

    monkeypatch.setattr(INNOMAINT.connector, "write", crash_on_third_group)
    with pytest.raises(ConnectionResetError):
        reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None)
    monkeypatch.undo()  # the original parser and writer again…
    minutes_parser()  # …with the parser change

    now_versions, now_mttr = versions(engine), mttr_hours(engine)
    new = [a for a in pipeline.asset_ids if now_versions[a] == old_versions[a] + 1]
    old = [a for a in pipeline.asset_ids if now_versions[a] == old_versions[a]]
    assert len(new) == 50 and len(old) == len(pipeline.asset_ids) - 50  # two groups committed, the third not
    assert all(now_mttr[a] == in_minutes_of(old_mttr[a]) for a in new)
    assert all(now_mttr[a] == old_mttr[a] for a in old)
    assert inconsistent(engine) == []
    # Running it again finishes the job: every asset re-parsed from its landed answer, the first 50 once more.
    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None)
    assert report.rebuilt == len(pipeline.asset_ids) and report.refused == 0
    assert mttr_hours(engine) == {a: in_minutes_of(m) for a, m in old_mttr.items()}


def in_minutes_of(hours: float | None) -> float | None:
    return None if hours is None else round(hours * 60, 6)


def test_a_body_todays_parser_refuses_is_reported_and_left_alone(pipeline, monkeypatch):
    engine = pipeline.engine
    assert pipeline.enrich(pipeline.partition_keys[:1]).success
    before = typed_tables(engine)

    def strict_total(value):
        raise values.BadValue(f"{value!r} is not accepted any more")

    monkeypatch.setitem(records.PERFORMANCE_FIELDS, "total_ticket", ("total_ticket", None, strict_total))
    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None)
    assert report.rebuilt == 0 and report.refused == report.due > 0
    assert "field 'response.performance.total_ticket'" in report.refusals[0][1]
    assert typed_tables(engine) == before


def test_ic3_reparse_runs_a_dagster_run_and_says_what_it_did(pipeline, minutes_parser, cli_env):
    assert pipeline.enrich().success
    site = pipeline.partition_keys[0]
    with pipeline.engine.connect() as conn:
        in_site = conn.execute(
            select(tables.location_master.c.location_name, tables.location_master.c.location_id)
            .where(tables.location_master.c.partition_key == site)).one()
        count = len(conn.execute(select(asset.c.cmms_asset_id).where(asset.c.location_id == in_site.location_id)).all())
    old_mttr = mttr_hours(pipeline.engine)
    minutes_parser()
    pipeline.simulator.reset_stats()
    result = CliRunner().invoke(main, ["reparse", "innomaint", "--site", in_site.location_name],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"Done: {count:,} assets re-parsed" in result.output
    assert pipeline.simulator.stats()["requests"] == 0
    changed = [a for a, m in mttr_hours(pipeline.engine).items() if m != old_mttr[a]]
    assert 0 < len(changed) <= count
    assert TOKEN not in result.output


def test_money_survives_a_reparse_exactly(pipeline):
    engine = pipeline.engine
    assert pipeline.enrich(pipeline.partition_keys[:1]).success
    with engine.connect() as conn:
        before = dict(conn.execute(select(workorders.c.id, workorders.c.ticket_cost)).all())
    reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None)
    with engine.connect() as conn:
        after = dict(conn.execute(select(workorders.c.id, workorders.c.ticket_cost)).all())
    assert after == before and any(isinstance(v, Decimal) for v in after.values())
