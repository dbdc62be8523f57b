"""The redesign against the release before it: old (f7c3f43, ``ic3_pipeline.innomaint``) vs new (the generic engine,
``ic3_pipeline.sync`` + ``connectors.innomaint`` + the ``CmmsConnection`` component), side by side in one run.

Both trees run in processes of their own from the same interpreter and venv: the old one is the commit's
``ic3_pipeline`` extracted (``git archive``, read-only on the repository) to a temporary folder and put first on
``PYTHONPATH``, the new one is this working tree. ``bench/redesign_runner.py`` does the measuring in each; it detects
which API its tree has by importing it, and the parent refuses a tree whose ``ic3_pipeline.__file__`` is not the one
it asked for (the venv's editable install points at this working tree). Runs alternate old, new, old, new … so the
machine's drift and noise fall on both sides alike; the figures are the ratios new / old.

1. **Whole sync through Dagster**: per simulator setting (R req/s, latency L; default burst, no faults), one
   simulator in its own process serves every run of that setting, so old and new clients hit an identical server.
   Each run: a fresh SQLite database holding the imported register, its site partitions on
   ``dagster.instance_for_test()``, then one ranged run of the enrichment job over every partition, in process
   (old: ``innomaint_enrichment`` + ``innomaint_checks`` with ``InnomaintResource``'s defaults; new:
   ``source_definitions`` of ``defs/innomaint/defs.yaml``'s spec with ``CmmsApiResource`` at the YAML's settings:
   the same 64 in flight, 10 req/s start, 6 attempts, 15 s timeout). Timed: ``execute_in_process`` alone. Requests
   and 429s are the server's counts; synced is what the database holds afterwards; "batch s" is the step's own
   enrichment time (``cmms_sync_log.duration_ms``); CPU s is the client process's CPU over the run.
2. **Write path alone** (HTTP excluded): N bodies the simulator would send (``sandbox.innomaint_data``, identical
   bytes on both sides: their digest is compared), parsed by each tree's ``parse_asset_detail`` (timed apart), then
   written one transaction each by each tree's ``store_success``, on SQLite (a fresh file) and PostgreSQL (a fresh
   schema per run on the local server, via ``?options=-csearch_path=…``, dropped afterwards).

    python -m bench.redesign                 # R=20/L=150 ms and R=100/L=50 ms, 600 assets x 2 rounds; N = 3,000
                                             # (SQLite x 2 rounds, PostgreSQL x 3: its commits are noisier)
    python -m bench.redesign --quick         # R=100/L=50 ms, 200 assets, 1 round; N = 500
    python -m bench.redesign --profile       # only: where the write path's time goes (per statement, cProfile)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import secrets
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from bench.harness import OUT, Table, heading, register_file
from bench.simulator import SimulatorProcess

PROJECT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("redesign_runner.py")
OLD_COMMIT = "f7c3f43"
TOKEN_ENV = "INNOMAINT_API_TOKEN"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SIDES = ("old", "new")


@dataclass(frozen=True)
class Plan:
    settings: tuple[tuple[float, float], ...]  # (R req/s, L ms)
    sync_assets: int
    sync_sites: int
    sync_rounds: int
    write_records: int
    write_rounds: dict[str, int]  # database -> rounds


FULL = Plan(settings=((20, 150), (100, 50)), sync_assets=600, sync_sites=20, sync_rounds=2,
            write_records=3_000, write_rounds={"SQLite": 2, "PostgreSQL": 3})
QUICK = Plan(settings=((100, 50),), sync_assets=200, sync_sites=20, sync_rounds=1,
             write_records=500, write_rounds={"SQLite": 1, "PostgreSQL": 1})


# --- the two trees ---------------------------------------------------------------------------------------------------

class Trees:
    """``with Trees(commit) as trees: trees["old"], trees["new"]``: the folders to put on ``PYTHONPATH``."""

    def __init__(self, commit: str) -> None:
        self.commit = commit
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.paths: dict[str, Path] = {}
        self.described: dict[str, str] = {}

    def __enter__(self) -> Trees:
        self._tmp = tempfile.TemporaryDirectory(prefix="ic3_bench_old_")
        old = Path(self._tmp.name)
        archive = subprocess.run(["git", "-C", str(PROJECT), "archive", "--format=tar", self.commit, "ic3_pipeline"],
                                 capture_output=True, check=True).stdout  # read-only: no worktree to clean up
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(old, filter="data")
        self.paths = {"old": old, "new": PROJECT}
        for side, root in self.paths.items():
            found = run_in(root, "tree")
            expected = (root / "ic3_pipeline" / "__init__.py").resolve()
            if found["api"] != side or Path(found["file"]) != expected:
                raise RuntimeError(f"the {side} tree is not what it should be: {found} (wanted {side} at {expected})")
            self.described[side] = f"{found['api']} API from {Path(found['file']).parent}"
        head = _git("rev-parse", "--short", "HEAD")
        dirty = " + uncommitted changes" if _git("status", "--porcelain", "--", "ic3_pipeline") else ""
        self.described["new"] += f" (HEAD {head}{dirty})"
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _git(*args: str) -> str:
    """A read-only git command on the project (nothing here changes its index, branch or working tree)."""
    return subprocess.run(["git", "-C", str(PROJECT), *args], capture_output=True, text=True, check=True).stdout.strip()


def _env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root), **(extra or {})}


def run_in(root: Path, function: str, env: dict[str, str] | None = None, **kwargs: object) -> dict:
    """``redesign_runner.function(**kwargs)`` in a fresh interpreter whose ``ic3_pipeline`` is ``root``'s.

    Started from a neutral directory, so neither the current directory nor ``bench`` can shadow the tree."""
    with tempfile.TemporaryFile(mode="w+") as stderr, tempfile.TemporaryDirectory() as cwd:
        completed = subprocess.run([sys.executable, str(RUNNER), function, json.dumps(kwargs)], cwd=cwd,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, env=_env(root, env))
        if completed.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{function} in {root} failed ({completed.returncode}):\n{stderr.read()[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


class ScratchSchemas:
    """Fresh schemas on a PostgreSQL server (``url_for_new()``), every one dropped by ``drop_all()``."""

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self._admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.created: list[str] = []

    def probe(self) -> None:
        """Raise OperationalError when no server answers."""
        with self._admin.connect() as conn:
            conn.execute(text("SELECT 1"))

    def url_for_new(self) -> str:
        name = f"ic3_bench_redesign_{os.getpid()}_{len(self.created)}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        self.created.append(name)
        return self.server_url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
            hide_password=False)

    def drop_all(self) -> None:
        with self._admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self.created.clear()


# --- 1. whole sync ---------------------------------------------------------------------------------------------------

def sync_register(assets: int, sites: int) -> Path:
    from ic3_pipeline.sandbox.register_generator import write_sample_register

    path = OUT / f"redesign_register_{assets}_{sites}sites.xlsx"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        write_sample_register(path, assets=assets, sites=sites, seed=7)
    return path


def _sync_ok(result: dict) -> bool:
    return (result["success"] and result["synced"] == result["assets"]
            and all(passed for _, passed in result["checks"]))


def measure_syncs(trees: Trees, plan: Plan) -> tuple[list[tuple], bool]:
    register = sync_register(plan.sync_assets, plan.sync_sites)
    heading(f"Redesign, whole sync through Dagster: old ({OLD_COMMIT}) vs new, {plan.sync_assets:,} assets in "
            f"{plan.sync_sites} sites, one ranged run each, alternating old/new ({plan.sync_rounds} rounds)")
    table = Table(["R req/s", "L ms", "round", "side", "synced", "requests", "429s", "limit found", "wall s",
                   "batch s", "loop s", "CPU s", "goodput /s", "checks", "ok"])
    summary, all_ok = [], True
    for rate, latency_ms in plan.settings:
        token = secrets.token_urlsafe(16)
        results: dict[str, list[dict]] = {side: [] for side in SIDES}
        # The simulator is unchanged since f7c3f43: one process of it serves both trees.
        with tempfile.TemporaryDirectory() as tmp, SimulatorProcess(register, token=token, rate_limit=rate,
                                                                    latency_ms=latency_ms) as simulator:
            for round_ in range(1, plan.sync_rounds + 1):
                for side in SIDES:
                    database = f"sqlite:///{tmp}/{side}_{round_}.sqlite"
                    result = run_in(trees.paths[side], "sync_run", env={TOKEN_ENV: token}, register=str(register),
                                    database=database, base_url=simulator.base_url)
                    ok = _sync_ok(result)
                    all_ok &= ok
                    results[side].append(result)
                    limit = f"{result['limit_found']:.1f}" if result["limit_found"] else "-"
                    table.row(f"{rate:g}", f"{latency_ms:g}", round_, side, result["synced"], result["requests"],
                              result["throttled"], limit, result["wall_s"], result["batch_s"], result["loop_s"],
                              result["cpu_s"],
                              result["synced"] / result["wall_s"], len(result["checks"]), "yes" if ok else "NO")
        if results["old"][0]["http"] != results["new"][0]["http"]:
            print(f"\nnote: HTTP settings differ: old {results['old'][0]['http']}, new {results['new'][0]['http']}")
        summary.append((rate, latency_ms, results))
    return summary, all_ok


def _pooled(results: list[dict], numerator: str, denominator: str) -> float:
    return sum(r[numerator] for r in results) / sum(r[denominator] for r in results)


def print_sync_summary(summary: list[tuple]) -> None:
    print("\nGoodput = synced / wall of the run, pooled over the rounds; ratio = new / old (> 1: new is faster).\n")
    table = Table(["R req/s", "L ms", "old goodput /s", "new goodput /s", "new / old", "per round", "old 429 %",
                   "new 429 %", "batch new / old", "loop new / old", "CPU new / old", "outside batch s old",
                   "outside batch s new"])
    for rate, latency_ms, results in summary:
        old, new = results["old"], results["new"]
        goodput = {side: _pooled(rs, "synced", "wall_s") for side, rs in results.items()}
        batch = {side: _pooled(rs, "synced", "batch_s") for side, rs in results.items()}
        loop = {side: _pooled(rs, "synced", "loop_s") for side, rs in results.items()}
        cpu = {side: sum(r["cpu_s"] for r in rs) for side, rs in results.items()}
        rounds = [(n["synced"] / n["wall_s"]) / (o["synced"] / o["wall_s"]) for o, n in zip(old, new)]
        overhead = {side: sum(r["wall_s"] - r["batch_s"] for r in rs) / len(rs) for side, rs in results.items()}
        table.row(f"{rate:g}", f"{latency_ms:g}", goodput["old"], goodput["new"],
                  f"{goodput['new'] / goodput['old']:.3f}", " ".join(f"{r:.3f}" for r in rounds),
                  f"{100 * _pooled(old, 'throttled', 'requests'):.1f}",
                  f"{100 * _pooled(new, 'throttled', 'requests'):.1f}", f"{batch['new'] / batch['old']:.3f}",
                  f"{loop['new'] / loop['old']:.3f}",
                  f"{cpu['new'] / cpu['old']:.3f}", overhead["old"], overhead["new"])


# --- 2. write path ---------------------------------------------------------------------------------------------------

def measure_writes(trees: Trees, plan: Plan, postgres_url: str) -> tuple[list[tuple], bool]:
    register = register_file(plan.write_records)
    heading(f"Redesign, write path alone: old (a transaction an asset) vs new (groups of up to 100, a savepoint an "
            f"asset), {plan.write_records:,} parsed records (HTTP excluded), alternating old/new")
    table = Table(["database", "round", "side", "records", "parse s", "store s", "store assets/s", "store CPU ms/asset",
                   "synced", "ok"])
    summary, all_ok, digests = [], True, set()
    for database, rounds in plan.write_rounds.items():
        results: dict[str, list[dict]] = {side: [] for side in SIDES}
        schemas = None
        if database == "PostgreSQL":
            schemas = ScratchSchemas(postgres_url)
            try:
                schemas.probe()
            except OperationalError as error:
                print(f"\nPostgreSQL skipped: no server answers at {schemas.server_url.render_as_string()} "
                      f"({error.orig or error})")
                continue
        try:
            with tempfile.TemporaryDirectory() as tmp:
                for round_ in range(1, rounds + 1):
                    for side in SIDES:
                        url = schemas.url_for_new() if schemas else f"sqlite:///{tmp}/{side}_{round_}.sqlite"
                        result = run_in(trees.paths[side], "write_path", register=str(register), database=url,
                                        records=plan.write_records)
                        digests.add(result["bodies_sha256"])
                        ok = result["synced"] == result["records"] == plan.write_records
                        all_ok &= ok
                        results[side].append(result)
                        table.row(database, round_, side, result["records"], result["parse_s"], result["store_s"],
                                  result["records"] / result["store_s"],
                                  f"{1000 * result['store_cpu_s'] / result['records']:.3f}", result["synced"],
                                  "yes" if ok else "NO")
        finally:
            if schemas:
                schemas.drop_all()
        summary.append((database, results))
    if len(digests) > 1:
        print(f"\nWARNING: the two sides wrote different bodies ({sorted(digests)})")
        all_ok = False
    return summary, all_ok


def print_write_summary(summary: list[tuple]) -> None:
    print("\nAssets/s pooled over the rounds; ratio = new / old (> 1: new is faster).\n")
    table = Table(["database", "old store assets/s", "new store assets/s", "new / old", "per round",
                   "parse+store new / old", "store CPU new / old"])
    for database, results in summary:
        old, new = results["old"], results["new"]
        rate = {side: _pooled(rs, "records", "store_s") for side, rs in results.items()}
        both = {side: sum(r["records"] for r in rs) / sum(r["parse_s"] + r["store_s"] for r in rs)
                for side, rs in results.items()}
        cpu = {side: sum(r["store_cpu_s"] for r in rs) for side, rs in results.items()}
        rounds = [(o["store_s"] / n["store_s"]) for o, n in zip(old, new)]
        table.row(database, rate["old"], rate["new"], f"{rate['new'] / rate['old']:.3f}",
                  " ".join(f"{r:.3f}" for r in rounds), f"{both['new'] / both['old']:.3f}",
                  f"{cpu['new'] / cpu['old']:.3f}")


# --- where the write path's time goes ---------------------------------------------------------------------------------

def profile_writes(trees: Trees, records: int, postgres_url: str, top: int = 15) -> None:
    """Where the write path's time goes, per side: the driver's time per kind of statement (and the commit) on
    SQLite and PostgreSQL, then cProfile's top functions on SQLite. Diagnostics: the instruments cost time too."""
    register = register_file(records)
    heading(f"Redesign, write path dissected: {records:,} records, old then new, microseconds per asset")
    databases = {"SQLite": None, "PostgreSQL": ScratchSchemas(postgres_url)}
    with tempfile.TemporaryDirectory() as tmp:
        for database, schemas in databases.items():
            results = {}
            try:
                for side in SIDES:
                    url = schemas.url_for_new() if schemas else f"sqlite:///{tmp}/{side}_statements.sqlite"
                    results[side] = run_in(trees.paths[side], "write_path", register=str(register), database=url,
                                           records=records, statements=True)
            except OperationalError as error:
                print(f"\n{database} skipped: {error.orig or error}")
                continue
            finally:
                if schemas:
                    schemas.drop_all()
            print(f"\n{database}: time in the driver per statement kind (count per asset, us per asset)\n")
            table = Table(["statement", "old n", "old us", "new n", "new us", "new - old us"])
            labels = sorted(set(results["old"]["statements"]) | set(results["new"]["statements"]),
                            key=lambda label: -max(results[side]["statements"].get(label, [0, 0.0])[1] for side in SIDES))
            totals = {side: 0.0 for side in SIDES}
            for label in labels:
                cells = []
                for side in SIDES:
                    count, seconds = results[side]["statements"].get(label, [0, 0.0])
                    totals[side] += seconds
                    cells += [f"{count / records:.1f}", f"{1e6 * seconds / records:.0f}"]
                new_minus_old = [results[side]["statements"].get(label, [0, 0.0])[1] for side in SIDES]
                table.row(label, *cells, f"{1e6 * (new_minus_old[1] - new_minus_old[0]) / records:+.0f}")
            python = {side: results[side]["store_s"] - totals[side] for side in SIDES}
            table.row("(Python: SQLAlchemy, the product)", "", f"{1e6 * python['old'] / records:.0f}", "",
                      f"{1e6 * python['new'] / records:.0f}", f"{1e6 * (python['new'] - python['old']) / records:+.0f}")
            table.row("store_success in all", "", f"{1e6 * results['old']['store_s'] / records:.0f}", "",
                      f"{1e6 * results['new']['store_s'] / records:.0f}",
                      f"{1e6 * (results['new']['store_s'] - results['old']['store_s']) / records:+.0f}")
        for side in SIDES:
            stats_file = f"{tmp}/{side}.prof"
            result = run_in(trees.paths[side], "write_path", register=str(register),
                            database=f"sqlite:///{tmp}/{side}_profile.sqlite", records=records, profile=stats_file)
            print(f"\n### SQLite, {side}: {result['store_s']:.2f} s under cProfile, top {top} by own time\n")
            pstats.Stats(stats_file, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one setting, 200 assets, one round; N = 500")
    parser.add_argument("--profile", action="store_true",
                        help="only dissect the write path: time per statement kind (SQLite, PostgreSQL), cProfile")
    parser.add_argument("--old-commit", default=OLD_COMMIT, help=f"the release to compare with (default {OLD_COMMIT})")
    parser.add_argument("--postgres-url", default=os.environ.get("IC3_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
                        help="the server and database in which fresh schemas are created (and dropped)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    with Trees(args.old_commit) as trees:
        print(f"old: {args.old_commit}, {trees.described['old']}\nnew: working tree, {trees.described['new']}")
        if args.profile:
            profile_writes(trees, plan.write_records, args.postgres_url)
            return
        syncs, syncs_ok = measure_syncs(trees, plan)
        print_sync_summary(syncs)
        writes, writes_ok = measure_writes(trees, plan, args.postgres_url)
        print_write_summary(writes)
    if not (syncs_ok and writes_ok):
        print("\nSOME RUN DID NOT SYNC EVERY ASSET (see the ok column)")
        sys.exit(1)


if __name__ == "__main__":
    main()
