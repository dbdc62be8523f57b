"""The hand-over between a batch's threads and the step's: finished sites, and stopping a batch from outside."""

import asyncio
import threading
import time

import pytest

from ic3_pipeline.components.site_progress import BatchCancel, SiteProgress
from ic3_pipeline.sync.connector import FetchOutcome
from ic3_pipeline.sync.standing import SiteAsset

ASSETS = [SiteAsset("a1", "A", None), SiteAsset("a2", "A", None), SiteAsset("b1", "B", "success"),
          SiteAsset("c1", "C", None), SiteAsset("c2", "C", "error")]


def test_due_is_reordered_site_by_site_and_sites_finish_when_their_last_asset_settles():
    sites = SiteProgress(["A", "B", "C"], ASSETS)
    assert sites.begin(["c2", "a1", "c1", "a2"]) == ["a1", "a2", "c2", "c1"]  # site by site, each in due order
    sites.settled(FetchOutcome("a1", "success", 1, 200, warnings=["x: not a number"]))
    sites.settled(FetchOutcome("c2", "error", 3, 503, error="HTTP 503"))
    sites.settled(FetchOutcome("a2", "not_found", 1, 404))
    sites.settled(FetchOutcome("c1", "success", 2, 200))
    sites.close()
    assert list(sites.finished_sites()) == ["B", "A", "C"]  # B had nothing due: finished at once
    a, c = sites.outcomes["A"], sites.outcomes["C"]
    assert (a.due, a.synced, [f.asset_id for f in a.failures], a.warnings) == (2, 1, ["a2"], [("a1", "x: not a number")])
    assert (c.requests, c.retries) == (5, 3)  # 3 + 2 attempts for two assets


def test_a_site_with_an_unsettled_asset_never_finishes():
    sites = SiteProgress(["A"], ASSETS)
    sites.begin(["a1", "a2"])
    sites.settled(FetchOutcome("a1", "success", 1, 200))
    sites.close()  # the batch stopped before a2
    assert list(sites.finished_sites()) == []


def test_cancel_stops_a_batch_running_on_another_thread():
    cancel, outcome = BatchCancel(), {}

    async def batch():
        cancel.attach()
        await asyncio.sleep(30)

    def run():
        try:
            asyncio.run(batch())
        except asyncio.CancelledError:
            outcome["cancelled"] = True

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    time.sleep(0.2)
    cancel.cancel()
    thread.join(timeout=5)
    assert outcome == {"cancelled": True} and time.monotonic() - started < 5


def test_cancel_before_the_batch_starts_stops_it_as_it_starts():
    cancel = BatchCancel()
    cancel.cancel()

    async def batch():
        cancel.attach()
        await asyncio.sleep(30)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(batch())
