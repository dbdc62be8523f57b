"""The unified model's cost: mapping records alone, and a page's write with and without its unified rows.

1. **Mapping alone**: ``RecordMapping.map_record`` over the simulator's Maximo assets and work orders, exactly as
   ``defs/maximo/defs.yaml`` maps them (trim, upper, value maps, bands, four ISO dates with offsets, concatenations):
   records/s on one core, no database. The issue's bar: the mapping must not be the bottleneck below 20k records/s.
2. **Page write**: the engine's page writer (``_PageWriter.write``: raw rows, child rows, the mark, in one
   transaction) on 500-record pages into a fresh SQLite file, with the stream's mapping (raw + unified rows and the
   replace of their mapping errors) and without it (the raw tables only), best of three interleaved runs: records/s,
   and the share of the time spent in the unified writer (timed around it, so the figure holds on a busy machine).

    python -m bench.unified_mapping            # 10,000 work orders and 5,000 assets
    python -m bench.unified_mapping --quick    # 2,000 and 1,000
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from bench.harness import Table, heading

PAGE = 500
REPEATS = 3


def _records(assets_per_site: int):
    from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig, MaximoSimulator

    with MaximoSimulator(MaximoSimConfig(sites=("BEDFORD", "NASHUA"), assets_per_site=assets_per_site, seed=3)) as sim:
        return {"asset": sim.truth("mxapiasset"), "wodetail": sim.truth("mxapiwodetail")}


def _write_seconds(stream, records, folder: Path, run: int) -> tuple[float, float]:
    """(seconds writing every page, of which in the unified writer) on a fresh SQLite file."""
    from ic3_pipeline.sync.collection_sync import _PageWriter
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(f"sqlite:///{folder / f'{stream.name}-{stream.mapping is not None}-{run}.sqlite'}")
    ensure_schema(engine)
    writer = _PageWriter(engine, "maximo", stream, "BEDFORD", None, None)
    inside = [0.0]
    if writer.unified is not None:
        unified_write = writer.unified.write

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return unified_write(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - started

        writer.unified.write = timed
    started = time.perf_counter()
    for offset in range(0, len(records), PAGE):
        writer.write(offset, records[offset:offset + PAGE], [])
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, inside[0]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.unified_mapping", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from ic3_pipeline.components.catalog import configured

    spec = next(s for s in configured()[1] if s.source == "maximo")
    records = _records(500 if args.quick else 2_500)

    heading("Unified mapping alone: Maximo records as defs/maximo/defs.yaml maps them")
    table = Table(["stream", "records", "seconds", "records/s", "µs/record"])
    for name, found in records.items():
        mapping = spec.stream(name).mapping
        started = time.perf_counter()
        for record in found:
            mapping.map_record(record)
        elapsed = time.perf_counter() - started
        table.row(name, len(found), elapsed, len(found) / elapsed, elapsed / len(found) * 1e6)

    heading(f"Page write ({PAGE}-record pages, SQLite) with and without the unified rows, best of {REPEATS}")
    table = Table(["stream", "records", "raw only s", "raw + unified s", "of which unified s", "raw only rec/s",
                   "raw + unified rec/s", "unified share"])
    with tempfile.TemporaryDirectory() as folder:
        for name, found in records.items():
            stream = spec.stream(name)
            bare, mapped, inside = [], [], []
            for run in range(REPEATS):  # interleaved, so a burst of load from elsewhere hits both alike
                bare.append(_write_seconds(dataclasses.replace(stream, mapping=None), found, Path(folder), run)[0])
                total, unified = _write_seconds(stream, found, Path(folder), run)
                mapped.append(total)
                inside.append(unified)
            table.row(name, len(found), min(bare), min(mapped), min(inside), len(found) / min(bare),
                      len(found) / min(mapped), f"{min(inside) / min(mapped):.0%}")


if __name__ == "__main__":
    main()
