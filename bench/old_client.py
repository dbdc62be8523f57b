"""The baseline: a client that behaves like the users' old script (shared/reference/innomaint-api.md, "Observed").

Sequential, 200 ms between assets, a 15 s timeout, and on any answer but 200/404 (429, 5xx), a timeout or a dropped
connection, three more attempts after 1 s, 2 s and 4 s (``Retry-After`` ignored, as the old script did). It parses
and writes each asset with the product's own ``records`` and ``store``, so both contenders do the same database
work and only the HTTP strategy differs: the comparison is about fetching, not about SQL.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine

from bench.harness import BENCH_SOURCE, bench_context
from ic3_pipeline.connectors import get_connector
from ic3_pipeline.connectors.innomaint.client import API_PATH
from ic3_pipeline.connectors.innomaint.records import ApiFailure, MalformedResponse, parse_asset_detail, parse_body
from ic3_pipeline.sync.attempts import store_failure, store_success
from ic3_pipeline.sync.connector import FetchOutcome

SPACING_S = 0.2
BACKOFF_S = (1.0, 2.0, 4.0)
TIMEOUT_S = 15.0
CONTEXT = bench_context("bench-old-client")
CONNECTOR = get_connector(BENCH_SOURCE)


@dataclass
class OldClientReport:
    synced: int = 0
    failed: int = 0
    not_found: int = 0
    requests: int = 0
    throttled: int = 0
    elapsed_s: float = 0.0
    synced_at: list[float] = field(default_factory=list)  # time.perf_counter() of each success


def sync_sequentially(base_url: str, token: str, engine: Engine, asset_ids: Sequence[str]) -> OldClientReport:
    """Fetch and store every id, one after another, the old way."""
    report = OldClientReport()
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT_S) as http:
        for asset_id in asset_ids:
            _sync_one(http, engine, asset_id, report)
            time.sleep(SPACING_S)
    report.elapsed_s = time.perf_counter() - started
    return report


def _sync_one(http: httpx.Client, engine: Engine, asset_id: str, report: OldClientReport) -> None:
    error = "no attempt"
    status: int | None = None
    for attempt, backoff in enumerate((*BACKOFF_S, None), start=1):
        report.requests += 1
        try:
            response = http.post(API_PATH, json={"serialnumber": asset_id})
        except httpx.TransportError as exc:  # timeouts included
            status, error = None, type(exc).__name__
        else:
            status = response.status_code
            if status == 404:
                report.not_found += 1
                store_failure(engine, CONNECTOR, FetchOutcome(asset_id, "not_found", attempt, 404, error="HTTP 404"),
                              CONTEXT)
                return
            if status == 200:
                try:
                    record = parse_asset_detail(parse_body(response.content), asset_id)
                except (ApiFailure, MalformedResponse) as exc:
                    error = str(exc)
                else:
                    outcome = FetchOutcome(asset_id, "success", attempt, 200, record=record, body=response.content)
                    store_success(engine, CONNECTOR, outcome, CONTEXT)
                    report.synced += 1
                    report.synced_at.append(time.perf_counter())
                    return
            else:
                report.throttled += status == 429
                error = f"HTTP {status}"
        if backoff is None:
            break
        time.sleep(backoff)
    report.failed += 1
    store_failure(engine, CONNECTOR, FetchOutcome(asset_id, "error", len(BACKOFF_S) + 1, status, error=error), CONTEXT)
