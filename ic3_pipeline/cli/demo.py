"""``ic3 demo``: the whole pipeline end to end on the embedded defaults — a sample register, SQLite, the Innomaint
simulator on loopback (rate-limited, with injected faults and a few unknown ids, like the real thing), and the Maximo
simulator (two sites, its seven object structures, a few injected faults)."""

from __future__ import annotations

import os
import secrets

import click

from ic3_pipeline.cli.status import print_status
from ic3_pipeline.cli.sync import SyncRequest, run_sync
from ic3_pipeline.cli.scopes import find_source
from ic3_pipeline.components.catalog import configured_sources
from ic3_pipeline.defs.status.definitions import REFRESH_JOB
from ic3_pipeline.register.launch import import_register_file, register_sites
from ic3_pipeline.runs import get_instance, run_job
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig
from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig, MaximoSimulator
from ic3_pipeline.sandbox.register_generator import write_sample_register
from ic3_pipeline.warehouse.engine import data_dir, default_database_url, describe_url

DEMO_SIMULATOR = dict(rate_limit=100.0, latency_ms=50.0, fault_rate=0.03, missing_fraction=0.003, seed=7)
DEMO_SOURCE = "innomaint"
DEMO_MAXIMO = dict(sites=("BEDFORD", "NASHUA"), assets_per_site=200, seed=7, latency_ms=50.0, fault_rate=0.03,
                   fault_kinds=("503", "truncated"))


def run_demo(*, assets: int, sites: int) -> int:
    register = data_dir() / "demo" / "register.xlsx"
    click.echo(f"1/6  Writing a sample register: {register} ({assets} assets, {sites} sites)")
    write_sample_register(register, assets=assets, sites=sites, seed=7)
    click.echo(f"2/6  Importing it into {describe_url(default_database_url())}")
    if import_register_file(register):
        return 1
    token = secrets.token_urlsafe(24)  # a throwaway token for this demo's simulator; never printed
    config = SimulatorConfig(token=token, **DEMO_SIMULATOR)
    source = find_source(DEMO_SOURCE, configured_sources())
    with InnomaintSimulator(register_sites(register), config) as simulator:
        os.environ[source.base_url_env], os.environ[source.secrets["token"]] = simulator.base_url, token
        click.echo(
            f"3/6  Innomaint simulator on {simulator.base_url}: {config.rate_limit:g} req/s limit, "
            f"{config.latency_ms:g} ms latency, {config.fault_rate:.0%} injected faults"
        )
        click.echo("4/6  Enriching every site (only what is due)")
        every_site = SyncRequest(all_sites=True)
        first = run_sync(DEMO_SOURCE, every_site)
        if first == 1:
            click.echo("5/6  Retrying what failed (the retry sensor does this on its own when it is on)")
            run_sync(DEMO_SOURCE, every_site)
        else:
            click.echo("5/6  Nothing to retry")
    maximo_failed = _maximo_demo()
    run_job(get_instance(), REFRESH_JOB, tags={"ic3/trigger": "demo"})  # the same numbers, in the UI
    click.echo("")
    status = print_status()
    click.echo("")
    click.echo("Open the Dagster UI on these runs and assets with: make ui")
    return 0 if status.needing_retry == 0 and not maximo_failed else 1


def _maximo_demo() -> bool:
    """Sync every Maximo object structure of two sites from its simulator; True when a stream failed."""
    key = secrets.token_urlsafe(24)  # a throwaway key for this demo's simulator; never printed
    config = MaximoSimConfig(api_key=key, **DEMO_MAXIMO)
    with MaximoSimulator(config) as simulator:
        os.environ.update(MAXIMO_BASE_URL=simulator.base_url, MAXIMO_API_KEY=key, MAXIMO_SITES=",".join(config.sites))
        click.echo(f"6/6  Maximo simulator on {simulator.base_url} ({', '.join(config.sites)}): syncing its seven "
                   "object structures in load order")
        return run_sync("maximo", SyncRequest()) != 0
