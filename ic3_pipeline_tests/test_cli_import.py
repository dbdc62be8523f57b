"""`ic3 sample-register` and `ic3 import`: real runs on the instance at DAGSTER_HOME, visible to the UI."""

from click.testing import CliRunner
from dagster import DagsterInstance, DagsterRunStatus
from openpyxl import load_workbook

from ic3_pipeline.cli import main
from ic3_pipeline_tests.registers import row, write_register


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_sample_register_is_deterministic(tmp_path):
    a, b, c = tmp_path / "a.xlsx", tmp_path / "b.xlsx", tmp_path / "c.xlsx"
    assert invoke("sample-register", "--assets", "300", "--sites", "12", "--seed", "7", "--out", str(a)).exit_code == 0
    invoke("sample-register", "--assets", "300", "--sites", "12", "--seed", "7", "--out", str(b))
    invoke("sample-register", "--assets", "300", "--sites", "12", "--seed", "8", "--out", str(c))

    def cells(path):
        return [tuple(r) for r in load_workbook(path, read_only=True)["Assets"].iter_rows(values_only=True)]

    assert cells(a) == cells(b) != cells(c)
    rows = cells(a)
    assert rows[0][:4] == ("Asset ID", "Asset Name", "Site", "Customer") and len(rows) == 301
    ids = [r[0] for r in rows[1:]]
    assert len(set(ids)) == 300 and len({r[2] for r in rows[1:]}) == 12
    assert all(i.startswith(f"{site}_") for i, site in ((r[0], r[2]) for r in rows[1:]))


def test_import_prints_counts_and_records_a_run(tmp_path, dagster_home, monkeypatch, sample_register):
    monkeypatch.setenv("IC3_DATABASE_URL", f"sqlite:///{tmp_path / 'ic3.sqlite'}")
    result = invoke("import", str(sample_register))
    assert result.exit_code == 0, result.output
    assert "rows read                    120" in result.output
    assert "assets in database           120" in result.output
    assert (dagster_home / "dagster.yaml").is_file()
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs()
        assert run.job_name == "import_register" and run.status == DagsterRunStatus.SUCCESS
        assert run.tags["ic3/trigger"] == "cli"


def test_import_of_a_bad_file_exits_non_zero_with_the_problems(tmp_path, dagster_home, monkeypatch):
    monkeypatch.setenv("IC3_DATABASE_URL", f"sqlite:///{tmp_path / 'ic3.sqlite'}")
    bad = write_register(tmp_path / "bad.xlsx", [row("P-1", Latitude=200), row("")])
    result = CliRunner().invoke(main, ["import", str(bad)])
    assert result.exit_code == 1
    assert "Register bad.xlsx refused, nothing was imported: 2 problems" in result.output
    assert "sheet 'Assets', row 2, column F 'Latitude': 200 is out of range (-90 to 90)" in result.output
    assert "Traceback" not in result.output
