"""`ic3 --help` and `ic3 status` need no Dagster run, so they must not pay for importing Dagster (or Alembic, for
a database already up to date): asserted on what the process imported, not on a timer (bench/cli_startup.py
measures the seconds)."""

import json
import subprocess
import sys

from ic3_pipeline.cli.scopes import source_scopes
from ic3_pipeline.components.catalog import configured_sources

PROBE = """
import json, sys
from ic3_pipeline.cli.app import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = sorted({name.split('.')[0] for name in sys.modules} & {'dagster', 'alembic', 'pandas', 'httpx'})
print('\\nIMPORTED ' + json.dumps(heavy))
"""


def imported_by(*args: str, env: dict | None = None) -> list[str]:
    completed = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                               check=True)
    line = completed.stdout.strip().splitlines()[-1]
    assert line.startswith("IMPORTED "), completed.stdout + completed.stderr
    return json.loads(line[len("IMPORTED "):])


def test_help_imports_nothing_heavy():
    assert imported_by("--help") == []


def test_status_of_an_up_to_date_database_imports_neither_dagster_nor_alembic(tmp_path, monkeypatch):
    import os

    env = {**os.environ, "IC3_DATABASE_URL": f"sqlite:///{tmp_path / 'ic3.sqlite'}"}
    subprocess.run([sys.executable, "-m", "ic3_pipeline.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    assert imported_by("status", env=env) == []
    assert imported_by("status", "innomaint", "--json", env=env) == []


def test_the_light_reading_of_defs_agrees_with_dagsters_load():
    light = {(s.source, tuple(s.scope or ()), s.stale_after) for s in source_scopes()}
    full = {(s.source, tuple(s.partitioning.scope or ()), s.stale_after) for s in configured_sources()}
    assert light == full and light


def test_the_light_reading_defers_to_dagster_where_only_dagster_can_tell(tmp_path):
    from datetime import timedelta

    from ic3_pipeline.cli.scopes import _read_scope
    from ic3_pipeline.register.sites import site_partition_key

    def scope_of(text: str):
        path = tmp_path / "defs.yaml"
        path.write_text(text)
        return _read_scope(path)

    static = scope_of("type: ic3_pipeline.components.CmmsConnection\nattributes:\n  source: south\n"
                      "  stale_after_hours: 6\n  partitions: {kind: static, sites: ['Pune, East', 'Goa']}\n")
    assert (static.source, static.scope, static.stale_after) == (
        "south", [site_partition_key("Pune, East"), "Goa"], timedelta(hours=6))
    assert scope_of("type: some.OtherComponent\nattributes: {}\n") is False
    templated = "type: ic3_pipeline.components.CmmsConnection\nattributes:\n  source: x\n  stale_after_hours: \"{{ env('H') }}\"\n"
    assert scope_of(templated) is None  # Dagster resolves templates: the full load answers
    assert scope_of("type: [unclosed\n") is None  # and names the file's mistake
