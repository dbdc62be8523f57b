"""API faults: whatever the API does, the final table state is exact, there are no duplicates, retries are bounded."""

import threading
import time

import pytest
from sqlalchemy import select

from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.reliability.conftest import assert_exact
from ic3_pipeline_tests.run_results import batch_metadata

MAX_ATTEMPTS = 8


def details(result) -> dict:
    """The batch's figures (requests, 429 answers, retries): one observation of the details asset per run."""
    return batch_metadata(result)


@pytest.mark.parametrize("kind", ["500", "502", "503", "hang", "reset", "malformed", "truncated", "status_false"])
def test_each_fault_kind_at_30_percent(pipeline, kind):
    pipeline.simulator.configure(fault_rate=0.3, fault_kinds=(kind,), hang_seconds=2.0)
    result = pipeline.enrich(max_attempts=MAX_ATTEMPTS, timeout_s=1.0)
    assert result.success
    n = len(pipeline.asset_ids)
    assert_exact(pipeline.engine, set(pipeline.asset_ids))
    stats = pipeline.simulator.stats()
    assert stats["faults"].get(kind, 0) > 0  # the fault really happened
    assert stats["requests"] <= n * MAX_ATTEMPTS  # retries are bounded
    assert details(result)["retries"] >= stats["faults"][kind]


@pytest.mark.parametrize("retry_after", ["seconds", "http-date", "none"])
def test_429_storm(pipeline, retry_after):
    """A server limit far below the client's starting rate: a storm of 429s, then a settled rate, nothing lost."""
    pipeline.simulator.configure(rate_limit=40.0, burst=2.0, retry_after=retry_after)
    result = pipeline.enrich(initial_rate_per_s=200.0, max_attempts=MAX_ATTEMPTS)
    assert result.success
    assert_exact(pipeline.engine, set(pipeline.asset_ids))
    stats = pipeline.simulator.stats()
    assert stats["throttled"] > 0
    assert stats["requests"] <= len(pipeline.asset_ids) * MAX_ATTEMPTS


def test_5xx_burst_then_recovery(pipeline):
    """Every request fails for a while (a deploy), then the API recovers: assets caught in the burst are recorded
    as failed with their reason, everyone else is synced, and the next run completes the set."""
    pipeline.simulator.configure(fault_rate=1.0, fault_kinds=("503",))
    first = pipeline.enrich(max_attempts=2, concurrency=4)
    assert not first.success  # 20 in a row: the breaker calls it systemic, the partition fails (after step retries)
    failure = first.get_step_failure_events()[-1]
    assert "Innomaint looks down" in failure.step_failure_data.user_failure_data.description
    with pipeline.engine.connect() as conn:
        failed = conn.execute(select(tables.asset_master.c.last_sync_error).where(tables.asset_master.c.last_sync_status == "error")).scalars().all()
    assert failed and all("HTTP 503 after 2 attempts" in reason for reason in failed)
    assert len(failed) < len(pipeline.asset_ids)  # stopped early instead of hammering a dead API
    assert pipeline.simulator.stats()["requests"] < 3 * 2 * (20 + 4) + 10  # 3 step attempts, bounded each
    pipeline.simulator.configure(fault_rate=0.0)
    assert pipeline.enrich().success
    assert_exact(pipeline.engine, set(pipeline.asset_ids))


def test_token_expiring_mid_run_fails_fast_without_blaming_assets(pipeline):
    """The token stops working part-way: assets synced before stay synced, no asset is marked failed for the 401."""
    pipeline.simulator.configure(latency_ms=30.0)
    def expire() -> None:
        while pipeline.simulator.stats()["ok"] < 40:
            time.sleep(0.01)
        pipeline.simulator.configure(token="rotated-token")

    watcher = threading.Thread(target=expire, daemon=True)
    watcher.start()
    result = pipeline.enrich(concurrency=4)
    watcher.join(timeout=10)
    assert not result.success
    description = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert "refused the API token (HTTP 401)" in description
    with pipeline.engine.connect() as conn:
        statuses = conn.execute(select(tables.asset_master.c.last_sync_status)).scalars().all()
    assert "error" not in statuses
    assert statuses.count("success") >= 40
    assert pipeline.simulator.stats()["unauthorized"] <= 8  # stopped at once, not after every asset


def test_404s_are_final(pipeline):
    missing = frozenset(pipeline.asset_ids[::10])
    pipeline.simulator.configure(missing_ids=missing)
    assert pipeline.enrich().success
    assert_exact(pipeline.engine, set(pipeline.asset_ids) - missing, missing)
    assert all(pipeline.simulator.stats()["hits"][i] == 1 for i in missing)
    pipeline.simulator.reset_stats()
    pipeline.enrich()  # a second run does not ask again
    assert not set(pipeline.simulator.stats()["hits"]) & missing
