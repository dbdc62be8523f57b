"""Hostile values are stored verbatim; overlapping runs of one partition lose no update; awkward registers behave."""

import asyncio
import json
from dataclasses import replace

from openpyxl import Workbook
from sqlalchemy import select

from ic3_pipeline.http_client import HttpPolicy
from ic3_pipeline.connectors.innomaint.client import InnomaintClient
from ic3_pipeline.sync.batch import sync_assets
from ic3_pipeline_tests.sources import INNOMAINT, inconsistent
from ic3_pipeline.connectors.innomaint.records import parse_asset_detail, parse_body
from ic3_pipeline.sync.attempts import SyncContext, store_success
from ic3_pipeline.sync.connector import FetchOutcome
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.problems import RegisterRejected
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint.conftest import TOKEN

CONTEXT = SyncContext(source=INNOMAINT.source, sync_type=INNOMAINT.connector_name)

HOSTILE = [
    "x'); DROP TABLE ic3_asset_master; --",
    'quote " and \\ backslash',
    "control \x01\x02\x1f chars and \t tab",
    "unicode: Zürich ✓ 東京 🚒",
    "k" * 10_240,
]


def test_hostile_api_strings_are_stored_verbatim(pipeline):
    asset_id = pipeline.asset_ids[0]
    document = pipeline.simulator.expected_record(asset_id)
    data = document["response"]["data"]
    data["in_charge_person"], data["barcode"], data["building_name"], data["capacity_rating"] = HOSTILE[:4]
    document["response"]["performance"]["equipments_name"] = HOSTILE[4]
    body = json.dumps(document).encode()
    record = parse_asset_detail(parse_body(body), asset_id)
    engine = pipeline.engine
    outcome = FetchOutcome(asset_id, "success", attempts=1, http_status=200, record=record, body=body)
    store_success(engine, INNOMAINT.connector, outcome, CONTEXT)
    with engine.connect() as conn:
        master = conn.execute(select(tables.asset_master).where(tables.asset_master.c.cmms_asset_id == asset_id)).one()
        building = conn.execute(select(tables.building.c.building_name).where(tables.building.c.building_id == master.building_id)).scalar_one()
        performance = conn.execute(select(tables.asset_performance.c.equipments_name)).scalar_one()
        payload = conn.execute(select(tables.raw_response.c.payload)).scalar_one()
        tables_left = conn.execute(select(tables.asset_master.c.asset_id)).all()
    assert (master.in_charge_person, master.barcode, building) == (HOSTILE[0], HOSTILE[1], HOSTILE[2])
    assert performance == HOSTILE[4] and json.loads(payload) == document
    assert len(tables_left) == len(pipeline.asset_ids)  # nothing was injected


def test_two_overlapping_runs_of_one_partition_lose_no_update(pipeline):
    """Two batches fetch and write the same assets at the same time (as two runs would without the pool): every
    asset ends at sync_version 2, one performance row and two work-order rows each."""
    pipeline.simulator.configure(latency_ms=20.0)
    engine = pipeline.engine

    async def both():
        policy = HttpPolicy(concurrency=8, initial_rate=200.0, timeout_s=5.0)
        async with InnomaintClient(pipeline.simulator.base_url, TOKEN, policy) as a, \
                InnomaintClient(pipeline.simulator.base_url, TOKEN, policy) as b:
            return await asyncio.gather(
                sync_assets(a, INNOMAINT.connector, engine, pipeline.asset_ids, context=replace(CONTEXT, batch_id="a")),
                sync_assets(b, INNOMAINT.connector, engine, list(reversed(pipeline.asset_ids)),
                            context=replace(CONTEXT, batch_id="b")),
            )

    first, second = asyncio.run(both())
    assert first.synced == second.synced == len(pipeline.asset_ids)
    with engine.connect() as conn:
        versions = set(conn.execute(select(tables.asset_master.c.sync_version)).scalars())
        perf = conn.execute(select(tables.asset_performance.c.asset_id)).scalars().all()
        logged = conn.execute(select(tables.sync_log.c.serialnumber)).scalars().all()
    assert versions == {2}
    assert len(perf) == len(set(perf)) == len(pipeline.asset_ids)
    assert len(logged) == 2 * len(pipeline.asset_ids)
    assert inconsistent(engine) == []


def _workbook(path, header_rows, rows, merge=None):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Assets"
    for header in header_rows:
        sheet.append(header)
    for values in rows:
        sheet.append(values)
    if merge:
        sheet.merge_cells(merge)
    workbook.save(path)
    return path


def test_formulas_dates_as_text_and_merged_headers(engine, tmp_path):
    header = ["Asset ID", "Asset Name", "Site", "Customer", "Installation Date", "Report Sequence No"]
    # A formula openpyxl wrote has no cached value: an optional cell reads empty, a required one is refused clearly.
    ok = _workbook(tmp_path / "ok.xlsx", [header], [["P-1", "Pump", "S", "C", "04/03/2021", "=1+1"]])
    summary, validated = import_register(engine, ok)
    (record,) = validated.records()
    assert record["installation_date"].isoformat() == "2021-03-04" and record["report_sequence_no"] is None
    refused = _workbook(tmp_path / "bad.xlsx", [header], [["=A1", "Pump", "S", "C", None, None]])
    try:
        import_register(engine, refused)
        raise AssertionError("a formula id without a value must be refused")
    except RegisterRejected as error:
        assert "row 2, column A 'Asset ID': is empty; every asset needs one" in str(error)
    # A title merged across the top row: the header is found below it.
    merged = _workbook(tmp_path / "merged.xlsx", [["Asset register"], header], [["P-2", "Pump", "S", "C", None, None]], merge="A1:F1")
    summary, _ = import_register(engine, merged)
    assert summary.inserted == 1
