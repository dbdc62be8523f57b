"""Issue #15's write path: responses → all tables, three trees side by side in one run, and the re-parse.

Trees: the release f7c3f43 (one transaction per asset), 99b20a9 (the redesign before this change: a group of assets
per transaction, SQLAlchemy ``executemany`` per table) and this working tree (statements compiled once to the
driver's SQL, rows bound as tuples, PostgreSQL writing a group as one ``unnest`` statement per table). Each measures
in a fresh process with its own ``ic3_pipeline`` first on ``PYTHONPATH`` (``bench.redesign``'s ``run_in`` and
``redesign_runner.write_path``: the same bodies, digest compared; parse and store timed apart), on a fresh SQLite
file and a fresh PostgreSQL schema each. The release writes fewer assets (its rate does not depend on the count: one
transaction each), the two others ``--assets`` (30,000).

Then, on the working tree's database (every asset synced), ``ic3 reparse``'s engine (``reparse_assets``) rebuilds
every asset from its landed answer (read, parse and write), lever by lever (``REPARSE_RUNS``): the tree before the
fast re-parse, then this tree with each lever added; wall and CPU time (worker processes included), peak memory.

    python -m bench.write_path               # 30,000 assets (release: 3,000)
    python -m bench.write_path --quick       # 3,000 (release: 500)
    python -m bench.write_path --baseline main --only SQLite   # and a fourth tree: main's, to compare a change with
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from sqlalchemy.exc import OperationalError

from bench.harness import Table, heading, register_file
from bench.redesign import DEFAULT_POSTGRES_URL, PROJECT, ScratchSchemas, run_in

TREES = (("release f7c3f43", "f7c3f43"), ("before (99b20a9)", "99b20a9"), ("this tree", None))


def _extract(commit: str, into: Path) -> Path:
    """``ic3_pipeline`` at ``commit`` in a folder of its own (``git archive``: read-only on the repository)."""
    archive = subprocess.run(["git", "-C", str(PROJECT), "archive", "--format=tar", commit, "ic3_pipeline"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


# The re-parse, lever by lever, on the same database (every asset the working tree wrote): the tree before the fast
# re-parse (it rewrote each landed body, groups of 250, one process), then this tree's levers one at a time. The last
# is what ``ic3 reparse`` runs by default (its figure is the one to quote).
REPARSE_BEFORE = "9e45f99"
REPARSE_RUNS = (
    (f"before ({REPARSE_BEFORE}): body rewritten, groups of 250", REPARSE_BEFORE, {}),
    ("body kept, version moved; groups of 250", None, {"group": 250, "workers": 1}),
    ("+ groups of 500", None, {"workers": 1}),
    ("+ worker processes (default: CPU count)", None, {"workers": 0}),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3,000 assets (release 500)")
    parser.add_argument("--assets", type=int, default=None, help="assets written by the two newer trees")
    parser.add_argument("--only", choices=["SQLite", "PostgreSQL"], help="one database only")
    parser.add_argument("--baseline", metavar="REF", help="also measure the tree at this commit or branch (before "
                        "this tree, ``--assets`` assets): a change's before and after in one run")
    parser.add_argument("--postgres-url", default=os.environ.get("IC3_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    assets = args.assets or (3_000 if args.quick else 30_000)
    release_assets = min(assets, 500 if args.quick else 3_000)
    register = str(register_file(assets))
    heading(f"Write path (responses → all tables), {assets:,} assets; re-parse of the same")
    trees = list(TREES)
    if args.baseline:
        trees.insert(-1, (f"baseline ({args.baseline})", args.baseline))
    table = Table(["database", "tree", "assets", "parse /s", "store /s", "parse + store /s", "× release",
                   "× before", "store CPU s"])
    reparsed: list[tuple] = []
    schemas = ScratchSchemas(args.postgres_url)
    try:
        schemas.probe()
        databases = ["SQLite", "PostgreSQL"]
    except OperationalError as error:
        print(f"PostgreSQL skipped: {error.orig or error}")
        databases = ["SQLite"]
    databases = [database for database in databases if args.only in (None, database)]
    with tempfile.TemporaryDirectory(prefix="ic3_bench_trees_") as tmp:
        roots = {label: (_extract(commit, Path(tmp) / commit.replace("/", "_")) if commit else PROJECT)
                 for label, commit in trees}
        roots[REPARSE_BEFORE] = _extract(REPARSE_BEFORE, Path(tmp) / REPARSE_BEFORE)
        try:
            for database in databases:
                rates: dict[str, float] = {}
                for label, _ in trees:
                    url = (f"sqlite:///{tmp}/{label.split()[0]}-{len(rates)}-{database}.sqlite" if database == "SQLite"
                           else schemas.url_for_new())
                    count = release_assets if label.startswith("release") else assets
                    result = run_in(roots[label], "write_path", register=register, database=url, records=count)
                    parse_rate = result["records"] / result["parse_s"]
                    store_rate = result["records"] / result["store_s"]
                    both = result["records"] / (result["parse_s"] + result["store_s"])
                    rates[label] = both
                    table.row(database, label, result["records"], parse_rate, store_rate, both,
                              both / rates["release f7c3f43"], both / rates.get("before (99b20a9)", both),
                              result.get("store_cpu_s"))
                    if roots[label] == PROJECT:
                        reparsed += _reparse_runs(database, url, roots[REPARSE_BEFORE])
        finally:
            schemas.drop_all()
    print(f"\nRe-parse (ic3 reparse's engine) of every asset the working tree wrote, lever by lever "
          f"(load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}):\n")
    reparse_table = Table(["database", "re-parse", "assets", "workers", "wall s", "CPU s", "re-parsed /s",
                           "× before", "CPU ms / asset", "300k at this rate s", "peak RSS MB (main / worker)"])
    for row in reparsed:
        reparse_table.row(*row)


def _reparse_runs(database: str, url: str, before_root: Path) -> list[tuple]:
    """Each of ``REPARSE_RUNS`` on ``url`` in a fresh process (``redesign_runner.reparse``); one table row each."""
    rows, before_rate = [], None
    for label, commit, options in REPARSE_RUNS:
        done = run_in(before_root if commit else PROJECT, "reparse", database=url, **options)
        rate = done["rebuilt"] / done["wall_s"]
        before_rate = before_rate or rate
        rows.append((database, label, done["rebuilt"], done["workers"], done["wall_s"], done["cpu_s"], rate,
                     rate / before_rate, 1000 * done["cpu_s"] / max(done["rebuilt"], 1), 300_000 / rate,
                     f"{done['peak_rss_mb']:.0f} / {done['worker_peak_rss_mb']:.0f}"))
    return rows


if __name__ == "__main__":
    main()
