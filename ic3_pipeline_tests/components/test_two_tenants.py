"""Two Innomaint tenants side by side in one database: two ``CmmsConnection`` instances in one defs folder, each with
its own sites, API, token and state, and neither ever touching the other's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    StaticPartitionsDefinition,
    build_sensor_context,
    instance_for_test,
    partition_loading_context,
)
from dagster.components.testing import create_defs_folder_sandbox
from sqlalchemy import Engine, select

from ic3_pipeline_tests.run_results import batch_metadata, first_materialization_metadata
from ic3_pipeline.components import CmmsConnection
from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.http_client import AdaptiveRateLimiter
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.sites import site_partition_key
from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig
from ic3_pipeline.sandbox.register_generator import write_sample_register
from ic3_pipeline.status.queries import sync_status
from ic3_pipeline.sync.due import due_asset_ids
from ic3_pipeline.sync.partitions import range_tags
from ic3_pipeline.sync.sync_log import learned_rate_limit
from ic3_pipeline.warehouse import ensure_schema, make_engine, tables
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline.warehouse.times import utc_now
from ic3_pipeline_tests.components.conftest import write_connection
from ic3_pipeline_tests.sources import inconsistent

NORTH, SOUTH = "tenant_north", "tenant_south"
TOKENS = {NORTH: "north-token-not-a-secret-51c2", SOUTH: "south-token-not-a-secret-9d07"}
ENV = {NORTH: ("NORTH_INNOMAINT_URL", "NORTH_INNOMAINT_TOKEN"), SOUTH: ("SOUTH_INNOMAINT_URL", "SOUTH_INNOMAINT_TOKEN")}
INITIAL_RATE = 50.0


def connection_yaml(source: str, sites: list[str]) -> str:
    url_env, token_env = ENV[source]
    return f"""
        type: ic3_pipeline.components.CmmsConnection
        attributes:
          source: {source}
          connector: innomaint
          base_url_env: {url_env}
          secrets:
            token: {token_env}
          partitions:
            kind: static
            sites: {json.dumps(sites)}
          http:
            initial_rate_per_s: {INITIAL_RATE:g}
            timeout_s: 2
            max_attempts: 2
          retry_sensor:
            base_cooldown_s: 0
          step_retry:
            max_retries: 0
            delay_s: 0
        requirements:
          env: [{url_env}, {token_env}]
    """


@pytest.fixture(scope="session")
def tenants_register(tmp_path_factory) -> Path:
    """60 assets over 4 sites: sites 1-2 (by name) belong to the north tenant, 3-4 to the south one."""
    return write_sample_register(tmp_path_factory.mktemp("tenants") / "register.xlsx", assets=60, sites=4, seed=7)


@dataclass
class Tenant:
    spec: SourceSpec
    simulator: InnomaintSimulator
    sites: list[str]
    asset_ids: list[str]

    @property
    def keys(self) -> list[str]:
        return [site_partition_key(site) for site in self.sites]


@dataclass
class TwoTenants:
    db_url: str
    defs: Definitions
    instance: DagsterInstance
    tenants: dict[str, Tenant]
    partition_of: dict[str, str]  # asset id -> partition key
    failing: str  # a south asset whose API answers 503 (more often than it is retried)
    missing: str  # a south asset south's API answers 404 for
    engines: list[Engine] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        if not self.engines:
            self.engines.append(make_engine(self.db_url))
        return self.engines[0]

    def run(self, source: str, **config):
        """``enrich_<source>`` over all of the source's partitions (one ranged run), in process, on the instance."""
        tenant = self.tenants[source]
        return self.defs.resolve_job_def(tenant.spec.enrich_job).execute_in_process(
            instance=self.instance,
            tags=range_tags(tenant.keys[0], tenant.keys[-1]),
            run_config=tenant.spec.enrich_run_config(**config),
            raise_on_error=False,
        )

    def tick(self, sensor_name: str):
        sensor = self.defs.resolve_sensor_def(sensor_name)
        with build_sensor_context(instance=self.instance, definitions=self.defs, resources=self.defs.resources) as context, \
                partition_loading_context(dynamic_partitions_store=self.instance):
            return sensor.evaluate_tick(context)

    def state(self, source: str) -> dict[str, tuple]:
        """``cmms_sync_state`` rows of ``source``, by register asset id."""
        state, asset = tables.sync_state, tables.asset_master
        query = (select(asset.c.cmms_asset_id, state).join(asset, asset.c.asset_id == state.c.asset_id)
                 .where(state.c.source == source))
        with self.engine.connect() as conn:
            return {row[0]: tuple(row[1:]) for row in conn.execute(query)}

    def sources_in(self, table) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(table.c.source).distinct()).scalars())


@pytest.fixture
def two_tenants(db_url, tenants_register, monkeypatch) -> Iterator[TwoTenants]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    _, validated = import_register(engine, tenants_register)
    engine.dispose()
    site_of = {record["cmms_asset_id"]: record["site_name"] for record in validated.records()}
    names = sorted(set(site_of.values()))
    assert len(names) == 4
    split = {NORTH: names[:2], SOUTH: names[2:]}
    ids = {source: sorted(a for a, site in site_of.items() if site in sites) for source, sites in split.items()}
    failing, missing = ids[SOUTH][0], ids[SOUTH][-1]

    simulators = {
        source: InnomaintSimulator(
            ids[source],
            SimulatorConfig(token=TOKENS[source], seed=7, missing_ids=frozenset({missing} if source == SOUTH else ())),
            sites={a: site_of[a] for a in ids[source]},
        )
        for source in (NORTH, SOUTH)
    }
    with simulators[NORTH], simulators[SOUTH], create_defs_folder_sandbox() as sandbox, instance_for_test() as instance:
        for source, simulator in simulators.items():
            url_env, token_env = ENV[source]
            monkeypatch.setenv(url_env, simulator.base_url)
            monkeypatch.setenv(token_env, TOKENS[source])
            write_connection(sandbox, source, connection_yaml(source, split[source]))
        with sandbox.build_component_tree() as tree:
            components = {c.source: c for c in tree.get_all_components(of_type=CmmsConnection)}
            defs = Definitions.merge(tree.build_defs(),
                                     Definitions(resources={"warehouse": WarehouseResource(database_url=db_url)}))
            setup = TwoTenants(
                db_url, defs, instance,
                {source: Tenant(components[source].spec(), simulators[source], split[source], ids[source])
                 for source in (NORTH, SOUTH)},
                {a: site_partition_key(site) for a, site in site_of.items()},
                failing, missing,
            )
            setup.tenants[SOUTH].simulator.script_faults(failing, ["503"] * 10)
            try:
                yield setup
            finally:
                for engine in setup.engines:
                    engine.dispose()


def checks_of(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def details_metadata(result, spec: SourceSpec) -> dict:
    """The first partition's materialization of the details asset and the batch's figures (its observation)."""
    key = spec.details_key.to_user_string()
    return {**first_materialization_metadata(result, key), **batch_metadata(result, key)}


# --- definitions --------------------------------------------------------------------------------------------------


def test_each_tenant_has_its_own_names_partitions_and_resource(two_tenants):
    defs = two_tenants.defs
    north, south = (two_tenants.tenants[s] for s in (NORTH, SOUTH))
    graph = defs.resolve_asset_graph()
    assets_by_source = {source: {k for k in graph.get_all_asset_keys() if k.path[0] == source} for source in (NORTH, SOUTH)}
    for source, tenant in two_tenants.tenants.items():
        step = defs.get_assets_def(tenant.spec.details_key)
        assert assets_by_source[source] == {*tenant.spec.table_keys(), tenant.spec.status_key}
        assert {graph.get(k).group_name for k in assets_by_source[source]} == {source}
        assert step.op.pool == f"{source}_api"  # no pool in the YAML: each tenant gets its own
        assert isinstance(step.partitions_def, StaticPartitionsDefinition)
        assert step.partitions_def.get_partition_keys() == tenant.keys
        assert step.required_resource_keys >= {"warehouse", source}
        assert {(k.asset_key, k.name) for k in graph.asset_check_keys if k.asset_key.path[0] == source} == {
            (tenant.spec.details_key, name) for name in
            (f"{source}_sync_errors", f"assets_known_to_{source}", f"{source}_rows_consistent")
        }
        resource = defs.resources[source]
        assert (resource.base_url_env, resource.secret_env) == (ENV[source][0], {"token": ENV[source][1]})
    assert assets_by_source[NORTH].isdisjoint(assets_by_source[SOUTH])
    assert set(north.keys).isdisjoint(south.keys) and len(north.keys) == len(south.keys) == 2
    assert AssetKey([NORTH, "sync_status"]) in assets_by_source[NORTH]
    assert AssetKey([SOUTH, "sync_status"]) in assets_by_source[SOUTH]
    jobs = {job.name for job in defs.jobs}
    sensors = {sensor.name for sensor in defs.sensors}
    schedules = {schedule.name for schedule in defs.schedules}
    for source in (NORTH, SOUTH):
        assert {f"enrich_{source}", f"full_refresh_{source}", f"sync_one_asset_{source}"} <= jobs
        assert {f"{source}_new_sites", f"{source}_retry_failed"} <= sensors
        assert f"{source}_resync" in schedules
    assert {NORTH, SOUTH, "warehouse"} <= set(defs.resources)


# --- syncing side by side -----------------------------------------------------------------------------------------


def test_two_tenants_sync_side_by_side_without_touching_each_other(two_tenants):
    t = two_tenants
    north, south = t.tenants[NORTH], t.tenants[SOUTH]
    engine = t.engine
    north.simulator.configure(rate_limit=25.0, latency_ms=20.0)  # north's API answers 429 above 25 req/s

    # Before any run, each new-sites sensor asks for its own sites only.
    for tenant in (north, south):
        (request,) = t.tick(tenant.spec.new_sites_sensor).run_requests
        assert request.job_name in (None, tenant.spec.enrich_job)
        assert {k: v for k, v in request.tags.items() if k != "dagster/sensor_name"} == {
            **range_tags(tenant.keys[0], tenant.keys[-1]), "ic3/trigger": "new_sites"}

    # North: only north's assets, only from north's API, state rows for north only.
    first_north = t.run(NORTH)
    assert first_north.success
    assert set(north.simulator.stats()["hits"]) == set(north.asset_ids)
    assert south.simulator.stats()["requests"] == 0
    assert t.sources_in(tables.sync_state) == {NORTH}
    north_state = t.state(NORTH)
    assert set(north_state) == set(north.asset_ids)
    assert checks_of(first_north)[f"{NORTH}_rows_consistent"].passed
    assert checks_of(first_north)[f"{NORTH}_sync_errors"].passed
    north_meta = details_metadata(first_north, north.spec)
    assert north_meta["batch synced"] == len(north.asset_ids) and north_meta["429 answers"] > 0

    # South: one asset keeps failing (503 more often than max_attempts: 2), one is unknown to south's API (404).
    before_south = north.simulator.stats()["requests"]
    first_south = t.run(SOUTH)
    assert first_south.success  # per-asset failures fail a check, not the step
    assert north.simulator.stats()["requests"] == before_south  # north's API saw nothing of south's run
    assert set(south.simulator.stats()["hits"]) == set(south.asset_ids)
    assert t.state(NORTH) == north_state
    south_checks = checks_of(first_south)
    assert not south_checks[f"{SOUTH}_sync_errors"].passed
    assert not south_checks[f"assets_known_to_{SOUTH}"].passed
    assert south_checks[f"{SOUTH}_rows_consistent"].passed
    assert t.sources_in(tables.sync_state) == {NORTH, SOUTH}
    south_state = t.state(SOUTH)
    assert set(south_state) == set(south.asset_ids)
    status_col = [c.name for c in tables.sync_state.columns].index("last_sync_status")
    assert {a: row[status_col] for a, row in south_state.items() if row[status_col] != "success"} == {
        t.failing: "error", t.missing: "not_found"}
    assert {row[status_col] for row in north_state.values()} == {"success"}

    # Each source's status reads its own state in its own sites.
    north_status = sync_status(engine, NORTH, north.keys)
    assert (north_status.total, north_status.synced, north_status.needing_retry, north_status.not_found,
            north_status.never_synced) == (len(north.asset_ids), len(north.asset_ids), 0, 0, 0)
    south_status = sync_status(engine, SOUTH, south.keys)
    assert (south_status.total, south_status.synced, south_status.needing_retry, south_status.not_found,
            south_status.never_synced) == (len(south.asset_ids), len(south.asset_ids) - 2, 1, 1, 0)
    assert {b["source"] for b in north_status.last_batches} == {NORTH}
    assert {b["source"] for b in south_status.last_batches} == {SOUTH}
    assert sync_status(engine, NORTH, south.keys).never_synced == len(south.asset_ids)  # south's success is not north's

    # Due selection: nothing of north's is due; south's failed asset is due for south only (its 404 is not).
    now = utc_now()
    assert due_asset_ids(engine, NORTH, north.keys, now=now) == []
    assert t.failing not in due_asset_ids(engine, NORTH, north.spec.partitioning.scope, now=now)
    assert due_asset_ids(engine, SOUTH, south.keys, now=now) == [t.failing]

    # Retry sensors: south asks for its failed site only; north has nothing to retry.
    north_tick = t.tick(north.spec.retry_sensor)
    assert not north_tick.run_requests and "No failed assets" in north_tick.skip_message
    (retry,) = t.tick(south.spec.retry_sensor).run_requests
    assert retry.partition_key == t.partition_of[t.failing]
    assert retry.tags["ic3/trigger"] == "retry"
    hits_before = south.simulator.stats()["hits"]
    result = t.defs.resolve_job_def(south.spec.enrich_job).execute_in_process(  # as the daemon would run it
        instance=t.instance, tags={**retry.tags, "dagster/partition": retry.partition_key}, raise_on_error=False)
    assert result.success
    hits_after = south.simulator.stats()["hits"]
    assert {a for a in hits_after if hits_after[a] != hits_before.get(a)} == {t.failing}  # the 404 is never retried
    assert t.state(NORTH) == north_state

    # The logs carry their source; the connector is the sync_type of both.
    with engine.connect() as conn:
        attempts = conn.execute(select(tables.sync_log.c.source, tables.sync_log.c.sync_type,
                                       tables.sync_log.c.serialnumber)).all()
        batches = conn.execute(select(tables.cmms_sync_log.c.source, tables.cmms_sync_log.c.sync_type,
                                      tables.cmms_sync_log.c.api_base_url,
                                      tables.cmms_sync_log.c.rate_limit_found)).all()
    assert {sync_type for _, sync_type, _ in attempts} == {"innomaint"}
    for source, tenant in t.tenants.items():
        assert {serial for s, _, serial in attempts if s == source} == set(tenant.asset_ids)
        assert {url for s, _, url, _ in batches if s == source} == {tenant.simulator.base_url.rstrip("/")}
    assert {s for s, *_ in batches} == {NORTH, SOUTH} and {st for _, st, *_ in batches} == {"innomaint"}
    assert [limit is not None for s, _, _, limit in batches if s == NORTH] == [True]  # north found its API's limit

    # North's learned limit is north's: not south's, not even against the same URL.
    north_url = north.simulator.base_url
    north_limit = learned_rate_limit(engine, NORTH, north_url)
    assert north_limit is not None  # north will start its next batch there ...
    assert learned_rate_limit(engine, SOUTH, north_url) is None  # ... south would not, even against north's API
    assert learned_rate_limit(engine, SOUTH, south.simulator.base_url) is None
    assert details_metadata(first_south, south.spec)["limiter rate at start (req/s)"] == INITIAL_RATE

    # Each tenant's rows are consistent; re-running north (forced) changes nothing of south's.
    assert inconsistent(engine, north.spec) == [] and inconsistent(engine, south.spec) == []
    south_before = t.state(SOUTH)
    south_requests = south.simulator.stats()["requests"]
    again = t.run(NORTH, force=True)
    assert again.success and checks_of(again)[f"{NORTH}_rows_consistent"].passed
    again_meta = details_metadata(again, north.spec)
    assert again_meta["batch synced"] == len(north.asset_ids)
    assert again_meta["limiter rate at start (req/s)"] == round(AdaptiveRateLimiter.TARGET * north_limit, 2)
    assert t.state(SOUTH) == south_before
    assert south.simulator.stats()["requests"] == south_requests
    assert t.state(NORTH) != north_state  # north's own rows did move on (its sync_version grew)


def test_a_wrong_token_fails_only_that_tenants_run(two_tenants, monkeypatch):
    t = two_tenants
    north, south = t.tenants[NORTH], t.tenants[SOUTH]
    assert t.run(NORTH).success and t.run(SOUTH).success
    north_before, south_before = t.state(NORTH), t.state(SOUTH)

    monkeypatch.setenv("NORTH_INNOMAINT_TOKEN", "not-north-s-token")  # read when the run starts
    failed = t.run(NORTH, force=True)
    assert not failed.success
    (failure,) = failed.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert "NORTH_INNOMAINT_TOKEN" in description and "HTTP 401" in description
    assert "SOUTH" not in description and "not-north-s-token" not in description
    assert north.simulator.stats()["unauthorized"] > 0
    assert t.state(NORTH) == north_before and t.state(SOUTH) == south_before

    south_requests = south.simulator.stats()["requests"]
    other = t.run(SOUTH, force=True)  # south's own token still works
    assert other.success
    assert south.simulator.stats()["requests"] > south_requests
    assert t.state(NORTH) == north_before
    with t.engine.connect() as conn:
        statuses = dict(conn.execute(select(tables.cmms_sync_log.c.source, tables.cmms_sync_log.c.status)
                                     .order_by(tables.cmms_sync_log.c.id)).all())  # the latest batch per source
    assert statuses == {NORTH: "failed", SOUTH: "partial"}
