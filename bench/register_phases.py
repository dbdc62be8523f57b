"""Where a register import's time goes: wall time per phase of one import (and of the re-import that follows).

    python -m bench.register_phases [--rows 300000] [--database-url URL]

Each phase's functions are wrapped with a timer (no profiler, so per-call costs are not inflated): the calamine open
and decode, the validation pass, typing for the write, the register hashes, the lookup of existing hashes, the writes,
the missing-asset report and the commit. What is left is the loader's own glue. Wall and CPU seconds per phase;
read the CPU on a shared machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from functools import wraps

TIMES: dict[str, float] = defaultdict(float)  # wall seconds per phase
CPU: dict[str, float] = defaultdict(float)  # this process's CPU seconds per phase (steadier on a shared machine)


def _timed(owner: object, name: str, phase: str) -> None:
    original: Callable = getattr(owner, name)

    @wraps(original)
    def wrapper(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            TIMES[phase] += time.perf_counter() - start
            CPU[phase] += time.process_time() - cpu

    setattr(owner, name, wrapper)


def _timed_iterator(owner: object, name: str, phase: str) -> None:
    """Time the work done inside a generator (each ``next``), not the caller's work between items."""
    original: Callable = getattr(owner, name)

    @wraps(original)
    def wrapper(*args, **kwargs):
        iterator = original(*args, **kwargs)
        while True:
            start, cpu = time.perf_counter(), time.process_time()
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                TIMES[phase] += time.perf_counter() - start
                CPU[phase] += time.process_time() - cpu
            yield item

    setattr(owner, name, wrapper)


def instrument() -> None:
    from ic3_pipeline.register import importer, loader, validation
    from sqlalchemy.engine import Connection

    _timed(importer, "open_register", "open + decode (calamine)")
    _timed(importer, "validate", "validate pass (iterate + type + check)")
    for name, phase in (
        ("typed_chunks", "write pass: iterate + type"),
    ):
        _timed_iterator(validation.ValidatedRegister, name, phase)
    _timed(loader, "_resolve_names", "masters and sites")
    _timed(loader, "_resolve_sites", "masters and sites")
    _timed(loader, "register_hashes", "register hashes")
    _timed(loader, "_existing_hashes", "existing hashes lookup")
    _timed(loader, "upsert_columns", "write (upsert_columns)")
    _timed(loader, "_report_missing", "missing-from-register report")
    _timed(Connection, "_commit_impl", "commit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    from bench.register_import import register_file

    path = register_file(args.rows)
    instrument()
    from ic3_pipeline.register.importer import import_register
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(args.database_url or f"sqlite:///{folder}/phases.sqlite")
        ensure_schema(engine)
        for run in ("import", "re-import"):
            TIMES.clear()
            CPU.clear()
            start, cpu = time.perf_counter(), time.process_time()
            import_register(engine, path)
            total, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"\n{run} of {args.rows:,} rows: {total:.2f} s wall, {cpu:.2f} s CPU")
            print(f"  {'phase':<45} {'wall s':>7} {'CPU s':>7} {'CPU share':>9}")
            for phase, seconds in TIMES.items():
                print(f"  {phase:<45} {seconds:7.2f} {CPU[phase]:7.2f} {CPU[phase] / cpu:9.1%}")
            rest, rest_cpu = total - sum(TIMES.values()), cpu - sum(CPU.values())
            print(f"  {'(loader glue: master ids, batches, preview)':<45} {rest:7.2f} {rest_cpu:7.2f} {rest_cpu / cpu:9.1%}")
        engine.dispose()


if __name__ == "__main__":
    main()
