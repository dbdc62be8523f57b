"""``CmmsConnection`` tested the way Dagster's docs test components: a ``defs.yaml`` scaffolded into a throwaway
defs folder (``create_defs_folder_sandbox``), loaded and built; plus the project's own defs folder through ``dg``."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions, EnvVar
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from dagster.components.core.component_tree import ComponentTreeException
from dagster.components.testing import create_defs_folder_sandbox

from ic3_pipeline.components import CmmsConnection
from ic3_pipeline.cli.scopes import find_source
from ic3_pipeline.components.catalog import configured_sources
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.register.partitions import site_partitions
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.components.conftest import user_text, write_connection

PROJECT = Path(__file__).resolve().parents[2]
PROJECT_DEFS_YAML = PROJECT / "ic3_pipeline" / "defs" / "innomaint" / "defs.yaml"
DG = PROJECT / ".venv" / "bin" / "dg"
SECRET = "tok-Zq81-never-in-definitions"  # distinctive, so a leak anywhere is found

TABLES = ("asset_details", "asset_performance", "workorder_summary")
TEMPLATED_ENV = ("IC3_RESYNC_CRON", "IC3_RETRY_BASE_COOLDOWN_S", "IC3_RETRY_MAX_COOLDOWN_S", "IC3_RETRY_MAX_IN_FLIGHT")


def expected_names(source: str) -> dict[str, set]:
    return {
        "assets": {AssetKey([source, name]) for name in (*TABLES, "sync_status")},
        "checks": {f"{source}_sync_errors", f"assets_known_to_{source}", f"{source}_rows_consistent"},
        "jobs": {f"enrich_{source}", f"full_refresh_{source}", f"sync_one_asset_{source}",
                 f"reparse_{source}"},
        "sensors": {f"{source}_new_sites", f"{source}_retry_failed"},
        "schedules": {f"{source}_resync"},
    }


def with_warehouse(defs: Definitions) -> Definitions:
    """The component's definitions as the code location has them (with the shared database resource)."""
    return Definitions.merge(defs, Definitions(resources={"warehouse": WarehouseResource(database_url="sqlite://")}))


# --- what one connection builds ---------------------------------------------------------------------------------


def test_innomaint_connection_builds_exactly_its_definitions(monkeypatch):
    """The project's own Innomaint ``defs.yaml``, scaffolded into a sandbox, builds every name from the source name,
    one pooled multi-asset step, and a resource whose token is an ``EnvVar`` (the value is nowhere in the defs)."""
    monkeypatch.setenv("INNOMAINT_API_TOKEN", SECRET)
    monkeypatch.setenv("INNOMAINT_BASE_URL", "http://cmms.invalid:9")
    monkeypatch.setenv("IC3_STEP_RETRY_DELAY_S", "0.2")
    for name in TEMPLATED_ENV:
        monkeypatch.delenv(name, raising=False)

    with create_defs_folder_sandbox() as sandbox:
        defs_path = write_connection(sandbox, "innomaint", PROJECT_DEFS_YAML.read_text(encoding="utf-8"))
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, CmmsConnection)
            assert component.spec() == find_source("innomaint", configured_sources())  # the sandbox copy is the project's source
            names = expected_names("innomaint")

            assert {key for assets_def in defs.assets for key in assets_def.keys} == names["assets"]
            for assets_def in defs.assets:
                assert set(assets_def.group_names_by_key.values()) == {"innomaint"}
            step = defs.get_assets_def(AssetKey(["innomaint", "asset_details"]))
            assert set(step.keys) == {AssetKey(["innomaint", t]) for t in TABLES}  # one step writes all three
            assert step.op.name == "innomaint_enrichment"
            assert step.op.pool == "innomaint_api"
            assert step.partitions_def == site_partitions
            assert step.backfill_policy.max_partitions_per_run == 100
            assert (step.op.retry_policy.max_retries, step.op.retry_policy.delay) == (2, 0.2)
            assert {"warehouse", "innomaint"} <= step.required_resource_keys

            assert {job.name for job in defs.jobs} == names["jobs"]
            assert {sensor.name for sensor in defs.sensors} == names["sensors"]
            (schedule,) = defs.schedules
            assert schedule.name == "innomaint_resync"
            assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "UTC")

            location = with_warehouse(defs)
            graph = location.resolve_asset_graph()
            details = AssetKey(["innomaint", "asset_details"])
            assert {(key.asset_key, key.name) for key in graph.asset_check_keys} == {
                (details, name) for name in names["checks"]
            }
            (one_asset_op,) = location.resolve_job_def("sync_one_asset_innomaint").graph.node_defs
            assert one_asset_op.pool == "innomaint_api"

            assert set(defs.resources) == {"innomaint"}
            api = defs.resources["innomaint"]
            assert isinstance(api, CmmsApiResource)
            assert isinstance(api.token, EnvVar) and api.token == EnvVar("INNOMAINT_API_TOKEN")
            assert (api.base_url, api.base_url_env, api.secret_env) == (
                None, "INNOMAINT_BASE_URL", {"token": "INNOMAINT_API_TOKEN"})
            assert (api.concurrency, api.initial_rate_per_s, api.timeout_s, api.max_attempts) == (64, 10.0, 15.0, 6)

            # What the UI and `dg` get from the code location: the variable's name, never its value.
            snapshot = RepositorySnap.from_def(location.get_repository_def())
            assert SECRET not in serialize_value(snapshot)
            assert SECRET not in repr(defs.resources) and SECRET not in repr(api.token)
            assert "INNOMAINT_API_TOKEN" in snapshot.utilized_env_vars
            (resource_snap,) = [r for r in snapshot.resources if r.name == "innomaint"]
            assert resource_snap.configured_values["token"].name == "INNOMAINT_API_TOKEN"


def test_a_minimal_connection_gets_its_defaults(monkeypatch):
    monkeypatch.delenv("IC3_STEP_RETRY_DELAY_S", raising=False)
    with create_defs_folder_sandbox() as sandbox:
        defs_path = write_connection(sandbox, "acme", """
            type: ic3_pipeline.components.CmmsConnection
            attributes:
              source: acme
              connector: innomaint
              base_url: http://cmms.example.test
              secrets:
                token: ACME_TOKEN
        """)
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            names = expected_names("acme")
            assert {key for assets_def in defs.assets for key in assets_def.keys} == names["assets"]
            step = defs.get_assets_def(AssetKey(["acme", "asset_details"]))
            assert step.op.pool == "acme_api" and step.op.name == "acme_enrichment"
            assert set(step.group_names_by_key.values()) == {"acme"}
            assert (step.op.retry_policy.max_retries, step.op.retry_policy.delay) == (2, 30.0)
            assert {job.name for job in defs.jobs} == names["jobs"]
            assert {s.name for s in defs.sensors} == names["sensors"]
            assert {s.name for s in defs.schedules} == names["schedules"]
            api = defs.resources["acme"]
            assert (api.base_url, api.base_url_env, api.token) == ("http://cmms.example.test", None, EnvVar("ACME_TOKEN"))
            assert component.spec().required_env() == ["ACME_TOKEN"]  # a fixed URL needs no variable


# --- templates ----------------------------------------------------------------------------------------------------

TEMPLATED = """
    type: ic3_pipeline.components.CmmsConnection
    attributes:
      source: acme
      connector: innomaint
      base_url_env: ACME_URL
      secrets:
        token: ACME_TOKEN
      sites_per_run: "{{ env('ACME_SITES_PER_RUN', '7') }}"
      http:
        max_attempts: "{{ env.ACME_MAX_ATTEMPTS }}"
      schedule:
        cron: "{{ env.ACME_RESYNC_CRON }}"
        timezone: "{{ env('ACME_TZ', 'Asia/Kolkata') }}"
      retry_sensor:
        base_cooldown_s: "{{ env('ACME_COOLDOWN_S', '45') }}"
      step_retry:
        max_retries: "{{ env.ACME_STEP_RETRIES }}"
        delay_s: "{{ env('ACME_STEP_DELAY_S', '30') }}"
    requirements:
      env: [ACME_URL, ACME_TOKEN, ACME_SITES_PER_RUN, ACME_MAX_ATTEMPTS, ACME_RESYNC_CRON, ACME_TZ, ACME_COOLDOWN_S,
            ACME_STEP_RETRIES, ACME_STEP_DELAY_S]
"""


def test_env_templates_resolve_on_nested_and_top_level_attributes(monkeypatch):
    """``{{ env.X }}`` and ``{{ env('X', 'default') }}`` are expanded (dagster#32985 says custom resolvers may not do
    it: these attributes must) and reach the built schedule, retry policy, backfill policy and resource."""
    monkeypatch.setenv("ACME_RESYNC_CRON", "15 3 * * 1")
    monkeypatch.setenv("ACME_STEP_DELAY_S", "1.5")
    monkeypatch.setenv("ACME_STEP_RETRIES", "4")
    monkeypatch.setenv("ACME_MAX_ATTEMPTS", "3")
    for unset in ("ACME_SITES_PER_RUN", "ACME_TZ", "ACME_COOLDOWN_S"):  # these take the template's default
        monkeypatch.delenv(unset, raising=False)

    with create_defs_folder_sandbox() as sandbox:
        defs_path = write_connection(sandbox, "acme", TEMPLATED)
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            (schedule,) = defs.schedules
            assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 3 * * 1", "Asia/Kolkata")
            step = defs.get_assets_def(AssetKey(["acme", "asset_details"]))
            assert (step.op.retry_policy.max_retries, step.op.retry_policy.delay) == (4, 1.5)
            assert step.backfill_policy.max_partitions_per_run == 7
            assert defs.resources["acme"].max_attempts == 3
            spec = component.spec()
            assert spec.retry.base_cooldown == timedelta(seconds=45)
            assert (spec.sites_per_run, spec.step_retry.max_retries, spec.http.max_attempts) == (7, 4, 3)
            assert isinstance(spec.sites_per_run, int) and isinstance(spec.step_retry.delay_s, float)


def test_a_template_resolving_to_a_bad_value_fails_with_the_key(monkeypatch):
    """Validators run on the resolved values: an environment that makes ``delay_s`` negative is refused at load."""
    for name, value in {"ACME_RESYNC_CRON": "0 1 * * *", "ACME_STEP_RETRIES": "1", "ACME_MAX_ATTEMPTS": "2",
                        "ACME_STEP_DELAY_S": "-1"}.items():
        monkeypatch.setenv(name, value)
    with create_defs_folder_sandbox() as sandbox:
        defs_path = write_connection(sandbox, "acme", TEMPLATED)
        with pytest.raises(ComponentTreeException) as raised:
            with sandbox.load_component_and_build_defs(defs_path=defs_path):
                pass
    text = user_text(raised.value)
    defs_yaml = defs_path / "defs.yaml"
    assert f"{defs_yaml}:16" in text or f"{defs_yaml}:18" in text, text  # `step_retry:` or its `delay_s:`
    assert "step_retry" in text and "delay_s must be at least 0, not -1" in text


# --- mistakes in the YAML -----------------------------------------------------------------------------------------

BASE = """\
type: ic3_pipeline.components.CmmsConnection
attributes:
  source: acme
  connector: innomaint
  base_url_env: ACME_URL
  secrets:
    token: ACME_TOKEN
"""  # lines 1-7; cases append from line 8


MISTAKES = [
    pytest.param(BASE + "  http:\n    concurency: 8\n", {8, 9}, "concurency", "Extra inputs are not permitted",
                 id="unknown-key-under-http"),
    pytest.param(BASE.replace("connector: innomaint", "connector: acme_cmms"), {4}, "connector",
                 "unknown connector 'acme_cmms'; this release has: innomaint, maximo", id="unknown-connector"),
    pytest.param(BASE.replace("connector: innomaint", "connector: maximo"), {4}, "connector",
                 "connector 'maximo' answers paged collections: declare it with "
                 "ic3_pipeline.components.CmmsCollections", id="collection-connector-in-a-connection"),
    pytest.param(BASE.replace("token: ACME_TOKEN", 'token: "abc def!"'), {7}, "secrets.token",
                 "must be the NAME of an environment variable", id="secret-value-not-a-name"),
    pytest.param(BASE.replace("token: ACME_TOKEN", 'token: "{{ env.ACME_TOKEN_VALUE }}"'), {7}, "secrets.token",
                 "must be the NAME of an environment variable", id="secret-value-through-a-template"),
    pytest.param(BASE + "    api_key: ACME_KEY\n", {8}, "secrets.api_key",
                 "connector 'innomaint' takes no secret 'api_key' (it takes: token)", id="secret-not-taken"),
    pytest.param(BASE.replace("  secrets:\n    token: ACME_TOKEN\n", ""), {2}, "secrets",
                 "connector 'innomaint' needs token", id="required-secret-missing"),
    pytest.param(BASE + "  partitions:\n    kind: static\n", {8, 9}, "partitions",
                 "partitions.kind 'static' needs the list of `sites`", id="static-without-sites"),
    pytest.param(BASE + "  http:\n    timeout_s: -1\n", {8, 9}, "timeout_s", "timeout_s must be more than 0, not -1",
                 id="negative-timeout"),
    pytest.param(BASE.replace("  base_url_env: ACME_URL\n", ""), {2}, "base_url_env",
                 "give base_url_env (the variable holding the API's URL) or base_url", id="no-base-url"),
]


@pytest.mark.parametrize(("yaml_text", "lines", "key", "reason"), MISTAKES)
def test_a_yaml_mistake_fails_at_load_naming_file_line_and_key(monkeypatch, yaml_text, lines, key, reason):
    monkeypatch.setenv("ACME_TOKEN_VALUE", "tok3nLooksLikeAName")  # what a secret pasted through a template gives
    with create_defs_folder_sandbox() as sandbox:
        defs_path = write_connection(sandbox, "acme", yaml_text)
        with pytest.raises(ComponentTreeException) as raised:
            with sandbox.load_component_and_build_defs(defs_path=defs_path):
                pass
    text = user_text(raised.value)
    defs_yaml = str(defs_path / "defs.yaml")
    assert any(f"{defs_yaml}:{line}" in text for line in lines), f"no {defs_yaml}:{sorted(lines)} in:\n{text}"
    assert key in text and reason in text, text


# --- the project's own defs folder ----------------------------------------------------------------------------------


def test_dg_checks_and_lists_the_project_definitions(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in TEMPLATED_ENV}
    env.update(DAGSTER_HOME=str(home), IC3_DATABASE_URL=f"sqlite:///{tmp_path / 'never_opened.sqlite'}",
               COLUMNS="300", NO_COLOR="1")
    commands = {"check": ["check", "defs"], "json": ["list", "defs", "--json"], "table": ["list", "defs"]}
    # One after another: two first-time `dg` processes on one fresh DAGSTER_HOME race to create Dagster's own
    # storage ("table alembic_version already exists").
    done = {}
    for name, args in commands.items():
        completed = subprocess.run([str(DG), *args], cwd=PROJECT, env=env, text=True, capture_output=True, timeout=180)
        done[name] = (completed.returncode, completed.stdout, completed.stderr)
    for name, (code, out, err) in done.items():
        assert code == 0, f"dg {' '.join(commands[name])} exited {code}:\n{out}\n{err}"
    assert "All definitions loaded successfully" in done["check"][1] + done["check"][2]

    listed = json.loads(done["json"][1])
    names = expected_names("innomaint")
    assets = {a["asset_key"]: a for a in listed["assets"] if a["asset_key"].startswith("innomaint/")}
    assert set(assets) == {key.to_user_string() for key in names["assets"]}
    assert {a["group_name"] for a in assets.values()} == {"innomaint"}
    checks = {c["name"]: c for c in listed["asset_checks"] if c["asset_key"].startswith("innomaint/")}
    assert set(checks) == names["checks"]
    assert {c["asset_key"] for c in checks.values()} == {"innomaint/asset_details"}
    assert names["jobs"] <= {j["name"] for j in listed["jobs"]}
    assert names["sensors"] <= {s["name"] for s in listed["sensors"]}
    assert sorted((s["name"], s["cron_schedule"]) for s in listed["schedules"]) == [
        ("fiix_incremental", "50 2 * * *"), ("innomaint_resync", "0 2 * * *"), ("maximo_incremental", "30 2 * * *"),
        ("sap_pm_incremental", "55 2 * * *"), ("upkeep_incremental", "45 2 * * *")]
    maximo = {a["asset_key"] for a in listed["assets"] if a["asset_key"].startswith("maximo/")}
    assert maximo == {f"maximo/{name}" for name in ("maxgroup", "peruser", "domain", "locations", "asset", "wodetail",
                                                    "inventory", "sync_status")}
    assert {"innomaint", "warehouse"} <= {r["name"] for r in listed["resources"]}

    table = done["table"][1]
    for name in [*(k.to_user_string() for k in names["assets"]), *names["checks"], *names["jobs"],
                 *names["sensors"], *names["schedules"]]:
        assert name in table, f"`dg list defs` does not show {name}"


def test_configured_sources_lists_the_innomaint_connection():
    sources = configured_sources()
    assert [spec.source for spec in sources] == ["innomaint"]  # maximo is a collection source (configured()[1])
    (spec,) = sources
    assert spec.connector_name == "innomaint"
    assert spec.required_env() == ["INNOMAINT_BASE_URL", "INNOMAINT_API_TOKEN"]
    assert (spec.base_url, spec.secrets, spec.pool_name) == (None, {"token": "INNOMAINT_API_TOKEN"}, "innomaint_api")
