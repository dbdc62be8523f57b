"""The re-parse's fast path: the landed bodies are left as they were (only their version moves), and worker processes
each re-parse a range of assets — the same tables as one process, no request to the API, refusals reported exactly,
and a database fault in one worker fails the whole re-parse with its message, each asset wholly old or new."""

from functools import partial

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from ic3_pipeline.cli import main
from ic3_pipeline.sync import reparse as reparse_module
from ic3_pipeline.sync.reparse import landed_keys, reparse_assets, split_keys
from ic3_pipeline.sync.reparse_workers import ReparseFailed
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint import worker_changes
from ic3_pipeline_tests.innomaint.conftest import TOKEN
from ic3_pipeline_tests.innomaint.test_reparse import in_minutes_of, mttr_hours, typed_tables, versions
from ic3_pipeline_tests.sources import INNOMAINT, inconsistent

raw = tables.raw_response


def in_key_order(engine) -> list[str]:
    """The assets in the database's order of their landed keys (its collation: how the ranges are cut)."""
    return landed_keys(engine, INNOMAINT.connector, INNOMAINT.source, None, None)


def landed_rows(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {row.cmms_asset_id: row for row in conn.execute(select(raw))}


@pytest.fixture
def small_workers(monkeypatch):
    """Worker processes even for the test register's 120 assets (a real re-parse starts one per 5,000)."""
    monkeypatch.setattr(reparse_module, "MIN_PER_WORKER", 1)


def test_the_landed_body_is_left_as_it_was_and_only_its_version_moves(pipeline):
    engine = pipeline.engine
    assert pipeline.enrich().success
    with engine.begin() as conn:  # a mark a rewrite would erase: the digest in capitals (the writer writes lower case)
        conn.execute(update(raw).values(payload_sha256=func.upper(raw.c.payload_sha256)))
    before, old_versions = landed_rows(engine), versions(engine)

    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None)

    assert report.rebuilt == len(pipeline.asset_ids)
    after = landed_rows(engine)
    assert after.keys() == before.keys()
    for asset_id, row in after.items():
        old = before[asset_id]
        assert (row.payload, row.payload_sha256, row.http_status, row.fetched_at) == (
            old.payload, old.payload_sha256, old.http_status, old.fetched_at)
        assert row.sync_version == old.sync_version + 1 == old_versions[asset_id] + 1
    assert inconsistent(engine) == []


def test_the_key_space_splits_into_disjoint_ranges_covering_every_key():
    keys = [f"A{i:03}" for i in range(10)]
    assert split_keys(keys, 3) == [(None, "A002"), ("A002", "A005"), ("A005", None)]
    assert split_keys(keys, 1) == [(None, None)]
    assert split_keys(keys[:2], 5) == [(None, "A000"), ("A000", None)]
    assert split_keys([], 4) == [(None, None)]


def test_two_workers_rebuild_the_same_tables_as_one_without_calling_the_api(pipeline, small_workers, monkeypatch):
    engine = pipeline.engine
    assert pipeline.enrich().success
    original, old_versions, old_mttr = typed_tables(engine), versions(engine), mttr_hours(engine)
    pipeline.simulator.reset_stats()

    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None, workers=2,
                            worker_setup=worker_changes.minutes_parser)

    assert pipeline.simulator.stats()["requests"] == 0
    n = len(pipeline.asset_ids)
    assert (report.workers, report.due, report.rebuilt, report.refused, report.skipped) == (2, n, n, 0, 0)
    assert versions(engine) == {a: v + 1 for a, v in old_versions.items()}
    assert mttr_hours(engine) == {a: in_minutes_of(m) for a, m in old_mttr.items()}  # every asset, in both ranges
    assert inconsistent(engine) == []
    by_workers = typed_tables(engine)
    assert by_workers != original

    for name, change in (("PERFORMANCE_FIELDS", "mttr"), ("MASTER_FIELDS", "criticality")):  # the same, in process
        source = getattr(worker_changes.records, name)
        monkeypatch.setitem(source, change, source[change])
    worker_changes.minutes_parser()
    one = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None, workers=1)
    assert (one.workers, one.rebuilt) == (1, n)
    assert one.rebuilt_by_partition == report.rebuilt_by_partition
    assert typed_tables(engine) == by_workers
    assert pipeline.simulator.stats()["requests"] == 0


def test_refusals_in_a_worker_are_reported_exactly(pipeline, small_workers):
    engine = pipeline.engine
    assert pipeline.enrich().success
    old_versions, old_mttr = versions(engine), mttr_hours(engine)
    victim = pipeline.asset_ids[-3]  # in the second range

    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None, workers=2,
                            worker_setup=partial(worker_changes.rows_refused_for, victim))

    assert (report.workers, report.refused, report.rebuilt) == (2, 1, len(pipeline.asset_ids) - 1)
    assert report.refusals[0][0] == victim and "the database refused this asset's rows" in report.refusals[0][1]
    now = versions(engine)
    assert now[victim] == old_versions[victim] and mttr_hours(engine)[victim] == old_mttr[victim]
    assert all(now[a] == old_versions[a] + 1 for a in pipeline.asset_ids if a != victim)
    assert inconsistent(engine) == []

    before = typed_tables(engine)
    refused = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None, workers=2,
                             worker_setup=worker_changes.strict_total_parser)
    assert refused.rebuilt == 0 and refused.refused == refused.due == len(pipeline.asset_ids)
    assert [asset_id for asset_id, _ in refused.refusals] == in_key_order(engine)[:reparse_module.MAX_LISTED]
    assert all("field 'response.performance.total_ticket'" in why for _, why in refused.refusals)
    assert typed_tables(engine) == before


def test_a_database_fault_in_one_worker_fails_the_reparse_with_its_message(pipeline, small_workers, monkeypatch):
    engine = pipeline.engine
    assert pipeline.enrich().success
    old_versions, old_mttr = versions(engine), mttr_hours(engine)
    monkeypatch.setattr(reparse_module, "GROUP", 10)  # the workers write groups of the caller's size
    keys = in_key_order(engine)
    second = keys[len(keys) // 2:]  # the second worker's range, 6 groups of 10 in this order
    victim = second[-5]  # in its last group

    with pytest.raises(ReparseFailed) as failed:
        reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None, workers=2,
                       worker_setup=partial(worker_changes.database_fault_at, victim))

    message = str(failed.value)
    assert "re-parse worker 2 of 2" in message and "ic3_no_such_function" in message
    assert "run the re-parse again" in message
    assert TOKEN not in message
    now = versions(engine)
    assert all(now[a] == old_versions[a] for a in second[50:])  # the victim's group rolled back…
    assert all(now[a] == old_versions[a] + 1 for a in second[:50])  # …the worker's earlier groups committed
    for asset_id in pipeline.asset_ids:  # each asset wholly old or wholly new
        assert now[asset_id] in (old_versions[asset_id], old_versions[asset_id] + 1)
    assert inconsistent(engine) == []
    # Running it again (without the fault) finishes the job.
    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None, workers=2)
    assert report.rebuilt == len(pipeline.asset_ids) and report.refused == 0
    assert versions(engine) == {a: v + 1 for a, v in now.items()}
    assert mttr_hours(engine) == old_mttr and inconsistent(engine) == []


def test_ic3_reparse_workers_runs_them_and_says_what_it_did(pipeline, small_workers, cli_env):
    assert pipeline.enrich().success
    old_versions = versions(pipeline.engine)
    pipeline.simulator.reset_stats()
    result = CliRunner().invoke(main, ["reparse", "innomaint", "--workers", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"Done: {len(pipeline.asset_ids):,} assets re-parsed" in result.output
    assert pipeline.simulator.stats()["requests"] == 0
    assert versions(pipeline.engine) == {a: v + 1 for a, v in old_versions.items()}
    assert CliRunner().invoke(main, ["reparse", "innomaint", "--workers", "0"]).exit_code == 2


def test_a_worker_process_that_dies_fails_the_reparse_each_asset_wholly_old_or_new(pipeline, small_workers):
    engine = pipeline.engine
    assert pipeline.enrich().success
    old_versions = versions(engine)
    victim = in_key_order(engine)[-5]

    with pytest.raises(ReparseFailed, match="ended abruptly"):
        reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None, workers=2,
                       worker_setup=partial(worker_changes.process_dies_at, victim))

    now = versions(engine)
    assert now[victim] == old_versions[victim]
    assert all(now[a] in (old_versions[a], old_versions[a] + 1) for a in pipeline.asset_ids)
    assert inconsistent(engine) == []
    report = reparse_assets(engine, INNOMAINT.connector, INNOMAINT.source, None, workers=2)
    assert report.rebuilt == len(pipeline.asset_ids) and inconsistent(engine) == []


def test_workers_default_to_the_cores_on_sqlite_and_to_one_on_postgresql():
    """A second writer only waited on the first one's locks on PostgreSQL (bench/README.md, "Re-parse, faster")."""
    import os

    from sqlalchemy import create_engine

    from ic3_pipeline.sync.reparse_workers import default_workers

    assert default_workers(create_engine("sqlite://")) == (os.cpu_count() or 1)
    assert default_workers(create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")) == 1  # never connects
