"""Checks and partition metadata describe the database's state of what they cover, not only the latest run.

Before: after a one-asset sync, or a backfill with nothing due, `assets_known_to_innomaint` passed saying
`not found 0` while assets were still recorded as 404; and every partition of a ranged run showed the whole batch's
totals (one site reading `assets due 2957`).
"""

from collections import Counter

from dagster import DagsterEventType
from sqlalchemy import func, select

from ic3_pipeline.sync.due import partition_keys_of
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc
from ic3_pipeline_tests.run_results import batch_metadata

DETAILS = "innomaint/asset_details"


def checks_of(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def per_partition(result, key: str = DETAILS) -> dict[str, dict]:
    return {
        e.partition: {k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    }


def assets_per_site(pipeline) -> Counter:
    return Counter(partition_keys_of(pipeline.engine, pipeline.asset_ids).values())


def test_known_assets_check_keeps_warning_while_404s_are_recorded(pipeline):
    sites = partition_keys_of(pipeline.engine, pipeline.asset_ids)
    missing = sorted(pipeline.asset_ids)[::40][:3]  # three unknown ids, on different sites
    pipeline.simulator.configure(missing_ids=frozenset(missing))
    first = checks_of(pipeline.enrich())["assets_known_to_innomaint"]
    assert not first.passed and first.metadata["not found"].value == 3

    known = next(a for a in pipeline.asset_ids if a not in missing and sites[a] not in {sites[m] for m in missing})
    one_asset = pipeline.enrich([sites[known]], config={"force": True, "asset_ids": [known]})  # `ic3 sync --asset`
    nothing_due = pipeline.enrich()  # a backfill of every site with nothing due
    for result in (one_asset, nothing_due):
        check = checks_of(result)["assets_known_to_innomaint"]
        assert not check.passed
        assert check.metadata["not found"].value == 3
        assert all(asset_id in check.metadata["ids"].value for asset_id in missing)
        assert "does not know 3 assets" in check.description
    assert checks_of(one_asset)["assets_known_to_innomaint"].metadata["not found in this run's sites"].value == 0


def test_sync_errors_check_fails_until_the_failed_asset_is_synced(pipeline):
    victim = pipeline.asset_ids[0]
    sites = partition_keys_of(pipeline.engine, pipeline.asset_ids)
    pipeline.simulator.script_faults(victim, ["503"] * 4)  # two for the first run; the retry gets past the rest
    failed = checks_of(pipeline.enrich([sites[victim]], max_attempts=2))["innomaint_sync_errors"]
    assert not failed.passed and victim in failed.metadata["failed ids"].value

    other_site = next(k for k in pipeline.partition_keys if k != sites[victim])
    elsewhere = checks_of(pipeline.enrich([other_site]))["innomaint_sync_errors"]
    assert not elsewhere.passed  # the run did not touch the failed asset; the database still records it
    assert elsewhere.metadata["failed"].value == 1 and victim in elsewhere.metadata["failed ids"].value
    assert "HTTP 503" in elsewhere.metadata["failed ids"].value and sites[victim] in elsewhere.metadata["failed ids"].value

    retried = checks_of(pipeline.enrich([sites[victim]]))["innomaint_sync_errors"]
    assert retried.passed and retried.metadata["failed"].value == 0


def test_each_partition_of_a_ranged_run_shows_its_own_assets(pipeline):
    per_site = assets_per_site(pipeline)
    missing = sorted(pipeline.asset_ids)[5]
    missing_site = partition_keys_of(pipeline.engine, [missing])[missing]
    pipeline.simulator.configure(missing_ids=frozenset({missing}))
    result = pipeline.enrich()  # one run over all 8 sites
    shown = per_partition(result)
    assert set(shown) == set(pipeline.partition_keys)
    for key, meta in shown.items():
        own = per_site[key]
        assert meta["assets due"] == meta["site assets"] == own  # its own assets, not the batch's
        assert meta["not found"] == meta["site not found"] == (1 if key == missing_site else 0)
        assert meta["synced"] == meta["site synced"] == own - meta["not found"]
        assert (missing in meta["failed and not-found ids"]) == (key == missing_site)
        assert meta["requests this run"] >= own and meta["retries this run"] == meta["requests this run"] - own
        assert "batch assets due" not in meta and "429 answers" not in meta  # the batch's figures are not a site's
    batch = batch_metadata(result)
    assert batch["batch assets due"] == len(pipeline.asset_ids)  # they are the run's, once
    assert batch["rows in ic3_workorder_summary"] == 2 * (len(pipeline.asset_ids) - 1)  # all but the 404
    assert sum(meta["assets due"] for meta in shown.values()) == len(pipeline.asset_ids)
    rows = per_partition(result, "innomaint/workorder_summary")
    assert {key: meta["rows written"] for key, meta in rows.items()} == {
        key: 2 * shown[key]["synced"] for key in shown}

    again = per_partition(pipeline.enrich())  # nothing due: the sites still say where they stand
    assert all(meta["assets due"] == 0 and meta["site synced"] == per_site[key] - (key == missing_site)
               for key, meta in again.items())
    with pipeline.engine.connect() as conn:
        recorded = conn.execute(select(tables.sync_state.c.last_sync_status)).scalars().all()
    assert Counter(recorded) == {"success": len(pipeline.asset_ids) - 1, "not_found": 1}


def test_each_site_is_materialized_as_it_finishes_not_after_the_batch(pipeline):
    """A ranged run logs a site's materializations the moment its last due asset is written: the first site shows in
    the event log (and the UI) while the batch is still fetching the others, not after the run's last request."""
    pipeline.simulator.configure(latency_ms=40.0)  # the batch takes a while: the sites finish one after another
    result = pipeline.enrich()
    assert result.success
    events = list(result.all_events)
    materialized = [i for i, e in enumerate(events) if e.event_type_value == "ASSET_MATERIALIZATION"]
    batch_end = next(i for i, e in enumerate(events) if e.event_type_value == "ASSET_OBSERVATION")
    assert len(materialized) == 3 * len(pipeline.partition_keys)  # each site once, each of the three tables
    with pipeline.engine.connect() as conn:
        last_write = conn.execute(select(func.max(tables.sync_state.c.last_synced_at))).scalar_one()
    first_site_at = min(record.timestamp for record in pipeline.instance.all_logs(
        result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION))
    assert first_site_at < as_utc(last_write).timestamp() - 0.2  # logged well before the batch's last write
    assert all(i < batch_end for i in materialized)  # and the batch's own figures come once, at its end
    assert result.get_asset_check_evaluations() and all(
        c.passed for c in result.get_asset_check_evaluations() if c.check_name != "assets_known_to_innomaint")


def test_a_stopped_batch_materializes_only_the_sites_it_finished(pipeline):
    """The API failing every call mid-run stops the batch (API down): the sites finished before the stop are
    materialized, each with its own figures; the others are not (the run fails, and their assets stay due)."""
    keys = pipeline.partition_keys
    assert pipeline.enrich(keys[:2]).success  # two sites synced: nothing due there any more
    pipeline.simulator.configure(fault_rate=1.0, fault_kinds=("503",))  # every call fails from now on
    stopped = pipeline.enrich(keys, max_attempts=1)
    assert not stopped.success
    done = {e.partition for e in stopped.get_asset_materialization_events()}
    assert set(keys[:2]) <= done < set(keys)
    with pipeline.engine.connect() as conn:
        never_tried = set(conn.execute(
            select(tables.location_master.c.partition_key)
            .join(tables.asset_master, tables.asset_master.c.location_id == tables.location_master.c.location_id)
            .outerjoin(tables.sync_state, tables.sync_state.c.asset_id == tables.asset_master.c.asset_id)
            .where(tables.sync_state.c.last_attempt_at.is_(None))
        ).scalars())
    assert never_tried and never_tried.isdisjoint(done)  # a site with an asset the batch never reached is unfinished
    for event in stopped.get_asset_materialization_events():
        meta = event.materialization.metadata
        if event.asset_key.to_user_string() == DETAILS and event.partition not in keys[:2]:
            assert meta["failed"].value == meta["assets due"].value  # what the stop's run did there: all failed
