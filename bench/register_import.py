"""Register import benchmark: rows/s and peak memory for 3k, 30k and 300k rows, against a same-run baseline.

Each measurement runs in its own process so that its peak RSS is its own. The baseline is what a hand-made import
would do first: parse the same file with openpyxl (read-only mode) — the ratio says what the product's reader and
loader cost relative to merely reading the file the obvious way, on this machine, in this run.

    python -m bench.register_import            # 3k, 30k, 300k
    python -m bench.register_import --quick    # 3k, 30k
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def register_file(rows: int) -> Path:
    """The sample register with ``rows`` assets (cached across runs: writing 300k rows takes a minute)."""
    from ic3_pipeline.sandbox.register_generator import write_sample_register

    path = OUT / f"register_{rows}.xlsx"
    if not path.exists():
        write_sample_register(path, assets=rows, sites=max(1, rows // 50), seed=7)
    return path


def measure_import(path: str, database_url: str) -> dict:
    from ic3_pipeline.register.importer import import_register
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(database_url)
    ensure_schema(engine)
    start = time.perf_counter()
    summary, _ = import_register(engine, path)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again, _ = import_register(engine, path)  # the idempotent re-import: nothing written
    second = time.perf_counter() - start
    assert again.unchanged == summary.rows_read
    return {"rows": summary.rows_read, "import_s": first, "reimport_s": second, "peak_rss_mb": _peak_rss_mb()}


def measure_openpyxl(path: str) -> dict:
    from openpyxl import load_workbook

    start = time.perf_counter()
    workbook = load_workbook(path, read_only=True)
    rows = sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True)) - 1
    return {"rows": rows, "read_s": time.perf_counter() - start, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_subprocess(function: str, *args: str) -> dict:
    code = f"import json, bench.register_import as b; print(json.dumps(b.{function}(*{list(args)!r})))"
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3k and 30k rows only")
    parser.add_argument("--database-url", help="target database (default: a fresh SQLite file per size)")
    args = parser.parse_args()
    sizes = [3_000, 30_000] if args.quick else [3_000, 30_000, 300_000]
    OUT.mkdir(exist_ok=True)
    print(f"{'rows':>8} {'import s':>9} {'rows/s':>9} {'re-import s':>12} {'peak MB':>8} {'openpyxl read s':>16} {'ratio':>6}")
    for size in sizes:
        path = register_file(size)
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
            product = _in_subprocess("measure_import", str(path), url)
        baseline = _in_subprocess("measure_openpyxl", str(path))
        ratio = product["import_s"] / baseline["read_s"]
        print(
            f"{product['rows']:>8} {product['import_s']:>9.2f} {product['rows'] / product['import_s']:>9.0f} "
            f"{product['reimport_s']:>12.2f} {product['peak_rss_mb']:>8.0f} {baseline['read_s']:>16.2f} {ratio:>6.2f}"
        )


if __name__ == "__main__":
    main()
