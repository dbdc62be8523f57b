"""The ``ic3`` command: the pipeline from a terminal.

Each command that changes data runs as a Dagster run on the instance at ``DAGSTER_HOME`` (default: ``.dagster_home``
in the project), so the UI shows it like any other run.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from ic3_pipeline.runs import get_instance, run_job

log = logging.getLogger("ic3")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ic3_pipeline: keep the asset database in sync with the CMMS."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("ic3", "ic3_pipeline"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)


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
    sys.exit(import_register_file(path, sheet))


def import_register_file(path: Path, sheet: str | None = None) -> int:
    """Run the import job on ``path``; print the counts or the problems; return the exit status."""
    config = {"path": str(path.resolve())}
    if sheet:
        config["sheet"] = sheet
    instance = get_instance()
    outcome = run_job(
        instance,
        "import_register",
        run_config={"ops": {"asset_register": {"config": config}}},
        tags={"ic3/trigger": "cli"},
    )
    if not outcome.success:
        click.echo(outcome.failure or "Import failed.", err=True)
        click.echo(f"(run {outcome.run_id})", err=True)
        return 1
    metadata = outcome.materializations["asset_register"][-1]
    click.echo(f"Imported {path.name} (run {outcome.run_id})")
    for label in ("rows read", "inserted", "updated", "unchanged", "blank rows skipped", "sites",
                  "new site partitions", "missing from register"):
        click.echo(f"  {label:<24}{metadata[label]:>8}")
    click.echo(f"  {'assets in database':<24}{metadata['dagster/row_count']:>8}")
    return 0


@main.command("demo")
@click.option("--assets", default=2957, show_default=True)
@click.option("--sites", default=60, show_default=True)
def demo(assets: int, sites: int) -> None:
    """Run the whole pipeline end to end on the embedded defaults (SQLite, sample register)."""
    from ic3_pipeline.sandbox.register_generator import write_sample_register
    from ic3_pipeline.warehouse.engine import data_dir, default_database_url, describe_url

    register = data_dir() / "demo" / "register.xlsx"
    click.echo(f"1/2  Writing a sample register: {register} ({assets} assets, {sites} sites)")
    write_sample_register(register, assets=assets, sites=sites, seed=7)
    click.echo(f"2/2  Importing it into {describe_url(default_database_url())}")
    status = import_register_file(register)
    if status:
        sys.exit(status)
    click.echo("Done. Open the UI with `make ui` (or `dagster dev`) to see the runs and assets.")


if __name__ == "__main__":
    main()
