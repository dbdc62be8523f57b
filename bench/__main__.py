"""Run the benchmarks one after another, each in its own process, and say how long each took.

    python -m bench                      # every part, full size (~25 minutes on a 2-core machine)
    python -m bench --quick              # every part, small (under 5 minutes)
    python -m bench scale databases      # some parts
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

PARTS = {
    "sync_throughput": "product vs old client against a rate-limited, slow API",
    "limiter_model": "the rate limiter alone on virtual time (no CPU noise)",
    "orchestration_overhead": "ic3 sync --all (Dagster runs) vs the bare client loop",
    "scale": "import, write path and status query at 3k / 30k / 300k assets",
    "databases": "the same on SQLite and PostgreSQL at 30k assets",
    "register_import": "register import vs a bare calamine read, with re-import, SQLite and PostgreSQL",
    "redesign": "old release (f7c3f43) vs the new engine: whole sync through Dagster, write path",
    "maximo_simulator": "the Maximo simulator serving full paged reads vs a bare server sending the same bytes",
    "write_path": "issue 15: write path of release, before and this tree side by side; re-parse",
    "maximo_sync": "Maximo: paged full sync vs sequential nextPage, incremental after 1 % changed, RSS at 10k/100k",
    "cli_startup": "ic3 --help and ic3 status start-up vs python -c pass, with and without bytecode",
    "unified_mapping": "unified model: mapping records/s, a page write with and without its unified rows",
    "connectors": "declarative presets vs a naive sequential client at 100 ms; the mapping's cost per record",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="parts:\n" + "\n".join(f"  {name:<24}{what}" for name, what in PARTS.items()),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every part")
    parser.add_argument("parts", nargs="*", metavar="part", help="default: all")
    args = parser.parse_args()
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    started = time.perf_counter()
    failed = []
    for part in args.parts or list(PARTS):
        part_started = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", f"bench.{part}", *(["--quick"] if args.quick else [])]).returncode
        print(f"\n[{part}: {time.perf_counter() - part_started:.0f} s{'' if code == 0 else f', FAILED ({code})'}]",
              flush=True)
        if code:
            failed.append(part)
    print(f"\n[bench{' --quick' if args.quick else ''}: {time.perf_counter() - started:.0f} s in all]")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
