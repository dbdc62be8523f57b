"""Scale: register import, enrichment write path and status query at 3k, 30k and 300k assets.

Each step runs in its own process (its peak RSS is its own; "above start" subtracts the RSS the process had once its
imports and engine were ready, so the step's own growth shows). The simulator is not served: the write path is
measured apart from HTTP, on the bodies the simulator would send (``AssetDirectory.record`` + ``encode_body``,
generated outside the timed part), parsed with ``records.parse_body``/``parse_asset_detail`` and written with
``sync.attempts.store_group`` in the writer's groups of up to ``MAX_GROUP`` assets, as a sync writes whenever answers
arrive faster than it writes them. Ids are streamed from the database 1,000 at a
time so the harness itself keeps memory flat.

Writing 300k assets takes minutes here, so above ``--write-cap`` assets a spread subset
is written (every k-th id across the whole table) and the full-size time extrapolated linearly; the table marks
those figures with "~". Rows/s for the write path counts every table row written (asset master update, landed
response, performance, two work-order rows, sync log, and new building/floor/department rows).

    python -m bench.scale            # 3k, 30k, 300k (300k write path: 30k measured, extrapolated)
    python -m bench.scale --quick    # 3k, 30k (30k write path: 3k measured, extrapolated)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator

from bench.harness import Table, heading, in_subprocess, peak_rss_mb, register_file

CHUNK = 1_000


def _enrichment_tables():
    from ic3_pipeline.warehouse import tables

    return (tables.raw_response, tables.asset_performance, tables.workorder_summary, tables.sync_log,
            tables.building, tables.floor_master, tables.department_master)


def _row_count(engine) -> int:
    from sqlalchemy import func, select

    with engine.connect() as conn:
        return sum(conn.execute(select(func.count()).select_from(table)).scalar_one() for table in _enrichment_tables())


def measure_import(url: str, register: str) -> dict:
    """``import_register`` into an empty database (schema created first, untimed)."""
    from ic3_pipeline.register.importer import import_register
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(url)
    ensure_schema(engine)
    start_rss = peak_rss_mb()
    started = time.perf_counter()
    summary, _ = import_register(engine, register)
    wall = time.perf_counter() - started
    return {"rows": summary.rows_read, "measured": summary.rows_read, "wall_s": wall, "assets": summary.rows_read,
            "peak_rss_mb": peak_rss_mb(), "start_rss_mb": start_rss}


def _ids_with_sites(engine, every: int) -> Iterator[list[tuple[str, str]]]:
    """(asset id, site) in id order, every ``every``-th one, in chunks: the harness's memory stays flat too."""
    from sqlalchemy import select

    from ic3_pipeline.warehouse import tables

    asset, location = tables.asset_master, tables.location_master
    query = (select(asset.c.cmms_asset_id, location.c.location_name)
             .join(location, location.c.location_id == asset.c.location_id)
             .order_by(asset.c.cmms_asset_id).limit(CHUNK))
    last, position = None, 0
    while True:
        with engine.connect() as conn:
            page = conn.execute(query if last is None else query.where(asset.c.cmms_asset_id > last)).all()
        if not page:
            return
        last = page[-1][0]
        chosen = [(asset_id, site) for offset, (asset_id, site) in enumerate(page, start=position)
                  if offset % every == 0]
        position += len(page)
        if chosen:
            yield chosen


def measure_write(url: str, cap: int) -> dict:
    """Parse and store up to ``cap`` assets' responses (spread over the table); time only parse + store."""
    from sqlalchemy import func, select

    from bench.harness import BENCH_SOURCE, bench_context
    from ic3_pipeline.connectors import get_connector
    from ic3_pipeline.connectors.innomaint.records import parse_asset_detail, parse_body
    from ic3_pipeline.sync.attempts import store_group
    from ic3_pipeline.sync.batch import MAX_GROUP
    from ic3_pipeline.sync.connector import FetchOutcome
    from ic3_pipeline.sandbox.innomaint_data import AssetDirectory, encode_body
    from ic3_pipeline.warehouse import make_engine, tables

    engine = make_engine(url)
    with engine.connect() as conn:
        assets = conn.execute(select(func.count()).select_from(tables.asset_master)).scalar_one()
    every = max(1, -(-assets // cap))
    rows_before = _row_count(engine)
    context = bench_context("bench-write-path")
    connector = get_connector(BENCH_SOURCE)
    start_rss = peak_rss_mb()
    written, timed = 0, 0.0
    for chunk in _ids_with_sites(engine, every):
        directory = AssetDirectory([asset_id for asset_id, _ in chunk], seed=7, sites=dict(chunk))
        bodies = [(asset_id, encode_body(directory.record(asset_id))) for asset_id, _ in chunk]
        started = time.perf_counter()
        outcomes = [FetchOutcome(asset_id, "success", 1, 200, record=parse_asset_detail(parse_body(body), asset_id),
                                 body=body) for asset_id, body in bodies]
        for start in range(0, len(outcomes), MAX_GROUP):
            store_group(engine, connector, outcomes[start:start + MAX_GROUP], context)
        timed += time.perf_counter() - started
        written += len(bodies)
    rows = _row_count(engine) - rows_before + written  # + the asset master rows updated
    return {"assets": assets, "measured": written, "rows": rows, "wall_s": timed,
            "peak_rss_mb": peak_rss_mb(), "start_rss_mb": start_rss}


def measure_status(url: str) -> dict:
    """``sync_status``: the query behind ``ic3 status`` and the status asset."""
    from ic3_pipeline.status.queries import sync_status
    from ic3_pipeline.warehouse import make_engine

    engine = make_engine(url)
    start_rss = peak_rss_mb()
    started = time.perf_counter()
    status = sync_status(engine)
    wall = time.perf_counter() - started
    return {"assets": status.total, "measured": status.total, "rows": status.total, "wall_s": wall,
            "peak_rss_mb": peak_rss_mb(), "start_rss_mb": start_rss}


def measure_all(url: str, size: int, write_cap: int) -> list[tuple[str, dict]]:
    """Import, write path and status on ``url`` (which must be empty), each step in its own process."""
    register = str(register_file(size))
    return [
        ("register import", in_subprocess("bench.scale", "measure_import", url=url, register=register)),
        ("write path", in_subprocess("bench.scale", "measure_write", url=url, cap=write_cap)),
        ("status query", in_subprocess("bench.scale", "measure_status", url=url)),
    ]


COLUMNS = ["step", "assets", "measured", "wall s", "assets/s", "rows/s", "full size s", "peak RSS MB",
           "above start MB"]


def table_row(step: str, result: dict) -> list[object]:
    """One figure: the measured wall time and rate, the (possibly extrapolated) full-size time, memory."""
    measured, assets = result["measured"], result["assets"]
    full = result["wall_s"] * assets / measured if measured else 0.0
    return [step, assets, measured, result["wall_s"], measured / result["wall_s"], result["rows"] / result["wall_s"],
            ("~" if measured < assets else "") + (f"{full:.2f}" if full < 10 else f"{full:.0f}"),
            round(result["peak_rss_mb"]), round(result["peak_rss_mb"] - result["start_rss_mb"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3k and 30k; write path capped at 3k assets")
    parser.add_argument("--write-cap", type=int, help="assets written at most per size (default 30,000; quick 3,000)")
    args = parser.parse_args()
    sizes = [3_000, 30_000] if args.quick else [3_000, 30_000, 300_000]
    cap = args.write_cap or (3_000 if args.quick else 30_000)
    heading("Scale on SQLite: import, write path (HTTP excluded), status query")
    table = Table(COLUMNS)
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            for step, result in measure_all(f"sqlite:///{tmp}/scale.sqlite", size, cap):
                table.row(*table_row(step, result))


if __name__ == "__main__":
    main()
