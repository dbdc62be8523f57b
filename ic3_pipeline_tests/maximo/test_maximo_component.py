"""``CmmsCollections`` and ``defs/maximo/defs.yaml`` in Dagster: what the YAML builds, mistakes named by file and line,
a real run on a real instance (load order, checks naming dangling references, metadata), and no API key anywhere."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions, instance_for_test
from dagster.components.core.component_tree import ComponentTreeException
from dagster.components.testing import create_defs_folder_sandbox

from ic3_pipeline.components import CmmsCollections
from ic3_pipeline.components.collections import collection_definitions
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.sync.partitions import RANGE_END_TAG, RANGE_START_TAG
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.components.conftest import user_text
from ic3_pipeline_tests.maximo.conftest import API_KEY, SITES, assert_exact, maximo_spec

PROJECT_YAML = Path(__file__).resolve().parents[2] / "ic3_pipeline" / "defs" / "maximo" / "defs.yaml"
STREAMS = ("maxgroup", "peruser", "domain", "locations", "asset", "wodetail", "inventory")


def write(sandbox, folder: str, yaml_text: str) -> Path:
    defs_path = sandbox.scaffold_component(component_cls=CmmsCollections, defs_path=folder)
    (defs_path / "defs.yaml").write_text(textwrap.dedent(yaml_text).lstrip("\n"), encoding="utf-8")
    return defs_path


def test_the_maximo_yaml_builds_a_stream_asset_each_in_load_order():
    with create_defs_folder_sandbox() as sandbox:
        defs_path = write(sandbox, "maximo", PROJECT_YAML.read_text(encoding="utf-8"))
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, built):
            assert component.spec() == maximo_spec()
            defs = Definitions.merge(built, Definitions(resources={"warehouse": WarehouseResource(database_url="sqlite://")}))
            graph = defs.resolve_asset_graph()
            assert {k for k in graph.get_all_asset_keys()} == {AssetKey(["maximo", s]) for s in (*STREAMS, "sync_status")}
            parents = {key.path[1]: {p.path[1] for p in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()}
            assert parents["asset"] == {"locations"}
            assert parents["wodetail"] == {"asset", "locations"}
            assert parents["inventory"] == {"locations", "asset"}
            assert parents["peruser"] == {"maxgroup"}
            per_site = {key.path[1] for key in graph.get_all_asset_keys() if graph.get(key).partitions_def is not None}
            assert per_site == {"locations", "asset", "wodetail", "inventory"}
            assert {key.name for key in graph.asset_check_keys} == {
                *(f"{s}_values_fit" for s in STREAMS),
                *(f"{s}_references_exist" for s in ("peruser", "asset", "wodetail", "inventory")),
                *(f"{s}_maps_to_unified" for s in ("asset", "wodetail"))}
            assert defs.resolve_job_def("sync_maximo") is not None
            assert [s.name for s in defs.schedules] == ["maximo_incremental"]
            assert [s.name for s in defs.sensors] == ["maximo_retry_failed"]


BASE = """\
type: ic3_pipeline.components.CmmsCollections
attributes:
  source: acme
  connector: maximo
  base_url_env: ACME_URL
  secrets:
    api_key: ACME_KEY
  sites_env: ACME_SITES
  streams:
    - name: asset
      resource: MXAPIASSET
      key: [siteid, assetnum]
      partition_field: siteid
"""  # lines 1-13; cases append from line 14

MISTAKES = [
    pytest.param(BASE + "      depends_on: [locations]\n", {10, 14}, "streams",
                 "stream 'asset' depends on 'locations', which is not a stream of this source", id="unknown-dependency"),
    pytest.param(BASE + "      depends_on: [wo]\n    - name: wo\n      resource: MXAPIWODETAIL\n      key: [wonum]\n"
                 "      depends_on: [asset]\n", {9, 10, 14}, "streams",
                 "streams depend on each other in a circle: asset -> wo -> asset", id="circle"),
    pytest.param(BASE + "      references:\n        - {columns: [location], stream: locations, to: [location]}\n",
                 {14, 15}, "references", "'locations' is not a stream of this source", id="reference-to-nothing"),
    pytest.param(BASE.replace("      key: [siteid, assetnum]\n", "      key: []\n"), {9, 12}, "key",
                 "a stream needs a key", id="empty-key"),
    pytest.param(BASE.replace("    api_key: ACME_KEY\n", "    token: ACME_KEY\n"), {7}, "secrets.token",
                 "connector 'maximo' takes no secret 'token'", id="secret-not-taken"),
    pytest.param(BASE.replace("  sites_env: ACME_SITES\n", ""), {12}, "partition_field",
                 "per-site streams need `sites` or `sites_env`", id="sites-missing"),
    pytest.param(BASE + "  paging:\n    page_size: 5000\n", {14, 15}, "paging",
                 "page_size (5000) must lie between min_page_size (10) and max_page_size (1000)", id="page-size"),
    pytest.param(BASE.replace("connector: maximo", "connector: innomaint"), {4}, "connector",
                 "answers one asset per call: declare it with ic3_pipeline.components.CmmsConnection", id="entity"),
    pytest.param(BASE + "      chidlren: [assetmeter]\n", {9, 14}, "chidlren", "Extra inputs are not permitted",
                 id="unknown-key"),
]


@pytest.mark.parametrize(("yaml_text", "lines", "key", "reason"), MISTAKES)
def test_a_yaml_mistake_fails_at_load_naming_file_line_and_key(yaml_text, lines, key, reason):
    with create_defs_folder_sandbox() as sandbox:
        defs_path = write(sandbox, "acme", yaml_text)
        with pytest.raises(ComponentTreeException) as raised:
            with sandbox.load_component_and_build_defs(defs_path=defs_path):
                pass
    text = user_text(raised.value)
    defs_yaml = str(defs_path / "defs.yaml")
    assert any(f"{defs_yaml}:{line}" in text for line in lines), f"no {defs_yaml}:{sorted(lines)} in:\n{text}"
    assert key in text and reason in text, text


def _defs(db_url: str, base_url: str) -> Definitions:
    spec = maximo_spec()
    resource = CmmsApiResource(source="maximo", connector="maximo", base_url=base_url,
                               secret_env=dict(spec.secrets), initial_rate_per_s=50.0, timeout_s=5.0,
                               max_attempts=3)
    return Definitions.merge(collection_definitions(spec, resource),
                             Definitions(resources={"warehouse": WarehouseResource(database_url=db_url)}))


def test_a_run_syncs_every_stream_in_order_and_checks_name_dangling_references(db_url, simulator, maximo_engine,
                                                                                monkeypatch):
    monkeypatch.setenv("MAXIMO_API_KEY", API_KEY)
    defs = _defs(db_url, simulator.base_url)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("maximo_sites", list(SITES))
        result = defs.resolve_job_def("sync_maximo").execute_in_process(
            instance=instance, tags={RANGE_START_TAG: SITES[0], RANGE_END_TAG: SITES[-1]})
        assert result.success
        order = [e.step_key for e in result.get_step_success_events()]
        assert order.index("maximo__locations") < order.index("maximo__asset") < order.index("maximo__wodetail")
        assert order.index("maximo__maxgroup") < order.index("maximo__peruser")
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        dangling = simulator.dangling_references()
        assert dangling, "the simulator's data has work orders naming missing assets"
        wo = checks["wodetail_references_exist"]
        assert not wo.passed
        for siteid, wonum, assetnum in dangling:
            assert f"siteid={siteid}, assetnum={assetnum}" in json.dumps(
                {k: str(v.value) for k, v in wo.metadata.items()})
        assert checks["asset_values_fit"].passed and checks["asset_references_exist"].passed
        materialized = {e.asset_key.path[1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
        assert materialized["asset"]["rows written"].value == len(simulator.truth("mxapiasset"))
        assert materialized["asset"]["dagster/row_count"].value == len(simulator.truth("mxapiasset"))
        # Assets and work orders also land in the unified model, every record converted.
        assert materialized["wodetail"]["rows written to cmms_work_order"].value == len(simulator.truth("mxapiwodetail"))
        assert materialized["wodetail"]["records not mapped (cmms_mapping_error)"].value == 0
        assert checks["wodetail_maps_to_unified"].passed and checks["asset_maps_to_unified"].passed

        # No API key in the event log, the run's config or its tags.
        run = instance.get_run_by_id(result.run_id)
        everything = [str(record) for record in instance.all_logs(result.run_id)]
        assert API_KEY not in json.dumps(run.run_config) + json.dumps(run.tags)
        assert not [line for line in everything if API_KEY in line]
    assert_exact(maximo_engine, maximo_spec(), simulator)


def test_a_refused_key_fails_the_run_without_retries_and_says_which_variable(db_url, simulator, monkeypatch):
    monkeypatch.setenv("MAXIMO_API_KEY", "wrong-" + API_KEY)
    defs = _defs(db_url, simulator.base_url)
    with instance_for_test() as instance:
        result = defs.resolve_job_def("sync_maximo").execute_in_process(
            instance=instance, asset_selection=[AssetKey(["maximo", "maxgroup"])], raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "HTTP 401" in failure.description and "wrong-" not in failure.description


def test_no_credentials_names_the_variables_to_set(db_url, simulator, monkeypatch):
    for name in ("MAXIMO_API_KEY", "MAXIMO_USER", "MAXIMO_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    defs = _defs(db_url, simulator.base_url)
    with instance_for_test() as instance:
        result = defs.resolve_job_def("sync_maximo").execute_in_process(
            instance=instance, asset_selection=[AssetKey(["maximo", "maxgroup"])], raise_on_error=False)
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "set MAXIMO_API_KEY (or MAXIMO_USER and MAXIMO_PASSWORD)" in failure.description


def test_user_and_password_are_the_fallback(db_url, simulator, maximo_engine, monkeypatch):
    simulator.configure(user="maxadmin", password="pw-" + API_KEY)
    monkeypatch.delenv("MAXIMO_API_KEY", raising=False)
    monkeypatch.setenv("MAXIMO_USER", "maxadmin")
    monkeypatch.setenv("MAXIMO_PASSWORD", "pw-" + API_KEY)
    defs = _defs(db_url, simulator.base_url)
    with instance_for_test() as instance:
        result = defs.resolve_job_def("sync_maximo").execute_in_process(
            instance=instance, asset_selection=[AssetKey(["maximo", "maxgroup"])])
    assert result.success
    assert_exact(maximo_engine, maximo_spec(), simulator, names=("maxgroup",))
