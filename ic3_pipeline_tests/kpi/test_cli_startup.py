"""`ic3 kpi` and `ic3 report` read the database only: like `ic3 status` they must not pay for importing Dagster,
Alembic or pandas."""

import os
import subprocess
import sys

from ic3_pipeline_tests.cli.test_startup import imported_by


def test_kpi_of_an_up_to_date_database_imports_nothing_heavy(tmp_path):
    env = {**os.environ, "IC3_DATABASE_URL": f"sqlite:///{tmp_path / 'ic3.sqlite'}"}
    subprocess.run([sys.executable, "-m", "ic3_pipeline.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    assert imported_by("kpi", "--json", env=env) == []
    assert imported_by("kpi", "--by", "customer", "--csv", env=env) == []
    assert imported_by("report", "--out", str(tmp_path / "kpi.html"), env=env) == []
    assert "<svg" in (tmp_path / "kpi.html").read_text(encoding="utf-8")
