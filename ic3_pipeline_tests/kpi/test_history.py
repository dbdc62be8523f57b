"""The performance history: written by a real sync against the Innomaint simulator, in the write's transaction."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from ic3_pipeline.warehouse import tables

HISTORY_VALUES = ("total_ticket", "mttr_hours", "mtbf_hours", "availability_pct", "total_ticket_breakdown_hours",
                  "total_schedule_breakdown_hours", "total_actual_hours")


def read(engine):
    with engine.connect() as conn:
        history = conn.execute(select(tables.asset_performance_history).order_by(
            tables.asset_performance_history.c.id)).mappings().all()
        performance = {row["cmms_asset_id"]: row for row in conn.execute(
            select(tables.asset_performance)).mappings()}
    return history, performance


def test_two_syncs_give_two_rows_for_changed_assets_and_one_for_the_others(pipeline):
    engine = pipeline.engine
    first = pipeline.enrich()
    assert first.success
    history, performance = read(engine)
    synced = set(performance)
    assert len(synced) == len(pipeline.asset_ids)
    # One row per synced asset: its version, its sync time, the values its performance row holds.
    assert Counter(row["cmms_asset_id"] for row in history) == Counter(synced)
    for row in history:
        current = performance[row["cmms_asset_id"]]
        assert row["sync_version"] == current["sync_version"] == 1
        assert row["synced_at"] == current["recorded_at"]
        assert {c: row[c] for c in HISTORY_VALUES} == {c: current[c] for c in HISTORY_VALUES}

    changed = pipeline.asset_ids[:3]
    for asset_id in changed:
        pipeline.simulator.add_repairs(asset_id, tickets=2, seconds=5 * 3600)
    second = pipeline.enrich(config={"force": True})  # every asset fetched again; only three answer differently
    assert second.success
    history, performance = read(engine)
    rows_of = Counter(row["cmms_asset_id"] for row in history)
    assert {asset_id for asset_id, count in rows_of.items() if count == 2} == set(changed)
    assert all(rows_of[asset_id] == 1 for asset_id in synced - set(changed))
    assert all(row["sync_version"] == 2 for row in performance.values())  # every asset was rewritten
    for asset_id in changed:
        old, new = [row for row in history if row["cmms_asset_id"] == asset_id]
        assert (old["sync_version"], new["sync_version"]) == (1, 2)
        assert new["total_ticket"] == (old["total_ticket"] or 0) + 2
        assert new["total_ticket_breakdown_hours"] == (old["total_ticket_breakdown_hours"] or 0) + 5
        assert new["synced_at"] > old["synced_at"]
        assert {c: new[c] for c in HISTORY_VALUES} == {c: performance[asset_id][c] for c in HISTORY_VALUES}


def test_a_reparse_with_the_same_parser_adds_no_history(pipeline):
    from ic3_pipeline.sync.reparse import reparse_assets
    from ic3_pipeline_tests.sources import INNOMAINT

    assert pipeline.enrich().success
    before, _ = read(pipeline.engine)
    report = reparse_assets(pipeline.engine, INNOMAINT.connector, INNOMAINT.source, None)
    assert report.rebuilt == len(pipeline.asset_ids)
    after, performance = read(pipeline.engine)
    assert after == before
    assert all(row["sync_version"] == 2 for row in performance.values())
