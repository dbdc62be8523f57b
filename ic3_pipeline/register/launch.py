"""Importing a register from the command line (as a Dagster run), and reading a register's asset → site map."""

from __future__ import annotations

from pathlib import Path

import click

from ic3_pipeline.register.problems import RegisterRejected
from ic3_pipeline.register.validation import validate
from ic3_pipeline.register.workbook import open_register

SUMMARY_LABELS = ("rows read", "inserted", "updated", "unchanged", "blank rows skipped", "sites", "new site partitions",
                  "missing from register")


def import_register_file(path: Path, sheet: str | None = None) -> int:
    """Run the import job on ``path``; print the counts or the problems; return the exit status."""
    # Dagster is imported here, not above: `ic3 simulate` (make ui starts it) reads a register's sites and needs none.
    from ic3_pipeline.register.jobs import IMPORT_JOB
    from ic3_pipeline.runs import get_instance, run_job

    config = {"path": str(path.resolve())}
    if sheet:
        config["sheet"] = sheet
    outcome = run_job(
        get_instance(),
        IMPORT_JOB,
        run_config={"ops": {"asset_register": {"config": config}}},
        tags={"ic3/trigger": "cli"},
    )
    if not outcome.success:
        click.echo(outcome.failure or "Import failed.", err=True)
        click.echo(f"(run {outcome.run_id})", err=True)
        return 1
    metadata = outcome.materializations["asset_register"][-1]
    click.echo(f"Imported {path.name} (run {outcome.run_id})")
    for label in SUMMARY_LABELS:
        click.echo(f"  {label:<24}{metadata[label]:>8}")
    click.echo(f"  {'assets in database':<24}{metadata['dagster/row_count']:>8}")
    return 0


def register_sites(path: Path) -> dict[str, str]:
    """asset id -> site name, from a register (validated the same way the import does)."""
    try:
        return {r["cmms_asset_id"]: r["site_name"] for r in validate(open_register(path)).records()}
    except RegisterRejected as rejected:
        raise click.ClickException(rejected.describe()) from None
