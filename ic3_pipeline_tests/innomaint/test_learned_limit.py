"""The rate limit a batch finds is remembered in ``cmms_sync_log`` and the next batch against that API starts there."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from ic3_pipeline.http_client import AdaptiveRateLimiter
from ic3_pipeline.sync.batch import BatchReport
from ic3_pipeline.sync.attempts import SyncContext
from ic3_pipeline.sync.sync_log import learned_rate_limit, record_batch
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint.test_enrichment import metadata_of

API = "http://cmms.example.test:8765"


def record(engine, limit: float | None, *, api: str = API, status: str | None = None, requests: int = 100,
           throttled: int = 1, batch: str = "b1", finished_ago: timedelta = timedelta(0)) -> None:
    report = BatchReport(due=10, synced=10, request_stats={"requests": requests, "throttled": throttled},
                         rate_limit_found=limit)
    record_batch(engine, SyncContext(source="innomaint", sync_type="innomaint", batch_id=batch), ["Site A"], report,
                 datetime.now(timezone.utc) - finished_ago, api_base_url=api, status=status)
    if finished_ago:
        log = tables.cmms_sync_log
        with engine.begin() as conn:
            conn.execute(log.update().where(log.c.batch_id == batch)
                         .values(finished_at=datetime.now(timezone.utc) - finished_ago))


def test_the_latest_healthy_batch_against_the_same_api_is_remembered(engine):
    assert learned_rate_limit(engine, "innomaint", API) is None  # nothing learned yet: slow start
    record(engine, 18.5, batch="older")
    record(engine, 21.0, batch="newer")
    assert learned_rate_limit(engine, "innomaint", API) == 21.0
    assert learned_rate_limit(engine, "innomaint", API + "/") == 21.0  # the same API, however the URL is spelled
    assert learned_rate_limit(engine, "innomaint", "http://other-cmms.test") is None
    assert learned_rate_limit(engine, "innomaint_tenant_b", API) is None  # another source learns its own limit


def test_batches_that_measured_no_limit_or_a_storm_or_long_ago_are_not_trusted(engine):
    record(engine, 20.0, batch="good", finished_ago=timedelta(days=1))
    record(engine, None, batch="never throttled")  # no 429: nothing was learned, the older limit still holds
    assert learned_rate_limit(engine, "innomaint", API) == 20.0
    record(engine, 2.0, batch="storm", requests=100, throttled=40)  # 40 % answered 429: it measured the storm
    record(engine, 3.0, batch="systemic stop", status="failed")
    assert learned_rate_limit(engine, "innomaint", API) == 20.0
    record(engine, 25.0, batch="stale", finished_ago=timedelta(days=8))
    assert learned_rate_limit(engine, "innomaint", API) == 20.0
    assert learned_rate_limit(engine, "innomaint", API, now=datetime.now(timezone.utc) + timedelta(days=7)) is None


def test_credentials_in_the_base_url_are_never_stored(engine):
    record(engine, 12.0, api="http://user:s3cret-pass@cmms.example.test:8765/")
    with engine.connect() as conn:
        stored = conn.execute(select(tables.cmms_sync_log.c.api_base_url)).scalar_one()
    assert stored == API
    assert learned_rate_limit(engine, "innomaint", API) == 12.0


def test_a_later_run_starts_at_the_limit_the_first_one_found(pipeline):
    """Against an API that accepts 25 req/s, the first run starts at 50/s and is answered 429; it stores the rate
    the API proved to sustain (never more than its limit). The second run reads it, says so in its log, starts just under it and is not answered 429 again."""
    pipeline.simulator.configure(rate_limit=25.0, latency_ms=20.0)
    first = pipeline.enrich()
    assert first.success
    first_meta = metadata_of(first)
    assert first_meta["429 answers"] > 0
    with pipeline.engine.connect() as conn:
        found = conn.execute(select(tables.cmms_sync_log.c.rate_limit_found)).scalar_one()
    # Never above the limit; below it by what the run could not prove: a 5-s sync with 1-s pauses, on a loaded
    # machine, proves much less than 25/s (bench/README.md has the figures of longer syncs).
    assert 0.25 * 25.0 <= found <= 1.02 * 25.0, found
    assert first_meta["rate limit found (req/s)"] == round(found, 2)

    assert first_meta["limiter rate at start (req/s)"] == 50.0  # the resource's initial rate: nothing known yet

    second = pipeline.enrich(config={"force": True})
    assert second.success
    second_meta = metadata_of(second)
    assert second_meta["batch synced"] == len(pipeline.asset_ids)
    assert second_meta["limiter rate at start (req/s)"] == round(AdaptiveRateLimiter.TARGET * found, 2)
    assert second_meta["429 answers"] < first_meta["429 answers"]
    messages = [e.message for e in pipeline.instance.all_logs(second.run_id) if e.message]
    assert any("an earlier batch found the API accepts" in message for message in messages), messages


RATE = 8.0


@pytest.mark.parametrize("bucket", [1.0, RATE, 5 * RATE], ids=["bucket 1", "bucket R", "bucket 5R"])
def test_the_learned_limit_is_the_sustained_rate_whatever_the_burst(pipeline, bucket: float) -> None:
    """A bucket of R tokens refilled at R/s, starting full, once made a sync store R + its burst (25.0 for 20) and the
    next start above the limit. Real simulator, real client: what is stored is at most the API's rate, close to it
    where the bucket lets a client get close, and the next sync, starting from it, is rarely answered 429."""
    pipeline.simulator.configure(rate_limit=RATE, burst=bucket, retry_after="mixed", latency_ms=20.0)
    first = pipeline.enrich()
    assert first.success and metadata_of(first)["429 answers"] > 0
    with pipeline.engine.connect() as conn:
        stored = conn.execute(select(tables.cmms_sync_log.c.rate_limit_found)).scalar_one()
    assert stored is not None and stored <= 1.02 * RATE, stored
    # Below R by what a 12-s sync could not prove: pauses (Retry-After), the sends of a loaded machine, and with a
    # bucket of one, requests arriving a hair early (refused, the bucket stays full meanwhile).
    assert stored >= 0.3 * RATE, stored

    second = pipeline.enrich(config={"force": True})
    meta = metadata_of(second)
    assert second.success and meta["batch synced"] == len(pipeline.asset_ids)
    assert meta["limiter rate at start (req/s)"] <= RATE
    assert meta["429 answers"] <= 0.05 * meta["requests"], meta
