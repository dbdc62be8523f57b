"""The collection engine against the Maximo simulator: exact tables after full, incremental and full-refresh
syncs, paging both ways, page-size caps, drift, records moving between pages, deletes and faults."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select, text

from ic3_pipeline.connectors.maximo.answers import parse_page
from ic3_pipeline.connectors.maximo.connector import MaximoConnector
from ic3_pipeline.sync.collection_sync import StreamFailed
from ic3_pipeline.sync.stream_state import read_position
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.maximo.conftest import API_KEY, SITES, assert_exact, mismatches, table

ALL = ("maxgroup", "peruser", "domain", "locations", "asset", "wodetail", "inventory")


def live_count(engine, name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {name} WHERE _deleted_at IS NULL")).scalar_one()


def test_full_then_incremental_then_full_refresh_with_faults_end_exact(syncer, simulator, spec):
    """The issue's "done when": with faults injected, every table equals the simulator's truth after each step."""
    simulator.configure(fault_rate=0.2, fault_kinds=("503", "truncated", "reset"))
    first = syncer.sync()
    assert {r.mode for r in first} == {"full"}
    assert_exact(syncer.engine, spec, simulator)
    assert simulator.stats()["faults"], "faults were injected"

    changed = simulator.change("mxapiasset", count=4) + simulator.change("mxapiwodetail", count=3)
    simulator.add_attribute("mxapiasset", "ic3_condition", lambda attrs: f"cond-{attrs['assetnum']}")
    simulator.change("mxapiasset", count=2)
    second = syncer.sync("asset", "wodetail")
    assert {r.mode for r in second} == {"incremental"}
    assert sum(r.rows for r in second) < sum(r.rows for r in first if r.stream in ("asset", "wodetail"))
    assert changed
    # Only the changed rows (and the overlap) were re-read: the newly added attribute is on the changed ones only.
    assert_exact(syncer.engine, spec, simulator, names=("wodetail",))

    gone = simulator.delete("mxapiasset", count=3)
    refresh = syncer.sync(full=True)
    assert sum(r.deleted for r in refresh if r.stream == "asset") == len(gone)
    assert_exact(syncer.engine, spec, simulator)
    with syncer.engine.connect() as conn:
        deleted = {tuple(r) for r in conn.execute(text(
            "SELECT siteid, assetnum FROM maximo_asset WHERE _deleted_at IS NOT NULL"))}
    assert deleted == {tuple(k) for k in gone}  # soft: the rows stay, marked


def test_rows_are_upserted_not_duplicated_when_read_again(syncer, simulator, spec):
    syncer.sync("locations", "asset")
    before = live_count(syncer.engine, "maximo_asset")
    syncer.sync("locations", "asset", full=True)
    syncer.sync("locations", "asset", full=True)
    assert live_count(syncer.engine, "maximo_asset") == before == len(simulator.truth("mxapiasset"))
    assert_exact(syncer.engine, spec, simulator, names=("asset",))


def test_incremental_reads_only_what_changed_and_the_mark_follows(syncer, simulator):
    syncer.sync("locations", "asset", sites=["BEDFORD"])
    mark = read_position(syncer.engine, "maximo", "asset", "BEDFORD").high_water_mark
    newest = max(datetime.fromisoformat(r["changedate"]) for r in simulator.truth("mxapiasset", site="BEDFORD"))
    assert mark == newest  # the largest changedate committed
    simulator.reset_stats()
    simulator.change("mxapiasset", count=2, site="BEDFORD")
    [report] = syncer.sync("asset", sites=["BEDFORD"])
    assert report.mode == "incremental" and report.rows >= 2
    assert report.rows < len(simulator.truth("mxapiasset", site="BEDFORD"))
    assert read_position(syncer.engine, "maximo", "asset", "BEDFORD").high_water_mark > mark
    assert mismatches(syncer.engine, syncer.stream("asset"), simulator.truth("mxapiasset", site="BEDFORD"),
                      partition="BEDFORD") == []


@pytest.mark.parametrize("absolute", [False, True], ids=["relative-next", "absolute-next"])
def test_next_links_relative_and_absolute_are_followed_to_the_last_page(syncer, simulator, spec, absolute):
    simulator.configure(absolute_next=absolute)
    syncer.connector = dataclasses.replace(MaximoConnector(), paging="next_link") if dataclasses.is_dataclass(
        MaximoConnector) else _next_link_connector()
    reports = syncer.sync("locations", "asset")
    assert all(r.pages > 1 for r in reports if r.stream == "asset")
    assert_exact(syncer.engine, spec, simulator, names=("locations", "asset"))


def _next_link_connector() -> MaximoConnector:
    connector = MaximoConnector()
    connector.paging = "next_link"
    return connector


def test_pages_are_read_several_at_once_when_the_api_counts_them(syncer, simulator, spec):
    reports = syncer.sync("locations", "asset")
    asset = [r for r in reports if r.stream == "asset"]
    assert all(r.pages == -(-len(simulator.truth("mxapiasset", site=r.partition)) // 8) for r in asset)
    assert_exact(syncer.engine, spec, simulator, names=("asset",))


def test_a_page_size_above_the_api_cap_is_halved_until_accepted(syncer, simulator, spec):
    simulator.configure(max_page_size=10)
    syncer.settings = dataclasses.replace(syncer.settings, page_size=40, max_page_size=64)
    reports = syncer.sync("locations", "asset")
    assert {r.page_size for r in reports} == {10}
    assert simulator.stats()["page_size_refused"] >= 1
    assert_exact(syncer.engine, spec, simulator, names=("locations", "asset"))


def test_an_attribute_appearing_mid_sync_becomes_a_column_logged_once(syncer, simulator, spec):
    def add_on_second_page(os_name: str, pageno: int) -> None:
        if os_name == "mxapiasset" and pageno == 2:
            simulator.add_attribute("mxapiasset", "ic3_warranty_end", lambda attrs: "2031-01-31T00:00:00+00:00")

    simulator.on_page(add_on_second_page)
    syncer.settings = dataclasses.replace(syncer.settings, page_concurrency=1)
    reports = syncer.sync("locations", "asset", sites=["BEDFORD"])
    simulator.on_page(None)
    asset = next(r for r in reports if r.stream == "asset")
    assert "maximo_asset.ic3_warranty_end (timestamp)" in asset.new_columns
    with syncer.engine.connect() as conn:
        logged = conn.execute(select(tables.schema_change.c.column_type).where(
            tables.schema_change.c.table_name == "maximo_asset",
            tables.schema_change.c.column_name == "ic3_warranty_end")).scalars().all()
        filled = conn.execute(text("SELECT count(*) FROM maximo_asset WHERE ic3_warranty_end IS NOT NULL")).scalar()
    assert logged == ["timestamp"]
    assert 0 < filled < len(simulator.truth("mxapiasset", site="BEDFORD"))  # rows of page 2 onwards
    syncer.sync("asset", sites=["BEDFORD"], full=True)  # a full read fills the earlier rows
    assert mismatches(syncer.engine, syncer.stream("asset"), simulator.truth("mxapiasset", site="BEDFORD"),
                      partition="BEDFORD") == []


def test_a_value_that_does_not_fit_its_column_is_kept_as_text_not_a_crash(syncer, simulator):
    # Numbers, and now and then a word: the first page makes ic3_rating an integer column, the words do not fit it.
    simulator.add_attribute("mxapiasset", "ic3_rating", lambda attrs: "urgent" if attrs["assetnum"].endswith("3") else 2)
    syncer.settings = dataclasses.replace(syncer.settings, page_concurrency=1)
    [_, report] = syncer.sync("locations", "asset", sites=["BEDFORD"])
    with syncer.engine.connect() as conn:
        logged = conn.execute(select(tables.schema_change.c.column_type).where(
            tables.schema_change.c.column_name == "ic3_rating")).scalar()
    assert logged == "bigint"
    assert report.kept_as_text > 0
    with syncer.engine.connect() as conn:
        rows = conn.execute(text("SELECT assetnum, ic3_rating, _type_errors FROM maximo_asset "
                                 "WHERE _type_errors IS NOT NULL")).all()
    assert rows and all(number.endswith("3") and rating is None for number, rating, _ in rows)
    assert all("urgent" in str(errors) for _, _, errors in rows)


def test_a_record_changed_between_pages_is_neither_lost_nor_duplicated(syncer, simulator, spec):
    moved = []

    def change_after_first_page(os_name: str, pageno: int) -> None:
        if os_name == "mxapiasset" and pageno == 1 and not moved:
            moved.extend(simulator.change("mxapiasset", count=3, site="BEDFORD"))

    syncer.sync("locations", sites=["BEDFORD"])
    syncer.sync("asset", sites=["BEDFORD"])
    simulator.change("mxapiasset", count=20, site="BEDFORD")  # an incremental read spanning several pages
    simulator.on_page(change_after_first_page)
    syncer.settings = dataclasses.replace(syncer.settings, page_concurrency=1)
    [report] = syncer.sync("asset", sites=["BEDFORD"])
    simulator.on_page(None)
    assert moved
    assert mismatches(syncer.engine, syncer.stream("asset"), simulator.truth("mxapiasset", site="BEDFORD"),
                      partition="BEDFORD") == []
    assert live_count(syncer.engine, "maximo_asset") == len(simulator.truth("mxapiasset", site="BEDFORD"))


def test_a_record_deleted_between_pages_does_not_hide_its_neighbours(syncer, simulator):
    deleted = []

    def delete_after_first_page(os_name: str, pageno: int) -> None:
        if os_name == "mxapiasset" and pageno == 1 and not deleted:
            deleted.extend(simulator.delete("mxapiasset", count=2, site="BEDFORD"))

    syncer.sync("locations", sites=["BEDFORD"])
    simulator.on_page(delete_after_first_page)
    syncer.settings = dataclasses.replace(syncer.settings, page_concurrency=1)
    [report] = syncer.sync("asset", sites=["BEDFORD"], full=True)
    simulator.on_page(None)
    assert deleted and report.passes >= 2  # the shifted records were read again
    truth = simulator.truth("mxapiasset", site="BEDFORD")
    assert mismatches(syncer.engine, syncer.stream("asset"), truth, partition="BEDFORD") == []


def test_both_json_forms_read_the_same_records(simulator, spec):
    stream = spec.stream("asset")
    connector = MaximoConnector()
    url = connector.page_request(_request(stream))
    lean = httpx.get(f"{simulator.base_url}/{url}", headers={"apikey": API_KEY})
    namespaced = httpx.get(f"{simulator.base_url}/{url.replace('lean=1', 'lean=0')}", headers={"apikey": API_KEY})
    assert "rdfs:member" in namespaced.text and '"member"' in lean.text
    a, b = parse_page(lean), parse_page(namespaced)
    assert a.records == b.records and a.records
    assert (a.total_count, a.total_pages) == (b.total_count, b.total_pages)
    assert a.next_url and b.next_url


def _request(stream):
    from ic3_pipeline.sync.streams import PageRequest

    return PageRequest(stream, "BEDFORD", None, 5, 1)


def test_the_error_envelope_becomes_one_clear_message(simulator, spec):
    connector = MaximoConnector()
    bad = httpx.get(f"{simulator.base_url}/oslc/os/mxapiasset?lean=1&oslc.where=nosuch%3D%221%22",
                    headers={"apikey": API_KEY})
    with pytest.raises(Exception) as refused:
        connector.parse_page(bad)
    assert "Maximo refused the request (HTTP 400" in str(refused.value)
    assert "BMXAA" in str(refused.value)


def test_a_refused_key_stops_the_stream_naming_the_variable_never_the_key(syncer, simulator):
    simulator.configure(api_key="another-key")
    with pytest.raises(StreamFailed) as failed:
        syncer.sync("maxgroup")
    assert failed.value.auth
    assert "HTTP 401" in str(failed.value) and API_KEY not in str(failed.value)
    with syncer.engine.connect() as conn:
        state = conn.execute(select(tables.stream_state)).one()
    assert state.last_status == "failed" and "401" in state.last_error


def test_429_storms_are_ridden_out(syncer, simulator, spec):
    simulator.configure(rate_limit=8, burst=1)
    syncer.policy = dataclasses.replace(syncer.policy, initial_rate=40)
    syncer.sync("locations", "asset")
    assert simulator.stats()["throttled"] > 0
    assert_exact(syncer.engine, spec, simulator, names=("locations", "asset"))


def test_503_html_bodies_and_truncated_json_are_retried(syncer, simulator, spec):
    simulator.configure(fault_rate=0.35, fault_kinds=("503", "truncated"))
    syncer.sync("locations", "asset", "wodetail")
    faults = simulator.stats()["faults"]
    assert faults.get("503") and faults.get("truncated")
    assert_exact(syncer.engine, spec, simulator, names=("locations", "asset", "wodetail"))


def test_an_api_that_stays_down_fails_the_stream_and_keeps_what_was_committed(syncer, simulator):
    syncer.policy = dataclasses.replace(syncer.policy, max_attempts=2)
    syncer.sync("locations", sites=["BEDFORD"])
    simulator.configure(fault_rate=1.0, fault_kinds=("503",))
    with pytest.raises(StreamFailed) as failed:
        syncer.sync("asset", sites=["BEDFORD"])
    assert "did not answer a page: HTTP 503 after 2 attempts" in str(failed.value)
    assert live_count(syncer.engine, "maximo_locations") == len(simulator.truth("mxapilocations", site="BEDFORD"))


def test_timeouts_shrink_the_page_size(syncer, simulator, spec):
    syncer.policy = dataclasses.replace(syncer.policy, timeout_s=0.5)
    syncer.settings = dataclasses.replace(syncer.settings, page_size=8, min_page_size=2)
    simulator.configure(fault_rate=0.25, fault_kinds=("hang",), hang_seconds=2)
    reports = syncer.sync("locations", "asset", sites=["BEDFORD"])
    assert simulator.stats()["faults"]["hang"] > 0
    assert min(r.page_size for r in reports) < 8
    assert mismatches(syncer.engine, syncer.stream("asset"), simulator.truth("mxapiasset", site="BEDFORD"),
                      partition="BEDFORD") == []


def test_children_are_replaced_with_their_parent(syncer, simulator):
    syncer.sync("locations", "asset", sites=["BEDFORD"])
    child = table(syncer.engine, "maximo_asset__assetmeter")
    assert child is not None and {"siteid", "assetnum", "_position"} <= set(child.c.keys())
    simulator.change("mxapiasset", count=5, site="BEDFORD")
    syncer.sync("asset", sites=["BEDFORD"])
    assert mismatches(syncer.engine, syncer.stream("asset"), simulator.truth("mxapiasset", site="BEDFORD"),
                      partition="BEDFORD") == []


def test_an_unforeseen_error_is_raised_as_it_is_and_recorded_as_a_failure(syncer):
    class Broken(MaximoConnector):
        def parse_page(self, response):
            raise ZeroDivisionError("a bug in a parser")

    syncer.connector = Broken()
    with pytest.raises(ZeroDivisionError):
        syncer.sync("maxgroup")
    with syncer.engine.connect() as conn:
        state = conn.execute(select(tables.stream_state)).one()
        logged = conn.execute(select(tables.stream_log.c.status, tables.stream_log.c.error_message)).one()
    assert state.last_status == "failed" and "ZeroDivisionError: a bug in a parser" in state.last_error
    assert logged.status == "failed"
