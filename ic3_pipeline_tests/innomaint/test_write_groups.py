"""The write path writes several assets per transaction, each under its own savepoint: a bad asset is rolled back
alone and recorded as failed, its siblings in the same transaction stay written."""

import asyncio
import json
from dataclasses import replace

import pytest
from sqlalchemy import event, func, select

from ic3_pipeline.connectors.innomaint.records import parse_asset_detail, parse_body
from ic3_pipeline.http_client import HttpPolicy
from ic3_pipeline.sync.attempts import SyncContext, store_group
from ic3_pipeline.sync.batch import sync_assets
from ic3_pipeline.sync.connector import Credentials, FetchOutcome
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint.conftest import TOKEN
from ic3_pipeline_tests.sources import INNOMAINT, inconsistent

CONTEXT = SyncContext(source=INNOMAINT.source, sync_type=INNOMAINT.connector_name, batch_id="groups")


def success(pipeline, asset_id: str, **data_changes) -> FetchOutcome:
    document = pipeline.simulator.expected_record(asset_id)
    document["response"]["data"].update(data_changes)
    body = json.dumps(document).encode()
    return FetchOutcome(asset_id, "success", 1, 200, record=parse_asset_detail(parse_body(body), asset_id), body=body)


def states(engine) -> dict[str, str]:
    asset, state = tables.asset_master, tables.sync_state
    with engine.connect() as conn:
        return dict(conn.execute(select(asset.c.cmms_asset_id, state.c.last_sync_status)
                                 .join(state, state.c.asset_id == asset.c.asset_id)).all())


def test_an_asset_gone_from_the_register_is_recorded_alone_in_its_group(pipeline):
    first, second = pipeline.asset_ids[:2]
    gone = replace(success(pipeline, first), asset_id="NOT-IN-THE-REGISTER")  # removed while in flight
    group = [success(pipeline, first), gone, success(pipeline, second)]
    store_group(pipeline.engine, INNOMAINT.connector, group, CONTEXT)
    assert states(pipeline.engine) == {first: "success", second: "success"}
    assert [o.status for o in group] == ["success", "error", "success"]
    assert group[1].error == "asset no longer in ic3_asset_master"
    with pipeline.engine.connect() as conn:
        logged = dict(conn.execute(select(tables.sync_log.c.serialnumber, tables.sync_log.c.status)).all())
    assert logged == {first: "success", "NOT-IN-THE-REGISTER": "error", second: "success"}
    assert inconsistent(pipeline.engine) == []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_rows_the_database_refuses_fail_that_asset_only(pipeline):
    """PostgreSQL refuses a value longer than its column (``criticality`` holds 64 characters): that asset's
    savepoint is rolled back and it is recorded as failed with the database's reason; its siblings are written."""
    first, victim, last = pipeline.asset_ids[:3]
    group = [success(pipeline, first), success(pipeline, victim, criticality="C" * 500), success(pipeline, last)]
    store_group(pipeline.engine, INNOMAINT.connector, group, CONTEXT)
    assert states(pipeline.engine) == {first: "success", victim: "error", last: "success"}
    assert group[1].error.startswith("the database refused this asset's rows: value too long")
    with pipeline.engine.connect() as conn:
        master = conn.execute(select(tables.asset_master.c.sync_version, tables.asset_master.c.last_sync_error)
                              .where(tables.asset_master.c.cmms_asset_id == victim)).one()
        performance = conn.execute(select(func.count()).select_from(tables.asset_performance)).scalar_one()
    assert master.sync_version == 0 and "value too long" in master.last_sync_error  # nothing of it was written
    assert performance == 2
    assert inconsistent(pipeline.engine) == []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_an_over_long_value_is_refused_not_cut_short(pipeline):
    """PostgreSQL gets a group's rows as one array per column: a value longer than its column (``mttr`` holds 32
    characters) must still be refused whole — an explicit cast to VARCHAR(32) would have cut it to 32 in silence."""
    first, victim = pipeline.asset_ids[:2]
    document = pipeline.simulator.expected_record(victim)
    document["response"]["performance"]["mttr"] = "1" * 40 + ":00:00"
    body = json.dumps(document).encode()
    long_mttr = FetchOutcome(victim, "success", 1, 200, record=parse_asset_detail(parse_body(body), victim), body=body)
    group = [success(pipeline, first), long_mttr]
    store_group(pipeline.engine, INNOMAINT.connector, group, CONTEXT)
    assert states(pipeline.engine) == {first: "success", victim: "error"}
    assert group[1].error.startswith("the database refused this asset's rows: value too long")
    with pipeline.engine.connect() as conn:
        stored = conn.execute(select(tables.asset_performance.c.cmms_asset_id, tables.asset_performance.c.mttr)).all()
    assert [cmms_id for cmms_id, _ in stored] == [first]
    assert inconsistent(pipeline.engine) == []


def test_a_fast_batch_commits_many_assets_per_transaction(pipeline):
    """When answers arrive faster than one transaction each could keep up with, they are written in groups: fewer
    commits than assets, every asset written exactly once."""
    engine = pipeline.engine
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    connector = INNOMAINT.connector
    client = connector.open_client(pipeline.simulator.base_url, Credentials({"token": TOKEN}, {}),
                                   HttpPolicy(initial_rate=1000.0, concurrency=32))

    async def run():
        async with client:
            return await sync_assets(client, connector, engine, pipeline.asset_ids, context=CONTEXT)

    report = asyncio.run(run())
    assert report.synced == len(pipeline.asset_ids)
    assert len(commits) < len(pipeline.asset_ids)
    assert set(states(engine).values()) == {"success"} and len(states(engine)) == len(pipeline.asset_ids)
    assert inconsistent(engine) == []


def test_a_mixed_group_keeps_each_assets_own_history(pipeline):
    """Successes, errors and 404s in one group: each asset's state is its own — a failure keeps the version and the
    last-synced time of its earlier success and counts up its failures; a 404 resets them; successes bump."""
    a, b, c = pipeline.asset_ids[:3]
    store_group(pipeline.engine, INNOMAINT.connector, [success(pipeline, x) for x in (a, b, c)], CONTEXT)
    group = [FetchOutcome(a, "error", 3, 503, error="HTTP 503 after 3 attempts"),
             FetchOutcome(b, "not_found", 1, 404, error="not found in Innomaint (HTTP 404)"),
             success(pipeline, c)]
    store_group(pipeline.engine, INNOMAINT.connector, group, CONTEXT)
    store_group(pipeline.engine, INNOMAINT.connector, [FetchOutcome(a, "error", 3, 503, error="again")], CONTEXT)
    asset, state = tables.asset_master, tables.sync_state
    with pipeline.engine.connect() as conn:
        rows = {r.cmms_asset_id: r for r in conn.execute(
            select(asset.c.cmms_asset_id, state.c.sync_version, state.c.last_sync_status, state.c.consecutive_failures,
                   state.c.last_synced_at, state.c.last_sync_error, asset.c.sync_version.label("master_version"),
                   asset.c.consecutive_failures.label("master_failures"))
            .join(state, state.c.asset_id == asset.c.asset_id))}
    assert (rows[a].sync_version, rows[a].last_sync_status, rows[a].consecutive_failures, rows[a].last_sync_error) == (
        1, "error", 2, "again")
    assert rows[a].last_synced_at is not None  # the earlier success's time stays
    assert (rows[b].sync_version, rows[b].last_sync_status, rows[b].consecutive_failures) == (1, "not_found", 0)
    assert (rows[c].sync_version, rows[c].last_sync_status) == (2, "success")
    assert all(r.master_version == r.sync_version and r.master_failures == r.consecutive_failures
               for r in rows.values())  # the users' columns mirror the state
    assert inconsistent(pipeline.engine) == []
