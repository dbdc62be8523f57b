"""A Dagster run of the Fiix and SAP PM presets (``defs/fiix``, ``defs/sap_pm``, as declared) keeps every secret out
of its event log, run config, tags and metadata — the same search the UpKeep preset's run test makes."""

from __future__ import annotations

import json

import pytest
from dagster import Definitions, instance_for_test

from ic3_pipeline.components.catalog import configured
from ic3_pipeline.components.collections import collection_definitions
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.sandbox.fiix_simulator import FiixSimConfig, FiixSimulator
from ic3_pipeline.sandbox.sap_pm_simulator import SapPmSimConfig, SapPmSimulator
from ic3_pipeline.sync.partitions import RANGE_END_TAG, RANGE_START_TAG
from ic3_pipeline.warehouse.resource import WarehouseResource

FIIX_SECRETS = {"FIIX_APP_KEY": "fiix-app-71c0d2", "FIIX_ACCESS_KEY": "fiix-access-4e9a13",
                "FIIX_SECRET_KEY": "fiix-secret-b82f66-not-a-real-one"}
SAP_SECRETS = {"SAP_PM_USER": "IC3_READER", "SAP_PM_PASSWORD": "sap-pw-0a6c94-not-a-real-one"}


def _defs(source: str, db_url: str, base_url: str) -> Definitions:
    spec = next(spec for spec in configured()[1] if spec.source == source)
    resource = CmmsApiResource(source=source, connector=spec.connector_name, base_url=base_url,
                               secret_env=dict(spec.secrets), initial_rate_per_s=50.0, timeout_s=5.0, max_attempts=3)
    return Definitions.merge(collection_definitions(spec, resource),
                             Definitions(resources={"warehouse": WarehouseResource(database_url=db_url)}))


def _run_and_search(source: str, db_url: str, base_url: str, sites: list[str], secrets: dict[str, str]) -> None:
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(f"{source}_sites", sites)
        result = _defs(source, db_url, base_url).resolve_job_def(f"sync_{source}").execute_in_process(
            instance=instance, tags={RANGE_START_TAG: sites[0], RANGE_END_TAG: sites[-1]})
        assert result.success
        materialized = [str(e.materialization.metadata) for e in result.get_asset_materialization_events()]
        assert materialized  # every stream wrote, so there was something to leak
        run = instance.get_run_by_id(result.run_id)
        logged = "\n".join(str(record) for record in instance.all_logs(result.run_id))
        for name, value in secrets.items():
            if name == "SAP_PM_USER":
                continue  # a user name is not a secret
            assert value not in json.dumps(run.run_config) + json.dumps(run.tags), name
            assert value not in logged, name
            assert not [m for m in materialized if value in m], name


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_fiix_run_keeps_its_keys_out(db_url, monkeypatch):
    for name, value in FIIX_SECRETS.items():
        monkeypatch.setenv(name, value)
    simulator = FiixSimulator(FiixSimConfig(app_key=FIIX_SECRETS["FIIX_APP_KEY"],
                                            access_key=FIIX_SECRETS["FIIX_ACCESS_KEY"],
                                            secret_key=FIIX_SECRETS["FIIX_SECRET_KEY"], assets_per_site=15, seed=4))
    simulator.start()
    try:
        _run_and_search("fiix", db_url, simulator.base_url, ["1", "2"], FIIX_SECRETS)
    finally:
        simulator.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sap_pm_run_keeps_its_password_out(db_url, monkeypatch):
    for name, value in SAP_SECRETS.items():
        monkeypatch.setenv(name, value)
    simulator = SapPmSimulator(SapPmSimConfig(user=SAP_SECRETS["SAP_PM_USER"], password=SAP_SECRETS["SAP_PM_PASSWORD"],
                                              assets_per_site=15, seed=4))
    simulator.start()
    try:
        plants = sorted({record["MaintenancePlant"] for record in simulator.truth("assets")})
        _run_and_search("sap_pm", db_url, simulator.base_url, plants, SAP_SECRETS)
    finally:
        simulator.stop()
