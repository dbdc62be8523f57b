"""The performance history: written by a real sync against the Innomaint simulator, in the write's transaction."""

from __future__ import annotations

from collections import Counter

import pytest

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


def test_kpis_after_a_real_sync_are_the_sums_of_the_synced_rows(pipeline, monkeypatch):
    """The project's own KPI definitions after a real sync: wired after innomaint/asset_performance, and each site's
    row equal to the sums over its assets worked out here from the rows the sync wrote."""
    import json

    from click.testing import CliRunner
    from dagster import AssetKey, materialize

    from ic3_pipeline.cli.app import main
    from ic3_pipeline.defs.kpi.definitions import performance_asset_keys
    from ic3_pipeline.kpi.assets import build_kpi_assets, build_kpi_checks
    from ic3_pipeline.warehouse.resource import WarehouseResource

    assert performance_asset_keys() == [AssetKey(["innomaint", "asset_performance"])]
    assert pipeline.enrich().success
    engine = pipeline.engine
    result = materialize([*build_kpi_assets([]), build_kpi_checks()],
                         resources={"warehouse": WarehouseResource(database_url=pipeline.db_url)})
    assert result.success
    with engine.connect() as conn:
        site_of = dict(conn.execute(select(tables.asset_master.c.asset_id, tables.asset_master.c.site_name)).all())
        performance = conn.execute(select(tables.asset_performance)).mappings().all()
        table = {row["site_name"]: row for row in conn.execute(select(tables.kpi_site)).mappings()}
    sums: dict[str, list] = {site: [0, 0, 0, 0.0, 0.0] for site in set(site_of.values())}
    for asset_id, site in site_of.items():
        sums[site][0] += 1
    for row in performance:
        quantities = (row["total_ticket"], row["total_ticket_breakdown_hours"], row["total_actual_hours"])
        if None in quantities:
            continue
        entry = sums[site_of[row["asset_id"]]]
        entry[1] += 1
        entry[2] += quantities[0]
        entry[3] += quantities[1]
        entry[4] += quantities[2]
    without_data = 0
    for site, (assets, with_data, events, repair, operating) in sums.items():
        row = table[site]
        without_data += assets - with_data
        assert (row["assets"], row["assets_with_data"], row["repair_events"]) == (assets, with_data, events)
        assert row["repair_hours"] == pytest.approx(repair, rel=1e-12)  # the database adds in its own order
        assert row["operating_hours"] == pytest.approx(operating, rel=1e-12)
        assert row["mttr_hours"] == (pytest.approx(repair / events, rel=1e-12) if events else None)
        assert row["availability_pct"] == pytest.approx((operating - repair) / operating * 100, rel=1e-12)
    assert without_data > 0  # the simulator sends some empty durations: those assets are left out and counted
    monkeypatch.setenv("IC3_DATABASE_URL", pipeline.db_url)
    printed = json.loads(CliRunner().invoke(main, ["kpi", "--json"], catch_exceptions=False).output)
    assert {row["site"]: row["mtbf_hours"] for row in printed["sites"]} == {
        site: row["mtbf_hours"] for site, row in table.items()}
    assert printed["fleet"]["assets_without_data"] == without_data
