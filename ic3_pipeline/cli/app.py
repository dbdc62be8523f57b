"""The ``ic3`` command group: the pipeline from a terminal.

Each command that changes data runs as a Dagster run on the instance at ``DAGSTER_HOME`` (default: ``.dagster_home``
in the project), so the UI shows it like any other run. Heavy imports wait until a command needs them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from ic3_pipeline.cli.simulate import RECORD_SIMULATORS  # light: names and ports only, no simulator imported


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ic3_pipeline: keep the asset database in sync with every configured CMMS."""
    _log_progress_to_terminal()


def _log_progress_to_terminal() -> None:
    """Progress lines on stderr; per-request details stay in the run's event log (the UI), not the terminal."""
    logger = logging.getLogger("ic3_pipeline.progress")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


@main.command("sample-register")
@click.option("--assets", default=2957, show_default=True, help="Number of assets.")
@click.option("--sites", default=60, show_default=True, help="Number of sites (partitions).")
@click.option("--seed", default=7, show_default=True, help="Same seed, same register.")
@click.option("--out", "out", default="register.xlsx", show_default=True, type=click.Path(dir_okay=False))
def sample_register(assets: int, sites: int, seed: int, out: str) -> None:
    """Write a realistic sample register (.xlsx)."""
    from ic3_pipeline.sandbox.register_generator import write_sample_register

    if assets < 1 or sites < 1:
        raise click.BadParameter("--assets and --sites must be at least 1")
    path = write_sample_register(out, assets=assets, sites=min(sites, assets), seed=seed)
    click.echo(f"Wrote {path} ({assets} assets, {min(sites, assets)} sites, seed {seed})")


@main.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sheet", default=None, help="Sheet to read (default: 'Assets' if present, else the first).")
def import_command(path: Path, sheet: str | None) -> None:
    """Import an Excel register (materializes `asset_register`)."""
    from ic3_pipeline.register.launch import import_register_file

    sys.exit(import_register_file(path, sheet))


@main.command("simulate")
@click.argument("cmms", type=click.Choice(["innomaint", "maximo", *RECORD_SIMULATORS]))
@click.option("--register", "register", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="innomaint (required): register whose asset ids the simulated CMMS knows; the record-API "
                   "simulators (upkeep, fiix, ...): optional, its asset ids become the assets' codes.")
@click.option("--port", type=int, default=None,
              help="Port on 127.0.0.1 (default: 8765 innomaint, 8766 maximo, 8767 upkeep, 8768 fiix, 8769 sap_pm, "
                   "8770 inhouse).")
@click.option("--token", default=None, help="innomaint, inhouse: bearer token to require (default: $INNOMAINT_API_TOKEN, "
                                            "else 'sim-token'; $INHOUSE_API_TOKEN, else 'sim-inhouse-token').")
@click.option("--rate-limit", type=float, default=None, help="Requests/s accepted before throttling (default: none).")
@click.option("--latency-ms", type=float, default=0.0, show_default=True)
@click.option("--fault-rate", type=float, default=0.0, show_default=True, help="Share of requests given an injected fault.")
@click.option("--missing-fraction", type=float, default=0.0, show_default=True, help="Share of ids answered 404.")
@click.option("--seed", default=7, show_default=True)
@click.option("--sites", default=None, help="maximo and the record-API simulators: site names, comma-separated "
                                           "(default: BEDFORD,NASHUA for maximo; 'North Plant,South Plant' otherwise).")
@click.option("--assets-per-site", type=int, default=None,
              help="maximo and the record-API simulators: assets per site (default: 40 maximo, 25 otherwise).")
@click.option("--max-page-size", default=1000, show_default=True, help="maximo: largest oslc.pageSize accepted.")
def simulate(cmms: str, register: Path | None, port: int | None, token: str | None, rate_limit: float | None,
             latency_ms: float, fault_rate: float, missing_fraction: float, seed: int, sites: str | None,
             assets_per_site: int | None, max_page_size: int) -> None:
    """Serve a CMMS simulator on 127.0.0.1 (test and demo equipment).

    maximo takes its API key from $MAXIMO_API_KEY, else 'sim-apikey'; upkeep its login from $UPKEEP_EMAIL and
    $UPKEEP_PASSWORD, else sim@example.com / sim-password; fiix its keys from $FIIX_APP_KEY, $FIIX_ACCESS_KEY and
    $FIIX_SECRET_KEY, else sim-app-key / sim-access-key / sim-secret-key; sap_pm its basic-auth login from
    $SAP_PM_USER and $SAP_PM_PASSWORD, else SIM_USER / sim-password; inhouse its bearer token from
    $INHOUSE_API_TOKEN, else sim-inhouse-token."""
    import os

    from ic3_pipeline.cli.simulate import serve_record_simulator

    if cmms in RECORD_SIMULATORS:
        serve_record_simulator(cmms, register=register, port=port, sites=sites, assets_per_site=assets_per_site,
                               token=token, knobs={"seed": seed, "rate_limit": rate_limit, "latency_ms": latency_ms,
                                                   "fault_rate": fault_rate})
        return
    if cmms == "maximo":
        from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig
        from ic3_pipeline.sandbox.maximo_simulator import serve as serve_maximo

        try:
            maximo = MaximoSimConfig(
                sites=tuple(s.strip() for s in (sites or "BEDFORD,NASHUA").split(",") if s.strip()),
                assets_per_site=assets_per_site or 40,
                seed=seed, api_key=os.environ.get("MAXIMO_API_KEY") or MaximoSimConfig.api_key, rate_limit=rate_limit,
                latency_ms=latency_ms, fault_rate=fault_rate, max_page_size=max_page_size,
            )
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        try:
            serve_maximo(maximo, port=port or 8766)
        except OSError as error:
            raise click.ClickException(f"cannot serve on 127.0.0.1:{port or 8766}: {error.strerror or error} "
                                       "(another simulator? pass --port)") from None
        return
    if register is None:
        raise click.UsageError("Missing option '--register': innomaint serves the asset ids of a register.")
    from ic3_pipeline.register.launch import register_sites
    from ic3_pipeline.sandbox.innomaint_simulator import SimulatorConfig, serve

    site_of = register_sites(register)
    config = SimulatorConfig(
        token=token or os.environ.get("INNOMAINT_API_TOKEN") or SimulatorConfig.token,
        rate_limit=rate_limit, latency_ms=latency_ms, fault_rate=fault_rate, missing_fraction=missing_fraction, seed=seed,
    )
    serve(list(site_of), config, port=port or 8765, sites=site_of)


@main.command("sync")
@click.argument("source", required=False)
@click.option("--all", "all_sites", is_flag=True, help="Every site.")
@click.option("--site", default=None, help="One site (its name or partition key).")
@click.option("--asset", "asset_id", default=None, help="One asset id (always fetched, due or not).")
@click.option("--force", is_flag=True, help="Re-fetch every asset, due or not.")
@click.option("--sites-per-run", default=None, type=click.IntRange(1, 1000),
              help="Sites batched into one run (default: the source's sites_per_run, 100).")
@click.option("--object-structure", "stream", default=None,
              help="Collection sources: one stream, by name or object structure (e.g. MXAPIASSET).")
@click.option("--full", is_flag=True, help="Collection sources: read everything and mark vanished rows deleted.")
def sync(source: str | None, all_sites: bool, site: str | None, asset_id: str | None, force: bool,
         sites_per_run: int | None, stream: str | None, full: bool) -> None:
    """Sync what is due from SOURCE (default: every configured source), as Dagster runs.

    Asset sources (innomaint): exactly one of --all, --site, --asset. Collection sources (maximo): every stream of
    the configured sites, or --site, --object-structure, --full. Exit status 1 when anything failed. Without SOURCE
    (and with --all), a source whose environment (base URL, secrets) is not set is skipped with a note.
    """
    from ic3_pipeline.cli.sync import SyncRequest, run_sync
    from ic3_pipeline.cli.scopes import UnknownSource

    request = SyncRequest(all_sites=all_sites, site=site, asset_id=asset_id, force=force, sites_per_run=sites_per_run,
                          full=full, stream=stream)
    try:
        sys.exit(run_sync(source, request))
    except UnknownSource as error:
        raise click.BadParameter(str(error), param_hint="SOURCE") from None


@main.command("reparse")
@click.argument("source", required=False)
@click.option("--site", default=None, help="One site (its name or partition key); default: every site.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes, each re-parsing its own range of assets (default: the CPU count on SQLite, "
                   "one on PostgreSQL; one when there are few assets).")
def reparse(source: str | None, site: str | None, workers: int | None) -> None:
    """Rebuild SOURCE's tables (default: every source) from the API answers already landed, with today's parser,
    without calling the API — after a parser fix or a migration that adds a typed column. Each asset ends wholly old
    or wholly new; exit status 1 when some were refused (they keep their rows), or when a worker failed."""
    from ic3_pipeline.cli.reparse import run_reparse
    from ic3_pipeline.cli.scopes import UnknownSource
    from ic3_pipeline.cli.launch import NothingToSync

    try:
        sys.exit(run_reparse(source, site, workers))
    except UnknownSource as error:
        raise click.BadParameter(str(error), param_hint="SOURCE") from None
    except NothingToSync as error:
        raise click.BadParameter(str(error), param_hint="--site") from None


@main.command("status")
@click.argument("source", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--watch", is_flag=True, help="Refresh every few seconds until Ctrl-C.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.5, 3600), help="Seconds between refreshes (--watch).")
@click.option("--times", default=None, type=click.IntRange(1), hidden=True, help="Stop --watch after this many.")
def status(source: str | None, as_json: bool, watch: bool, interval: float, times: int | None) -> None:
    """Sync status from the database: total, synced, needing retry, not found, never synced, stale, last batches —
    for the whole database and each source, or for SOURCE only (a collection source such as maximo: rows per table,
    and the high-water mark and last sync per stream and site)."""
    from ic3_pipeline.cli.status import print_status
    from ic3_pipeline.cli.scopes import UnknownSource

    try:
        if watch:
            from ic3_pipeline.cli.status import watch as keep_showing

            keep_showing(lambda: print_status(source, as_json=as_json), interval, times)
        else:
            print_status(source, as_json=as_json)
    except UnknownSource as error:
        raise click.BadParameter(str(error), param_hint="SOURCE") from None


@main.command("kpi")
@click.option("--site", default=None, help="Only this site's assets (the fleet line stays the whole fleet).")
@click.option("--by", "level", type=click.Choice(["site", "customer", "source"]), default="site", show_default=True,
              help="Group the assets by site, customer or source.")
@click.option("--json", "output", flag_value="json", help="Machine-readable output.")
@click.option("--csv", "output", flag_value="csv", help="CSV: a fleet line, then one line per group.")
def kpi(site: str | None, level: str, output: str | None) -> None:
    """Maintenance KPIs from the database: MTTR, MTBF and inherent availability per site (or customer, or source)
    and for the fleet, from sums of repair events, repair hours and operating hours (never averages of averages);
    and from the work orders of every source (last $IC3_KPI_PERIOD_DAYS days, default 30): PM compliance, backlog,
    overdue work orders and corrective MTTR."""
    from ic3_pipeline.cli.kpi import print_kpis
    from ic3_pipeline.kpi.report import UnknownSite
    from ic3_pipeline.kpi.work_orders import BadSetting

    try:
        print_kpis(level, site, output or "text")  # type: ignore[arg-type]
    except UnknownSite as error:
        raise click.BadParameter(str(error), param_hint="--site") from None
    except BadSetting as error:
        raise click.UsageError(str(error)) from None


@main.command("report")
@click.option("--out", "out", default="kpi.html", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write.")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 3650),
              help="Days of daily history the charts show.")
def report(out: Path, days: int) -> None:
    """Write the KPIs as one self-contained HTML file (charts drawn locally, no script or network): availability and
    MTBF per site over time, the worst assets, PM compliance by site, and the tables."""
    from ic3_pipeline.cli.kpi import write_html_report
    from ic3_pipeline.kpi.work_orders import BadSetting

    try:
        path = write_html_report(out, days)
    except BadSetting as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror or error}") from None
    click.echo(f"Wrote {path}")


@main.group("db")
def db() -> None:
    """The target database's schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to this release's schema (every run also does this once per process)."""
    from ic3_pipeline.cli.database import upgrade

    sys.exit(upgrade())


@db.command("current")
def db_current() -> None:
    """Print the database's schema revision and whether it is up to date."""
    from ic3_pipeline.cli.database import current

    sys.exit(current())


@main.group("connector")
def connector() -> None:
    """A collection source's YAML (defs/NAME/defs.yaml): scaffold it, check it against the real API, its schema."""


_DEFS_DIR = click.option("--defs-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="The folder holding NAME/defs.yaml (default: the project's ic3_pipeline/defs).")


@connector.command("check")
@click.argument("name")
@click.option("--stream", "streams", multiple=True, help="Only this stream (repeatable; default: every stream).")
@click.option("--site", default=None, help="The site a per-site stream asks for (default: the first configured).")
@click.option("--page-size", type=click.IntRange(1, 10_000), default=None,
              help="Records asked for (default: the source's paging.page_size).")
@click.option("--rows", type=click.IntRange(0), default=5, show_default=True, help="Mapped rows shown per stream.")
@click.option("--since", default=None, help="Ask as an incremental read would: records changed since this ISO instant "
                                           "(UTC unless it has an offset); streams without change_field read whole.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (every row and problem).")
@_DEFS_DIR
def connector_check(name: str, streams: tuple[str, ...], site: str | None, page_size: int | None, rows: int,
                    since: str | None, as_json: bool, defs_dir: Path | None) -> None:
    """Load defs/NAME/defs.yaml, read ONE page of each stream from the API (credentials from the environment) and
    print the raw record count, the mapped unified rows and every mapping problem. Writes nothing, launches no run.

    Exit status: 0 all good; 1 a page failed or a record would not land whole (no key, a field the mapping cannot
    convert); 2 the YAML is wrong (file, line and key) or the environment lacks the base URL or a secret."""
    from ic3_pipeline.cli.connector import run_check

    from datetime import datetime, timezone

    instant = None
    if since is not None:
        try:
            instant = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{since!r} is not an ISO instant (2026-03-01T13:00:00Z)",
                                     param_hint="--since") from None
        instant = instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)
    sys.exit(run_check(name, streams=streams, site=site, page_size=page_size, rows=rows, as_json=as_json,
                       defs_dir=defs_dir, since=instant))


@connector.command("new")
@click.argument("name")
@_DEFS_DIR
def connector_new(name: str, defs_dir: Path | None) -> None:
    """Scaffold defs/NAME/defs.yaml from a commented template (bearer auth, offset paging, incremental, one stream
    with a `unified:` block; variables NAME_BASE_URL and NAME_TOKEN) that passes `dg check defs` as it is. Never
    replaces an existing file. (`dg scaffold defs ic3_pipeline.components.CmmsCollections NAME` writes the same.)"""
    from ic3_pipeline.cli.connector import run_new

    sys.exit(run_new(name, defs_dir))


@connector.command("schema")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: standard output).")
def connector_schema(out: Path | None) -> None:
    """Print the JSON Schema of a CmmsCollections defs.yaml (from the component's models), for editors; the
    checked-in copy is ic3_pipeline/components/cmms_collections.schema.json."""
    from ic3_pipeline.cli.connector import run_schema

    sys.exit(run_schema(out))


@main.command("demo")
@click.option("--assets", default=2957, show_default=True)
@click.option("--sites", default=60, show_default=True)
def demo(assets: int, sites: int) -> None:
    """Run the whole pipeline end to end on the embedded defaults (SQLite, sample register, local simulator)."""
    from ic3_pipeline.cli.demo import run_demo

    sys.exit(run_demo(assets=assets, sites=sites))


def run() -> None:
    """The console script: expected failures (an unreachable database) end in one clear line, not a traceback."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except Exception as error:
        # Imported only now: a command that raised it has loaded it already, and `ic3 --help` need not.
        from ic3_pipeline.warehouse.engine import DatabaseUnavailable

        if not isinstance(error, DatabaseUnavailable):
            raise
        click.echo(str(error), err=True)
        sys.exit(2)
