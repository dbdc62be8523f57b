"""The asset_register asset and its checks on a real Dagster instance."""

import os

from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job, instance_for_test, materialize
from sqlalchemy import update

from ic3_pipeline.register.assets import asset_register
from ic3_pipeline.register.checks import register_checks
from ic3_pipeline.register.partitions import SITES_PARTITIONS_NAME
from ic3_pipeline.warehouse import make_engine, tables
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.registers import row, write_register


def run_import(instance: DagsterInstance, db_url: str, path=None, raise_on_error=True):
    config = {"path": str(path)} if path else {}
    return materialize(
        [asset_register, *register_checks],
        instance=instance,
        resources={"warehouse": WarehouseResource(database_url=db_url)},
        run_config={"ops": {"asset_register": {"config": config}}},
        raise_on_error=raise_on_error,
    )


def check_results(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_materializes_with_metadata_partitions_and_passing_checks(db_url, sample_register):
    with instance_for_test() as instance:
        result = run_import(instance, db_url, sample_register)
        assert result.success
        (event,) = result.get_asset_materialization_events()
        metadata = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
        assert metadata["rows read"] == 120 and metadata["inserted"] == 120 and metadata["sites"] == 8
        assert metadata["dagster/row_count"] == 120
        assert "cmms_asset_id" in [c.name for c in metadata["dagster/column_schema"].columns]
        assert "| cmms_asset_id |" in metadata["preview"]
        assert len(instance.get_dynamic_partitions(SITES_PARTITIONS_NAME)) == 8
        assert check_results(result) == {"asset_ids_unique": True, "assets_have_site": True, "criticality_allowed": True}
        second = run_import(instance, db_url, sample_register)
        metadata = second.get_asset_materialization_events()[0].materialization.metadata
        assert metadata["unchanged"].value == 120 and metadata["new site partitions"].value == 0


def test_refused_file_fails_the_run_with_the_problems(db_url, tmp_path):
    bad = write_register(tmp_path / "bad.xlsx", [row("P-1"), row("P-1")])
    with instance_for_test() as instance:
        result = run_import(instance, db_url, bad, raise_on_error=False)
        assert not result.success
        (failure,) = result.get_step_failure_events()
        description = failure.step_failure_data.user_failure_data.description
        assert "row 3, column A 'Asset ID': asset id 'P-1' is already used in row 2" in description
        assert instance.get_dynamic_partitions(SITES_PARTITIONS_NAME) == []


def test_reads_newest_file_in_the_drop_folder(db_url, tmp_path, monkeypatch):
    folder = tmp_path / "drop"
    folder.mkdir()
    older = write_register(folder / "a.xlsx", [row("OLD-1")])
    newer = write_register(folder / "b.xlsx", [row("NEW-1"), row("NEW-2")])
    os.utime(older, (1_000_000_000, 1_000_000_000))
    (folder / "~$b.xlsx").write_bytes(b"excel lock file")
    monkeypatch.setenv("IC3_REGISTER_DIR", str(folder))
    with instance_for_test() as instance:
        result = run_import(instance, db_url)
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
        assert metadata["file"].value == str(newer) and metadata["rows read"].value == 2


def test_no_file_anywhere_is_a_clear_failure(db_url, monkeypatch):
    monkeypatch.delenv("IC3_REGISTER_DIR", raising=False)
    with instance_for_test() as instance:
        result = run_import(instance, db_url, raise_on_error=False)
        description = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
        assert "No register file given" in description and "IC3_REGISTER_DIR" in description


def test_checks_fail_on_bad_rows(db_url, tmp_path):
    path = write_register(tmp_path / "r.xlsx", [row("P-1"), row("p-1 "), row("P-2")])
    with instance_for_test() as instance:
        run_import(instance, db_url, path)
        engine = make_engine(db_url)
        with engine.begin() as conn:
            conn.execute(update(tables.asset_master).where(tables.asset_master.c.cmms_asset_id == "P-2").values(location_id=None))
            # a value the import would refuse, written another way (an earlier release, a hand edit)
            conn.execute(update(tables.asset_master).where(tables.asset_master.c.cmms_asset_id == "P-2").values(criticality="Very High"))
        engine.dispose()
        defs = Definitions(
            assets=[asset_register], asset_checks=register_checks,
            jobs=[define_asset_job("checks_only", selection=AssetSelection.checks_for_assets(asset_register))],
            resources={"warehouse": WarehouseResource(database_url=db_url)},
        )
        result = defs.resolve_job_def("checks_only").execute_in_process(instance=instance)
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert not evaluations["asset_ids_unique"].passed
        assert not evaluations["assets_have_site"].passed
        assert "`P-2`" in evaluations["assets_have_site"].metadata["examples"].value
        assert not evaluations["criticality_allowed"].passed
        assert "`Very High`: 1" in evaluations["criticality_allowed"].metadata["values"].value
