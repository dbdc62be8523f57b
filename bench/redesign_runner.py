"""The measuring side of ``bench.redesign``: run by BOTH trees' interpreters, so it imports nothing from ``bench``.

    PYTHONPATH=<tree> python bench/redesign_runner.py FUNCTION '<json kwargs>'    # prints one JSON line last

``bench.redesign`` starts it with ``PYTHONPATH`` set to one tree (the release f7c3f43 extracted to a temporary
folder, or the working tree) and the current directory elsewhere, so ``ic3_pipeline`` is that tree's; ``tree()``
says which API it found and where from, and the parent refuses to measure a tree that is not the one it asked for.
Each function detects the API by importing it (the release's ``ic3_pipeline.innomaint`` or the engine's
``ic3_pipeline.sync``) and uses only that tree's public pieces: the same calls a user's run makes.

The API token travels by environment (``INNOMAINT_API_TOKEN``), never on a command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

TOKEN_ENV = "INNOMAINT_API_TOKEN"
SEED = 7


def api() -> str:
    """``new`` (the engine: ``ic3_pipeline.sync``) or ``old`` (the release: ``ic3_pipeline.innomaint``)."""
    try:
        import ic3_pipeline.sync.attempts  # noqa: F401
        return "new"
    except ImportError:
        import ic3_pipeline.innomaint.store  # noqa: F401
        return "old"


def tree() -> dict:
    import ic3_pipeline

    return {"api": api(), "file": str(Path(ic3_pipeline.__file__).resolve()), "python": sys.version.split()[0]}


def _server_stats(base_url: str) -> dict:
    import httpx

    stats = httpx.get(f"{base_url}/_sim/stats", timeout=30).json()
    stats.pop("hits", None)
    return stats


# --- 1. a whole sync through Dagster ---------------------------------------------------------------------------------

def _old_job(database: str, base_url: str, token: str):
    """The release's definitions as its tests build them (f7c3f43 ``ic3_pipeline_tests/innomaint/conftest.py``), with
    the resource's production defaults."""
    from dagster import Definitions, define_asset_job, in_process_executor

    from ic3_pipeline.innomaint.assets import innomaint_enrichment
    from ic3_pipeline.innomaint.checks import innomaint_checks
    from ic3_pipeline.innomaint.resource import InnomaintResource
    from ic3_pipeline.warehouse.resource import WarehouseResource

    resource = InnomaintResource(base_url=base_url, api_token=token)
    defs = Definitions(
        assets=[innomaint_enrichment],
        asset_checks=innomaint_checks,
        jobs=[define_asset_job("enrich", executor_def=in_process_executor)],
        resources={"warehouse": WarehouseResource(database_url=database), "innomaint": resource},
    )
    run_config = {"ops": {"innomaint_enrichment": {"config": {}}}}
    return defs.resolve_job_def("enrich"), run_config, _http_settings(resource)


def _new_job(database: str, base_url: str, token: str):
    """The engine's definitions for the ``innomaint`` source exactly as ``defs/innomaint/defs.yaml`` declares it
    (``source_definitions``), its API resource pointed at the simulator with the YAML's HTTP settings."""
    from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

    from ic3_pipeline.components.catalog import configured_sources
    from ic3_pipeline.components.connection import source_definitions
    from ic3_pipeline.components.resource import CmmsApiResource
    from ic3_pipeline.warehouse.resource import WarehouseResource

    (spec,) = [spec for spec in configured_sources() if spec.source == "innomaint"]
    resource = CmmsApiResource(
        source=spec.source, connector=spec.connector_name, base_url=base_url, secret_env=dict(spec.secrets),
        token=token, concurrency=spec.http.concurrency, initial_rate_per_s=spec.http.initial_rate_per_s,
        max_rate_per_s=spec.http.max_rate_per_s, timeout_s=spec.http.timeout_s, max_attempts=spec.http.max_attempts,
    )
    job = define_asset_job("enrich", AssetSelection.assets(*spec.table_keys()), executor_def=in_process_executor)
    defs = Definitions.merge(
        source_definitions(spec, resource),
        Definitions(jobs=[job], resources={"warehouse": WarehouseResource(database_url=database)}),
    )
    return defs.resolve_job_def("enrich"), spec.enrich_run_config(), _http_settings(resource)


def _http_settings(resource) -> dict:
    return {name: getattr(resource, name) for name in
            ("concurrency", "initial_rate_per_s", "max_rate_per_s", "timeout_s", "max_attempts")}


def _synced_in_database(engine) -> dict:
    """What the database holds afterwards: assets whose users' columns say synced, and the connector's rows."""
    from sqlalchemy import func, select

    from ic3_pipeline.warehouse import tables

    with engine.connect() as conn:
        synced = conn.execute(select(func.count()).select_from(tables.asset_master)
                              .where(tables.asset_master.c.last_sync_status == "success")).scalar_one()
        rows = {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (tables.raw_response, tables.asset_performance, tables.workorder_summary,
                              tables.sync_log)}
        batch_ms, limit = conn.execute(select(func.sum(tables.cmms_sync_log.c.duration_ms),
                                              func.max(tables.cmms_sync_log.c.rate_limit_found))).one()
    return {"synced": synced, "rows": rows, "batch_s": (batch_ms or 0) / 1000, "limit_found": limit}


def sync_run(register: str, database: str, base_url: str) -> dict:
    """A fresh database holding the imported register, its site partitions on a test instance, then ONE ranged run
    of the enrichment job over every partition, in process. Only ``execute_in_process`` is timed."""
    from dagster import instance_for_test

    from ic3_pipeline.register.importer import import_register
    from ic3_pipeline.register.partitions import register_site_partitions
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    side = api()
    engine = make_engine(database)
    ensure_schema(engine)
    summary, _ = import_register(engine, register)
    job, run_config, http = (_new_job if side == "new" else _old_job)(database, base_url, os.environ[TOKEN_ENV])
    with instance_for_test() as instance:
        register_site_partitions(instance, summary.site_partition_keys)
        keys = list(instance.get_dynamic_partitions("sites"))
        tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
        before = _server_stats(base_url)
        cpu_started, started = time.process_time(), time.perf_counter()
        result = job.execute_in_process(instance=instance, tags=tags, run_config=run_config, raise_on_error=False)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        after = _server_stats(base_url)
        checks = [(evaluation.check_name, evaluation.passed) for evaluation in result.get_asset_check_evaluations()]
        materializations = result.get_asset_materialization_events()
        # The batch runner's own time (enrich_assets / sync_assets: the fetch-and-write loop), from the step's metadata.
        loop = [event.materialization.metadata["elapsed s"].value for event in materializations
                if "elapsed s" in event.materialization.metadata]
    materialized = len(materializations)
    figures = _synced_in_database(engine)
    engine.dispose()
    return {
        "api": side, "success": result.success, "assets": summary.rows_read, "sites": len(keys), "wall_s": wall,
        "cpu_s": cpu, "loop_s": max(loop) if loop else None, "requests": after["requests"] - before["requests"],
        "throttled": after["throttled"] - before["throttled"], "checks": checks, "materialized": materialized,
        "http": http, **figures,
    }


# --- 2. the write path alone ----------------------------------------------------------------------------------------

def _first_ids_with_sites(engine, count: int) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from ic3_pipeline.warehouse import tables

    asset, location = tables.asset_master, tables.location_master
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            select(asset.c.cmms_asset_id, location.c.location_name)
            .join(location, location.c.location_id == asset.c.location_id)
            .order_by(asset.c.cmms_asset_id).limit(count)
        )]


def write_path(register: str, database: str, records: int, profile: str | None = None,
               statements: bool = False) -> dict:
    """Import the register (untimed), build the bodies the simulator would send for the first ``records`` assets
    (``sandbox.innomaint_data``, untimed), parse them with this tree's ``parse_asset_detail`` (timed apart), then
    write them as this tree's sync does (timed: the figure): the old tree one transaction per asset
    (``store_success``), the new one in the writer's groups of up to ``MAX_GROUP`` assets, a savepoint each
    (``store_group``) — the groups a sync forms whenever answers arrive faster than single writes keep up.

    Diagnostics (they cost time themselves, so not for the figures): ``profile`` a file for cProfile's stats of the
    writes; ``statements`` the time in the driver per kind of statement (``cursor.execute`` and the commit)."""
    from ic3_pipeline.register.importer import import_register
    from ic3_pipeline.sandbox.innomaint_data import AssetDirectory, encode_body
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    side = api()
    if side == "new":
        from ic3_pipeline.connectors import get_connector
        from ic3_pipeline.connectors.innomaint.records import parse_asset_detail, parse_body
        from ic3_pipeline.sync.attempts import SyncContext, store_group
        from ic3_pipeline.sync.batch import MAX_GROUP
        from ic3_pipeline.sync.connector import FetchOutcome

        connector = get_connector("innomaint")
        context = SyncContext(source="innomaint", sync_type=connector.name, batch_id="bench-redesign-write")

        def store_all(parsed: list, done) -> None:
            for start in range(0, len(parsed), MAX_GROUP):
                outcomes = [FetchOutcome(asset_id, "success", 1, 200, record=record, body=body,
                                         warnings=record.warnings) for asset_id, record, body in parsed[start:start + MAX_GROUP]]
                store_group(engine, connector, outcomes, context)
                done()
    else:
        from ic3_pipeline.innomaint.records import parse_asset_detail, parse_body
        from ic3_pipeline.innomaint.store import SyncContext, store_success

        context = SyncContext(batch_id="bench-redesign-write")

        def store_all(parsed: list, done) -> None:
            for asset_id, record, body in parsed:
                store_success(engine, record, body, http_status=200, attempts=1, context=context)
                done()

    engine = make_engine(database)
    ensure_schema(engine)
    import_register(engine, register)
    chosen = _first_ids_with_sites(engine, records)
    directory = AssetDirectory([asset_id for asset_id, _ in chosen], seed=SEED, sites=dict(chosen))
    bodies = [(asset_id, encode_body(directory.record(asset_id))) for asset_id, _ in chosen]
    digest = hashlib.sha256(b"".join(body for _, body in bodies)).hexdigest()[:16]

    started = time.perf_counter()
    parsed = [(asset_id, parse_asset_detail(parse_body(body), asset_id), body) for asset_id, body in bodies]
    parse_s = time.perf_counter() - started

    timings = _StatementTimer(engine) if statements else None
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu_started, started = time.process_time(), time.perf_counter()
    store_all(parsed, timings.transaction_done if timings is not None else lambda: None)
    store_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    if timings is not None:
        timings.remove()
    figures = _synced_in_database(engine)
    engine.dispose()
    return {"api": side, "records": len(parsed), "parse_s": parse_s, "store_s": store_s, "store_cpu_s": cpu_s,
            "bodies_sha256": digest, "synced": figures["synced"], "rows": figures["rows"],
            "statements": timings.seconds if timings else None}


def reparse(database: str, group: int | None = None, workers: int | None = None) -> dict:
    """``ic3 reparse``'s engine (``reparse_assets``) over every synced asset of the ``innomaint`` source in
    ``database``: wall time, CPU time (this process and its worker processes), peak memory. ``group`` overrides the
    assets per transaction, ``workers`` the processes (``0``: the CPU count, as ``ic3 reparse`` defaults; ``None``:
    the tree's own default, for a tree without workers)."""
    import resource

    from ic3_pipeline.connectors import get_connector
    from ic3_pipeline.sync import reparse as reparse_module
    from ic3_pipeline.warehouse import make_engine

    if group is not None:
        reparse_module.GROUP = group
    options = {} if workers is None else {"workers": workers or os.cpu_count() or 1}
    engine = make_engine(database)
    usage = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    started = time.perf_counter()
    report = reparse_module.reparse_assets(engine, get_connector("innomaint"), "innomaint", None, **options)
    wall = time.perf_counter() - started
    self_usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (self_usage.ru_utime + self_usage.ru_stime - usage[0].ru_utime - usage[0].ru_stime
           + children.ru_utime + children.ru_stime - usage[1].ru_utime - usage[1].ru_stime)
    engine.dispose()
    return {"rebuilt": report.rebuilt, "refused": report.refused, "workers": getattr(report, "workers", 1),
            "group": reparse_module.GROUP, "wall_s": wall, "cpu_s": cpu,
            "peak_rss_mb": self_usage.ru_maxrss / 1024, "worker_peak_rss_mb": children.ru_maxrss / 1024}


class _StatementTimer:
    """Seconds and count per kind of statement ("UPDATE ic3_asset_master", …) as the DBAPI ran them, and
    "COMMIT + pool return": from SQLAlchemy's commit event to ``store_success`` returning (``transaction_done``)."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.seconds: dict[str, list[float]] = {}
        self._started: list[float] = []
        self._commit_started: float | None = None
        self._listeners = [(engine, "before_cursor_execute", self._before),
                           (engine, "after_cursor_execute", self._after), (engine, "commit", self._commit)]
        for target, name, function in self._listeners:
            event.listen(target, name, function)

    def _add(self, label: str, seconds: float) -> None:
        entry = self.seconds.setdefault(label, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self._add(_label(statement), time.perf_counter() - self._started.pop())

    def _commit(self, conn) -> None:
        self._commit_started = time.perf_counter()

    def transaction_done(self) -> None:
        if self._commit_started is not None:
            self._add("COMMIT + pool return", time.perf_counter() - self._commit_started)
            self._commit_started = None

    def remove(self) -> None:
        from sqlalchemy import event

        for target, name, function in self._listeners:
            event.remove(target, name, function)


def _label(statement: str) -> str:
    import re

    words = statement.split()
    verb = words[0].upper() if words else "?"
    table = re.search(r"\b(?:INTO|UPDATE|FROM)\s+\"?(\w+)", statement, re.IGNORECASE)
    upsert = " ON CONFLICT" if "ON CONFLICT" in statement.upper() else ""
    return f"{verb} {table.group(1) if table else '?'}{upsert}"


if __name__ == "__main__":
    outcome = globals()[sys.argv[1]](**json.loads(sys.argv[2]))
    if outcome is not None:
        print("\n" + json.dumps(outcome), flush=True)
