"""Register import benchmark: time and peak memory of an import against a bare calamine read of the same file.

Each measurement runs in its own process, so its peak RSS (``ru_maxrss``) is its own, and the contenders alternate in
one run on one machine; read the ratios, not the seconds (this machine is shared). The baseline is the least any
import of the file must do: ``python-calamine`` opens it, decodes the sheet and hands every row to Python
(``get_sheet_by_name(...).iter_rows()``). ``pandas.read_excel(engine="calamine")`` is shown beside it for reference.
The product is ``import_register`` into an empty database (schema created first, untimed), then the same file again
in a fresh process (the idempotent re-import: every row read, typed and hashed, nothing written).

    python -m bench.register_import            # 3k, 30k, 300k rows; SQLite, and PostgreSQL when a server answers
    python -m bench.register_import --quick    # 3k, 30k
    python -m bench.register_import --sizes 300000 --no-postgres
    python -m bench.register_import --sizes 300000 --against 99b20a9   # and that release's import, same run

With ``--against COMMIT`` the import of that commit's ``ic3_pipeline`` (extracted read-only with ``git archive``, as
``bench.redesign`` does) is measured beside this tree's, on the same file, database kind and machine minute.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # as bench.databases


def register_file(rows: int) -> Path:
    """The sample register with ``rows`` assets (cached across runs: writing 300k rows takes a few minutes)."""
    from ic3_pipeline.sandbox.register_generator import write_sample_register

    path = OUT / f"register_{rows}.xlsx"
    if not path.exists():
        write_sample_register(path, assets=rows, sites=max(1, rows // 50), seed=7)
    return path


def measure_calamine(path: str) -> dict:
    """The baseline: decode the sheet and take every row into Python, nothing more."""
    import python_calamine

    start, cpu = time.perf_counter(), time.process_time()
    workbook = python_calamine.CalamineWorkbook.from_path(path)
    sheet = workbook.get_sheet_by_name(workbook.sheet_names[0])
    rows = sum(1 for _ in sheet.iter_rows()) - 1
    return {"rows": rows, "seconds": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "peak_rss_mb": _peak_rss_mb()}


def measure_pandas(path: str) -> dict:
    import pandas

    start = time.perf_counter()
    frame = pandas.read_excel(path, engine="calamine")
    return {"rows": len(frame), "seconds": time.perf_counter() - start, "peak_rss_mb": _peak_rss_mb()}


def measure_import(path: str, database_url: str) -> dict:
    from ic3_pipeline.register.importer import import_register
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(database_url)
    ensure_schema(engine)
    start_rss = _peak_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    summary, _ = import_register(engine, path)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    engine.dispose()
    import ic3_pipeline

    written = summary.inserted + summary.updated
    return {"rows": summary.rows_read, "written": written, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(),
            "start_rss_mb": start_rss, "cpu_s": cpu, "tree": str(Path(ic3_pipeline.__file__).parent.parent)}


def _peak_rss_mb() -> float:
    """This process's peak RSS: the kernel's high-water mark (``ru_maxrss`` would carry the launching process's
    peak across ``exec``)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def _in_subprocess(function: str, *args: str, tree: Path | None = None) -> dict:
    """``function(*args)`` in a fresh interpreter; with ``tree``, one whose ``ic3_pipeline`` is that folder's."""
    code = f"import json, bench.register_import as b; print(json.dumps(b.{function}(*{list(args)!r})))"
    project = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (tree, project) if p is not None)}
    with tempfile.TemporaryDirectory() as neutral:  # the current directory must not shadow the tree
        output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env,
                                cwd=neutral).stdout
    result = json.loads(output.strip().splitlines()[-1])
    if tree is not None and Path(result["tree"]) != tree:
        raise RuntimeError(f"measured {result['tree']}, not {tree}")
    return result


def _databases(args: argparse.Namespace, folder: str) -> list[tuple[str, str, object | None]]:
    from bench.databases import ScratchPostgres  # imported here: the measuring processes stay free of SQLAlchemy

    found: list[tuple[str, str, object | None]] = [("SQLite", f"sqlite:///{folder}/bench.sqlite", None)]
    if not args.no_postgres:
        scratch = ScratchPostgres(args.postgres_url)
        try:
            found.append(("PostgreSQL", scratch.create(), scratch))
        except Exception as error:  # no server: the SQLite rows still stand
            print(f"(PostgreSQL skipped: {str(error).splitlines()[0]})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3k and 30k rows only")
    parser.add_argument("--sizes", type=int, nargs="+", help="row counts (default 3k 30k 300k)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference read")
    parser.add_argument("--against", metavar="COMMIT", help="also measure this commit's import (e.g. 99b20a9)")
    parser.add_argument("--postgres-url", default=os.environ.get("IC3_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    sizes = args.sizes or ([3_000, 30_000] if args.quick else [3_000, 30_000, 300_000])
    OUT.mkdir(exist_ok=True)
    print("| rows | database | import | calamine read s | import s | import / read | re-import s | re-import / read "
          "| read peak MB | import peak MB | pandas read s | pandas / read | import CPU / read CPU | re-import CPU / read CPU |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with contextlib.ExitStack() as stack:
        trees: dict[str, Path | None] = {"ic3": None}
        if args.against:
            old = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ic3_bench_old_")))
            _extract(args.against, old)
            trees = {f"ic3 {args.against}": old, "ic3": None}
        for size in sizes:
            _measure_size(args, size, trees)


def _extract(commit: str, folder: Path) -> None:
    """``commit``'s ``ic3_pipeline`` into ``folder``: ``git archive``, read-only on the repository."""
    project = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(project), "archive", "--format=tar", commit, "ic3_pipeline"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")


def _measure_size(args: argparse.Namespace, size: int, trees: dict[str, Path | None]) -> None:
    path = str(register_file(size))
    pandas_read = None if args.no_pandas else _in_subprocess("measure_pandas", path)
    for label, tree in trees.items():
        with tempfile.TemporaryDirectory() as folder:
            for name, url, scratch in _databases(args, folder):
                try:
                    read = _in_subprocess("measure_calamine", path)  # a baseline beside each import
                    first = _in_subprocess("measure_import", path, url, tree=tree)
                    again = _in_subprocess("measure_import", path, url, tree=tree)
                finally:
                    if scratch is not None:
                        scratch.drop()
                assert first["rows"] == first["written"] == read["rows"] and again["written"] == 0, (first, again)
                pandas_cells = ("-", "-") if pandas_read is None else (
                    f"{pandas_read['seconds']:.2f}", f"{pandas_read['seconds'] / read['seconds']:.2f}")
                print(
                    f"| {size:,} | {name} | {label} | {read['seconds']:.2f} | {first['seconds']:.2f} "
                    f"| {first['seconds'] / read['seconds']:.2f} | {again['seconds']:.2f} "
                    f"| {again['seconds'] / read['seconds']:.2f} | {read['peak_rss_mb']:.0f} "
                    f"| {max(first['peak_rss_mb'], again['peak_rss_mb']):.0f} | {pandas_cells[0]} | {pandas_cells[1]} "
                    f"| {first.get('cpu_s', 0) / read.get('cpu_s', 1):.2f} "
                    f"| {again.get('cpu_s', 0) / read.get('cpu_s', 1):.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
