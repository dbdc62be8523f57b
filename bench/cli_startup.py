"""CLI start-up benchmark: how long ``ic3 --help`` and ``ic3 status`` take before they answer, against a bare
``python -c pass`` measured in the same run (the ratio is the figure; the seconds depend on the machine's load).

Each command runs as a fresh process, several times; the median is shown. Two ways of starting:

- **compiled**: the virtualenv as ``make install`` leaves it (``uv pip install --compile-bytecode``): every module's
  bytecode is on disk, as on any later start once Python has written its caches;
- **not compiled**: every module compiled from source on each start (``PYTHONDONTWRITEBYTECODE=1`` with an empty
  ``PYTHONPYCACHEPREFIX``), which is what each command cost a first-time user whose installer wrote no bytecode and
  whose environment forbade writing it.

``import dagster`` is shown beside them: what any command that launches a Dagster run (``ic3 sync``, ``ic3
import``) pays before doing anything, and what ``--help`` and ``status`` must not pay. So is the same ``ic3`` at
commit 9dfbbfd, the last before start-up was worked on (f1462fa: lazy imports), extracted with ``git archive``
(read-only on the repository) and run from a temporary folder.

    python -m bench.cli_startup            # 7 starts of each
    python -m bench.cli_startup --quick    # 3 starts of each
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.harness import Table, heading

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parent.parent
BEFORE = "9dfbbfd"  # the last commit before f1462fa made ic3 --help and status import lazily
# Runs an extracted tree's ic3: the virtualenv's editable install would otherwise import this working tree.
OLD_IC3 = (
    "import sys\n"
    "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
    "sys.path.insert(0, sys.argv.pop(1))\n"
    "import ic3_pipeline.cli as cli\n"
    "assert cli.__file__.startswith(sys.path[0]), cli.__file__\n"
    "sys.argv[0] = 'ic3'\n"
    "cli.run()\n"
)
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "ic3 --help": [str(BIN / "ic3"), "--help"],
    "ic3 status": [str(BIN / "ic3"), "status"],
    "ic3 status innomaint --json": [str(BIN / "ic3"), "status", "innomaint", "--json"],
    "python -c 'import dagster'": [sys.executable, "-c", "import dagster"],
}


def started_in(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds from spawning ``command`` to its exit (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_start(command: list[str], env: dict[str, str], repeats: int) -> float:
    started_in(command, env)  # a first start warms the OS's file cache; not counted
    return statistics.median(started_in(command, env) for _ in range(repeats))


def extract(commit: str, into: Path) -> Path:
    """``ic3_pipeline`` as of ``commit``, in ``into`` (``git archive``: nothing in the repository changes)."""
    archive = subprocess.run(["git", "-C", str(PROJECT), "archive", "--format=tar", commit, "ic3_pipeline"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    with tempfile.TemporaryDirectory(prefix="ic3-bench-startup-") as tmp:
        database = f"sqlite:///{Path(tmp) / 'ic3.sqlite'}"
        base = {**os.environ, "IC3_DATABASE_URL": database, "DAGSTER_HOME": str(Path(tmp) / "home")}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base.pop("PYTHONPYCACHEPREFIX", None)
        subprocess.run([str(BIN / "ic3"), "db", "upgrade"], env=base, check=True, stdout=subprocess.DEVNULL)
        cold_cache = Path(tmp) / "no-bytecode"
        cold_cache.mkdir()
        cold = {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(cold_cache)}
        old = extract(BEFORE, Path(tmp) / "before")
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(old)], check=True, stdout=subprocess.DEVNULL)
        # The old tree reads a database at its own schema revision (a newer one it refuses, as it should), so it
        # gets a database it upgraded itself.
        old_database = {"IC3_DATABASE_URL": f"sqlite:///{Path(tmp) / 'ic3_before.sqlite'}"}
        subprocess.run([sys.executable, "-c", OLD_IC3, str(old), "db", "upgrade"], env={**base, **old_database},
                       check=True, stdout=subprocess.DEVNULL)
        commands = {
            **COMMANDS,
            f"ic3 --help at {BEFORE}": [sys.executable, "-c", OLD_IC3, str(old), "--help"],
            f"ic3 status at {BEFORE}": [sys.executable, "-c", OLD_IC3, str(old), "status"],
        }
        own_env = {name: old_database for name in commands if name.endswith(f"at {BEFORE}")}
        heading(f"CLI start-up: median of {repeats} starts, on an empty up-to-date SQLite database")
        table = Table(["command", "compiled s", "× python -c pass", "not compiled s", "× python -c pass"])
        baseline: dict[str, float] = {}
        for name, command in commands.items():
            extra = own_env.get(name, {})
            warm = median_start(command, {**base, **extra}, repeats)
            fresh = median_start(command, {**cold, **extra}, repeats)
            baseline.setdefault("warm", warm)
            baseline.setdefault("cold", fresh)
            table.row(name, warm, warm / baseline["warm"], fresh, fresh / baseline["cold"])


if __name__ == "__main__":
    main()
