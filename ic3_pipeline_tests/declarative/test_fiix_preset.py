"""``defs/fiix/defs.yaml`` - Fiix declared in YAML only - against the Fiix simulator: HMAC-signed FindRequests in a
text body, startIndex/maxObjects on totalObjects, per site; full, incremental (a date filter added to the site's),
full with a deleted record, exact on SQLite and PostgreSQL, with faults and with throttling said in 200 bodies
(error 1100, the advised wait honoured)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, MetaData, Table, select

from ic3_pipeline.components.catalog import configured
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.sandbox.fiix_simulator import FiixSimConfig, FiixSimulator
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline.warehouse.stream_tables import column_name
from ic3_pipeline_tests.declarative.conftest import sync

SECRET_KEY = "fiix-secret-9c41e7-not-a-real-one"
SECRETS = {"app_key": "app-key-1", "access_key": "access-key-1", "secret_key": SECRET_KEY}
COLLECTIONS = {"assets": "Asset", "scheduled_maintenance": "ScheduledMaintenance", "work_orders": "WorkOrder"}
TRUTH = {"assets": "assets", "scheduled_maintenance": "schedules", "work_orders": "work_orders"}
SITES = ("1", "2")


def fiix_spec() -> CollectionSourceSpec:
    return next(spec for spec in configured()[1] if spec.source == "fiix")


@pytest.fixture
def simulator() -> Iterator[FiixSimulator]:
    sim = FiixSimulator(FiixSimConfig(app_key="app-key-1", access_key="access-key-1", secret_key=SECRET_KEY,
                                      assets_per_site=40, seed=3))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def fiix_engine(db_url) -> Iterator[Engine]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def assert_exact(engine: Engine, simulator: FiixSimulator, stream: str) -> None:
    truth = {str(record["id"]): record for record in simulator.truth(TRUTH[stream])}
    table = Table(f"fiix_{stream}", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = {row["id"]: dict(row) for row in conn.execute(select(table)).mappings()}
    assert {key for key, row in rows.items() if row["_deleted_at"] is None} == set(truth), stream
    for key, record in truth.items():
        for name in ("strName", "strCode", "intSiteID", "intWorkOrderStatusID", "intAssetID"):
            if name in record:
                assert rows[key][column_name(name)] == record[name], (stream, key, name)


def test_full_incremental_and_full_with_a_delete_are_exact(fiix_engine, simulator):
    spec = fiix_spec()
    simulator.configure(fault_rate=0.1, fault_kinds=("503", "500", "truncated"))
    names = [stream.name for stream in spec.ordered_streams]
    assert names == ["assets", "scheduled_maintenance", "work_orders"]
    for name in names:
        for site in SITES:
            synced = sync(spec, name, simulator.base_url, fiix_engine, SECRETS, partition=site, page_size=10)
            assert synced.report.mode == "full" and synced.report.passes == 1
        assert_exact(fiix_engine, simulator, name)
    stats = simulator.stats()
    assert sum(stats["faults"].values()) >= 1 and stats["unauthorized"] == 0

    simulator.change("work_orders", count=4)
    rows = 0
    for site in SITES:
        synced = sync(spec, "work_orders", simulator.base_url, fiix_engine, SECRETS, partition=site, page_size=10)
        assert synced.report.mode == "incremental"
        rows += synced.report.rows
    assert 4 <= rows < len(simulator.truth("work_orders"))
    assert_exact(fiix_engine, simulator, "work_orders")

    simulator.change("assets", count=2)
    incremental = [sync(spec, "assets", simulator.base_url, fiix_engine, SECRETS, partition=site, page_size=10).report
                   for site in SITES]
    assert {r.mode for r in incremental} == {"incremental"}  # on intUpdated (epoch ms): a filter of its own
    assert 2 <= sum(r.rows for r in incremental) < len(simulator.truth("assets"))
    assert_exact(fiix_engine, simulator, "assets")

    gone = simulator.delete("assets", count=1)
    deleted = sum(sync(spec, "assets", simulator.base_url, fiix_engine, SECRETS, partition=site, page_size=10,
                       full=True).report.deleted for site in SITES)
    assert deleted == len(gone) == 1
    assert_exact(fiix_engine, simulator, "assets")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_throttling_in_200_bodies_is_waited_out(fiix_engine, simulator):
    simulator.configure(rate_limit=20.0, burst=2.0, advisory_ms=120)
    spec = fiix_spec()
    synced = sync(spec, "assets", simulator.base_url, fiix_engine, SECRETS, partition="1", page_size=5)
    assert synced.report.request_stats["throttled"] >= 1 and synced.report.request_stats["gave_up"] == 0
    assert simulator.stats()["throttled"] == synced.report.request_stats["throttled"]
    truth = [r for r in simulator.truth("assets") if str(r["intSiteID"]) == "1"]
    assert synced.report.rows == len(truth)
