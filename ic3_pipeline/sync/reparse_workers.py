"""A re-parse in worker processes: each re-parses its own range of the landed keys in an engine of its own.

Parsing is most of a re-parse's CPU and Python parses on one core per process, so one process per core parses side
by side; the writes are the sync's (a group per transaction, ``BEGIN IMMEDIATE`` on SQLite, whose writers take turns
by a lock the processes share while the others parse; PostgreSQL writes them in parallel, the shared master rows
locked in id order by the connector). The ranges are disjoint, so no asset is written by two processes, and each asset is still
written in one transaction: wholly old or wholly new, whatever happens to the others.

Processes are *spawned* (safe inside a Dagster run, whose process has threads): they import the project afresh, so
what the caller changed at run time does not reach them unless ``worker_setup`` redoes it. They receive the database
URL as an argument (it may hold a password: it is never printed) and the connector by its registered name.

A worker that fails (a database fault, a crash) fails the whole re-parse with its message: the others stop after the
group they are writing, every committed group is kept, and running the re-parse again finishes the job.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ic3_pipeline.sync.connector import EntityConnector
from ic3_pipeline.sync.reparse import MAX_LISTED, Bounds, Progress, ReparseReport, reparse_range
from ic3_pipeline.warehouse.engine import database_error_line

# How often a worker publishes its counts for the caller's progress lines.
_PUBLISH_EVERY_S = 1.0


def default_workers(engine: Engine) -> int:
    """One process per core on SQLite, where the others parse while one writes (2 workers: 1.3-1.5x one, bench
    ``write_path``); one on PostgreSQL, where a second writer only waits on the first one's locks of the shared
    building / floor / department rows and measured no faster (bench/README.md, "Re-parse, faster")."""
    import os

    return 1 if engine.dialect.name == "postgresql" else os.cpu_count() or 1


class ReparseFailed(RuntimeError):
    """A worker of a re-parse failed: its message says which range and why (each asset is wholly old or new)."""


# In each worker process: its slots of the shared counters, the flag that tells it to stop, and on SQLite the lock
# its writes take turns by (set by _start).
_counters: Any = None
_stop: Any = None
_turn: Any = None


def reparse_in_processes(
    engine: Engine,
    connector: EntityConnector,
    source: str,
    scope: Sequence[str] | None,
    asset_ids: Sequence[str] | None,
    ranges: Sequence[Bounds],
    *,
    progress: Progress | None = None,
    progress_every_s: float = 10.0,
    worker_setup: Callable[[], None] | None = None,
) -> ReparseReport:
    """Re-parse each of ``ranges`` in a process of its own; one report for them all (counts, the first refusals in
    key order, assets per partition). Raises :class:`ReparseFailed` when a worker fails."""
    from ic3_pipeline.connectors import get_connector
    from ic3_pipeline.sync import reparse as engine_module

    if get_connector(connector.name) is not connector:
        raise ValueError(f"the {connector.name!r} connector given is not the registered one, which worker processes "
                         "would use: re-parse with workers=1")
    url = engine.url.render_as_string(hide_password=False)  # an argument to the workers, never printed
    context = multiprocessing.get_context("spawn")
    counters = context.Array("q", 2 * len(ranges), lock=False)  # per worker: answers read, assets rebuilt
    stop = context.Event()
    turn = context.Lock() if engine.dialect.name == "sqlite" else None  # one writer at a time: SQLite's own rule
    started = last_progress = time.monotonic()
    with ProcessPoolExecutor(max_workers=len(ranges), mp_context=context, initializer=_start,
                             initargs=(counters, stop, turn, worker_setup)) as pool:
        futures = {pool.submit(_run_range, index, url, connector.name, source, scope, asset_ids, bounds,
                               engine_module.GROUP): index
                   for index, bounds in enumerate(ranges)}
        pending: set[Future] = set(futures)
        failure: str | None = None
        while pending:
            done, pending = wait(pending, timeout=progress_every_s, return_when=FIRST_EXCEPTION)
            for future in done:
                if failure is None and future.exception() is not None:
                    failure = _describe_failure(futures[future], ranges, future.exception())
                    stop.set()  # the others stop after the group they are writing
            if progress and failure is None and pending and time.monotonic() - last_progress >= progress_every_s:
                last_progress = time.monotonic()
                progress(ReparseReport(due=sum(counters[0::2]), rebuilt=sum(counters[1::2]),
                                       elapsed_s=last_progress - started, workers=len(ranges)))
    if failure is not None:
        raise ReparseFailed(f"{failure}. Every group committed before it is re-parsed, every other asset keeps its "
                            "earlier rows: run the re-parse again.")
    report = _merge([future.result() for future in sorted(futures, key=futures.get)])
    report.elapsed_s = time.monotonic() - started
    return report


def _start(counters: Any, stop: Any, turn: Any, setup: Callable[[], None] | None) -> None:
    """A worker process's first step: keep the shared counters, stop flag and write turn, run the caller's setup."""
    global _counters, _stop, _turn
    _counters, _stop, _turn = counters, stop, turn
    if setup is not None:
        setup()


def _run_range(index: int, url: str, connector_name: str, source: str, scope: Sequence[str] | None,
               asset_ids: Sequence[str] | None, bounds: Bounds, group_size: int) -> ReparseReport:
    """In a worker: re-parse the assets within ``bounds`` in an engine of its own, in groups of the caller's size.
    Any failure comes back as one line (a driver's exception may not survive pickling, and its statement text is no
    use to a reader)."""
    from ic3_pipeline.connectors import get_connector
    from ic3_pipeline.warehouse import make_engine

    def publish(report: ReparseReport) -> None:
        _counters[2 * index], _counters[2 * index + 1] = report.due, report.rebuilt

    engine = make_engine(url)
    try:
        report = reparse_range(engine, get_connector(connector_name), source, scope, asset_ids, bounds,
                               progress=publish, progress_every_s=_PUBLISH_EVERY_S, stop=_stop.is_set,
                               group_size=group_size, write_turn=_turn)
        publish(report)
        return report
    except Exception as error:
        line = database_error_line(error) if isinstance(error, DBAPIError) else str(error)
        raise ReparseFailed(f"{type(error).__name__}: {line}") from None
    finally:
        engine.dispose()


def _describe_failure(index: int, ranges: Sequence[Bounds], error: BaseException) -> str:
    lower, upper = ranges[index]
    where = (f"re-parse worker {index + 1} of {len(ranges)} (assets after {lower or 'the first'} up to "
             f"{upper or 'the last'})")
    if isinstance(error, BrokenProcessPool):
        return f"a re-parse worker process ended abruptly (killed, or out of memory): {error}"
    return f"{where} failed: {error}"


def _merge(reports: Sequence[ReparseReport]) -> ReparseReport:
    """The workers' reports as one: sums, the refusals in key order (the first ones), assets per partition."""
    merged = ReparseReport(workers=len(reports))
    for report in reports:
        merged.due += report.due
        merged.rebuilt += report.rebuilt
        merged.refused += report.refused
        merged.skipped += report.skipped
        merged.warnings += report.warnings
        merged.refusals.extend(report.refusals[:MAX_LISTED - len(merged.refusals)])
        for partition, rebuilt in report.rebuilt_by_partition.items():
            merged.rebuilt_by_partition[partition] = merged.rebuilt_by_partition.get(partition, 0) + rebuilt
    return merged
