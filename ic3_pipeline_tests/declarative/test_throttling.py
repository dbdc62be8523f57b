"""Throttling said in a 200 body (a throttle code and an advised wait, as Fiix answers error 1100): the call waits
at least the advised time, counts as throttled, then succeeds; without an advised wait the declared default is used;
any other error in a 200 body is the API's refusal, with its message."""

from __future__ import annotations

import pytest

from ic3_pipeline.sync.collection_sync import StreamFailed
from ic3_pipeline_tests.declarative.conftest import served, source_spec, stored_ids, sync
from ic3_pipeline_tests.declarative.server import FakeConfig

YAML = """
source: fake
base_url: http://unused.invalid
api:
  name: Fake CMMS
  request:
    method: POST
    path: /find/?action=FindRequest
    headers: {Content-Type: text/plain}
    body: {_maCn: FindRequest, className: "{resource}"}
  paginator: {type: offset, location: body, offset_param: startIndex, limit_param: maxObjects,
              total_path: totalObjects}
  records: objects
  errors: {message_path: error.message, code_path: error.code}
  throttle:
    code_path: error.code
    codes: [1100]
    wait_path: error.P_CLIENT_AUTO_RETRY_WAIT_ADVISORY_MS
    wait_unit: ms
    default_wait_s: 0.4
streams:
  - name: assets
    resource: Asset
    key: [id]
  - name: unknown
    resource: Nothing
    key: [id]
"""


@pytest.mark.parametrize(("advised_ms", "expected_wait_s"), [(300, 0.3), (None, 0.4)], ids=["advised", "default"])
def test_a_throttle_code_in_a_200_body_waits_then_succeeds(sqlite_engine, advised_ms, expected_wait_s):
    api = served(FakeConfig(throttle_first=2, throttle_wait_ms=advised_ms))
    try:
        synced = sync(source_spec(YAML), "assets", api.base_url, sqlite_engine, {}, page_size=50)
        times = api.counters.call_times
        assert api.counters.throttled == 2 and len(times) == 3  # two throttled answers, then the page
        assert times[1] - times[0] >= expected_wait_s and times[2] - times[1] >= expected_wait_s
        assert synced.report.request_stats["throttled"] == 2 and synced.report.request_stats["gave_up"] == 0
        assert len(stored_ids(sqlite_engine, "fake_assets")) == 23
    finally:
        api.stop()


def test_an_error_in_a_200_body_is_the_apis_refusal(sqlite_engine):
    api = served(FakeConfig())
    try:
        with pytest.raises(StreamFailed) as failed:
            sync(source_spec(YAML), "unknown", api.base_url, sqlite_engine, {})
        assert str(failed.value) == "Fake CMMS refused the request (HTTP 200, 500): Unknown class"
        assert api.counters.data_calls == 1  # final: not retried
    finally:
        api.stop()
