"""Every paginator, declared in YAML only, reads every record of the test API through the engine: offset/limit (with
a 404 past the end meaning an empty page), page number with a total (pages read at once), OData V2 ``d.__next``
(server-driven, fewer rows than asked), OData V4 ``@odata.nextLink`` (relative), the ``Link`` header, a cursor, and
``startIndex``/``maxObjects`` in a text body; plus incremental templates in a query and in a body, sites, and the
OData error envelope."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ic3_pipeline.sync.collection_sync import StreamFailed
from ic3_pipeline_tests.declarative.conftest import source_spec, stored_ids, sync
from ic3_pipeline_tests.declarative.server import BASE_TIME, record

YAML = """
source: fake
base_url: http://unused.invalid
sites: [S1, S2]
api:
  name: Fake CMMS
  request:
    headers: {Accept: application/json}
  paginator: {type: offset, limit_param: limit, offset_param: offset}
  records: results
  errors:
    message_path: error.message.value
    code_path: error.code
    not_found_is_empty: true
streams:
  - name: offset_items
    resource: /offset/items
    key: [id]
    change_field: updatedAt
    api:
      incremental:
        query: {updated_since: "{since}"}
        lag_s: 60
  - name: site_items
    resource: /offset/items
    key: [id]
    partition_field: site
    api:
      request: {query: {site: "{partition}"}}
  - name: page_items
    resource: /pages/items
    key: [id]
    api:
      paginator: {type: page_number, page_param: page, limit_param: per_page, total_path: meta.total}
      records: data
  - name: odata_items
    resource: /odata/Items
    key: [id]
    change_field: updatedAt
    api:
      request: {query: {$format: json}}
      paginator: {type: next_link, next_path: d.__next, limit_param: $top}
      records: d.results
      incremental:
        query: {$filter: "updatedAt ge datetimeoffset'{since}'"}
  - name: v4_items
    resource: /v4/Items
    key: [id]
    api:
      paginator: {type: next_link, next_path: "@odata.nextLink"}
      records: value
  - name: broken
    resource: /odata/Broken
    key: [id]
    api:
      paginator: {type: single}
      records: d.results
  - name: link_items
    resource: /link/items
    key: [id]
    api:
      paginator: {type: next_link, next_header: true, limit_param: per_page}
      records: "."
  - name: cursor_items
    resource: /cursor/items
    key: [id]
    api:
      paginator: {type: cursor, cursor_path: next, cursor_param: after, limit_param: limit}
      records: items
  - name: found_items
    resource: Asset
    key: [id]
    change_field: updatedAt
    partition_field: site
    api:
      request:
        method: POST
        path: /find/?action=FindRequest
        headers: {Content-Type: text/plain}
        body:
          _maCn: FindRequest
          className: "{resource}"
          fields: "id, name, site, updatedAt"
          filters: [{ql: "site = ?", parameters: ["{partition}"]}]
      paginator: {type: offset, location: body, offset_param: startIndex, limit_param: maxObjects,
                  total_path: totalObjects}
      records: objects
      errors: {message_path: error.message, code_path: error.code}
      incremental:
        body: {filters: [{ql: "updatedMs >= ?", parameters: ["{since}"]}]}
        since_format: epoch_ms
"""

ALL = sorted(record(i)["id"] for i in range(23))


@pytest.fixture(scope="module")
def spec():
    return source_spec(YAML)


@pytest.mark.parametrize("stream", ["offset_items", "page_items", "odata_items", "v4_items", "link_items",
                                    "cursor_items"])
def test_every_paginator_reads_every_record_once(spec, api, sqlite_engine, stream):
    synced = sync(spec, stream, api.base_url, sqlite_engine, {}, page_size=5)
    assert stored_ids(sqlite_engine, f"fake_{stream}") == ALL
    assert synced.report.rows == 23 and synced.report.mode == "full"
    assert synced.report.rejected == []


def test_offset_paging_ends_at_a_404_that_means_an_empty_page(spec, api, sqlite_engine):
    api.rows = api.rows[:20]  # a multiple of the page size: the page after the last one is a 404
    synced = sync(spec, "offset_items", api.base_url, sqlite_engine, {}, page_size=5)
    assert synced.report.rows == 20 and synced.report.pages == 5  # 4 full pages and the empty one
    assert api.counters.queries[-1] == "limit=5&offset=20"


def test_page_numbers_with_a_total_are_read_and_counted(spec, api, sqlite_engine):
    synced = sync(spec, "page_items", api.base_url, sqlite_engine, {}, page_size=5)
    assert synced.report.pages == 5
    assert sorted(q for q in api.counters.queries) == sorted(f"per_page=5&page={n}" for n in range(1, 6))


def test_odata_next_link_is_followed_as_the_server_sends_it(spec, api, sqlite_engine):
    sync(spec, "odata_items", api.base_url, sqlite_engine, {}, page_size=50)
    # The server caps pages at 7 rows whatever $top says; the next link is opaque and carries the rest.
    assert api.counters.queries[0] == "$format=json&$top=50"
    assert api.counters.queries[1].endswith("%24skiptoken=7") and api.counters.data_calls == 4


def test_an_incremental_read_sends_since_in_the_query_less_the_lag(spec, api, sqlite_engine):
    sync(spec, "offset_items", api.base_url, sqlite_engine, {}, page_size=50)
    mark = BASE_TIME.replace(minute=22)  # the newest updatedAt
    api.counters.queries.clear()
    synced = sync(spec, "offset_items", api.base_url, sqlite_engine, {}, page_size=50)
    assert synced.report.mode == "incremental"
    # The mark minus the source's overlap (300 s) minus the stream's lag (60 s), in UTC ISO.
    assert api.counters.queries[0] == "updated_since=2026-11-01T00:16:00Z&limit=50&offset=0"
    assert synced.report.rows == 7  # minutes 16..22
    assert synced.report.high_water_mark_after.startswith(mark.isoformat()[:16])


def test_an_incremental_odata_filter_is_a_query_template(spec, api, sqlite_engine):
    sync(spec, "odata_items", api.base_url, sqlite_engine, {}, page_size=50)
    api.counters.queries.clear()
    synced = sync(spec, "odata_items", api.base_url, sqlite_engine, {}, page_size=50)
    assert synced.report.mode == "incremental" and synced.report.rows == 6  # minutes 17..22
    assert "$filter=updatedAt%20ge%20datetimeoffset%272026-11-01T00:17:00Z%27" in api.counters.queries[0]


def test_a_partition_template_reads_one_site(spec, api, sqlite_engine):
    synced = sync(spec, "site_items", api.base_url, sqlite_engine, {}, partition="S1", page_size=4)
    assert synced.report.rows == len([r for r in api.rows if r["site"] == "S1"])
    assert all("site=S1" in q for q in api.counters.queries)


def test_a_text_body_with_start_index_and_max_objects_per_site_and_incremental(spec, api, sqlite_engine):
    synced = sync(spec, "found_items", api.base_url, sqlite_engine, {}, partition="S2", page_size=4)
    s2 = sorted(r["id"] for r in api.rows if r["site"] == "S2")
    assert synced.report.rows == len(s2) and stored_ids(sqlite_engine, "fake_found_items") == s2
    first = json.loads(api.counters.bodies[0])
    assert first == {"_maCn": "FindRequest", "className": "Asset", "fields": "id, name, site, updatedAt",
                     "filters": [{"ql": "site = ?", "parameters": ["S2"]}], "startIndex": 0, "maxObjects": 4}
    # With a total, the pages after the first are asked for at once, each at its own start index.
    assert sorted(json.loads(b)["startIndex"] for b in api.counters.bodies) == [0, 4, 8]

    api.counters.bodies.clear()
    synced = sync(spec, "found_items", api.base_url, sqlite_engine, {}, partition="S2", page_size=4)
    since_ms = int(datetime(2026, 11, 1, 0, 17, tzinfo=timezone.utc).timestamp() * 1000)  # minute 22 - 300 s
    assert json.loads(api.counters.bodies[0])["filters"] == [
        {"ql": "site = ?", "parameters": ["S2"]}, {"ql": "updatedMs >= ?", "parameters": [since_ms]}]
    assert synced.report.mode == "incremental"


def test_the_odata_error_envelope_is_the_message(spec, api, sqlite_engine):
    with pytest.raises(StreamFailed) as failed:
        sync(spec, "broken", api.base_url, sqlite_engine, {})
    assert str(failed.value) == ("Fake CMMS refused the request (HTTP 400, /IWBEP/CM_MGW_RT/020): "
                                 "Property 'Nonsense' is invalid")
    assert not failed.value.auth
