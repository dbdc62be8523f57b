"""One configured source as the Dagster builders see it: its names, its connector, its partitions and its settings.

Every name a source puts in the code location (asset keys, group, pool, jobs, sensors, schedule, checks, resource
key) comes from here, derived from the source's name, so two sources — or two tenants of one CMMS — never collide and
nothing spells a name as a bare string twice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from dagster import AssetKey, DagsterInstance, PartitionsDefinition, StaticPartitionsDefinition

from ic3_pipeline.connectors import get_connector
from ic3_pipeline.register.partitions import SITES_PARTITIONS_NAME, site_partitions
from ic3_pipeline.register.sites import site_partition_key
from ic3_pipeline.sync.connector import EntityConnector
from ic3_pipeline.sync.partitions import MAX_PARTITIONS_PER_RUN
from ic3_pipeline.sync.retry_plan import RetryPolicySettings

PartitionKind = Literal["register_sites", "static", "none"]


def base_url_from(base_url: str | None, base_url_env: str | None) -> str | None:
    """A fixed URL, else the one its environment variable holds now (None when neither is set)."""
    return base_url or (os.environ.get(base_url_env) if base_url_env else None) or None


@dataclass(frozen=True)
class Partitioning:
    """How a source's assets are split into partitions.

    ``register_sites``: one dynamic partition per register site (shared by every source that uses them; the register
    import adds new sites). ``static``: the listed sites only — the way to give two tenants of one CMMS their own
    sites. ``none``: one unpartitioned asset covering every register asset.
    """

    kind: PartitionKind = "register_sites"
    sites: tuple[str, ...] = ()  # site names (static only)

    @property
    def keys(self) -> list[str]:
        """The static partition keys (site names made Dagster-safe)."""
        return [site_partition_key(site) for site in self.sites]

    def definition(self) -> PartitionsDefinition | None:
        if self.kind == "register_sites":
            return site_partitions
        if self.kind == "static":
            return StaticPartitionsDefinition(self.keys)
        return None

    @property
    def partitioned(self) -> bool:
        return self.kind != "none"

    @property
    def scope(self) -> list[str] | None:
        """The partition keys the source covers (``None``: every register site)."""
        return self.keys if self.kind == "static" else None

    def current_keys(self, instance: DagsterInstance) -> list[str]:
        """The partition keys that exist now, in the partitions' order."""
        if self.kind == "register_sites":
            return list(instance.get_dynamic_partitions(SITES_PARTITIONS_NAME))
        return self.keys


@dataclass(frozen=True)
class HttpSettings:
    concurrency: int = 64
    initial_rate_per_s: float = 10.0
    max_rate_per_s: float = 1000.0
    timeout_s: float = 15.0
    max_attempts: int = 6


@dataclass(frozen=True)
class StepRetry:
    """Systemic failures (API down, database gone) are retried by the step: ``max_retries`` times, after ``delay_s``
    and then double it (with jitter)."""

    max_retries: int = 2
    delay_s: float = 30.0


class SourceNames:
    """The names every kind of source derives from its own (``source``) and its optional ``pool``, and where its
    API is now; mixed into each kind's spec."""

    source: str
    pool: str | None
    base_url: str | None
    base_url_env: str | None

    def key(self, name: str) -> AssetKey:
        return AssetKey([self.source, name])

    @property
    def group(self) -> str:
        return self.source

    @property
    def pool_name(self) -> str:
        return self.pool or f"{self.source}_api"

    @property
    def resource_key(self) -> str:
        return self.source

    @property
    def status_key(self) -> AssetKey:
        return self.key("sync_status")

    @property
    def retry_sensor(self) -> str:
        return f"{self.source}_retry_failed"

    def current_base_url(self) -> str | None:
        return base_url_from(self.base_url, self.base_url_env)


@dataclass(frozen=True)
class SourceSpec(SourceNames):
    source: str
    connector_name: str
    base_url: str | None = None
    base_url_env: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # secret name -> environment variable name
    http: HttpSettings = HttpSettings()
    pool: str | None = None
    partitioning: Partitioning = Partitioning()
    sites_per_run: int = MAX_PARTITIONS_PER_RUN
    stale_after_hours: float = 24.0
    schedule_cron: str = "0 2 * * *"
    schedule_timezone: str = "UTC"
    retry: RetryPolicySettings = RetryPolicySettings()
    step_retry: StepRetry = StepRetry()

    @property
    def connector(self) -> EntityConnector:
        return get_connector(self.connector_name)

    # --- names ------------------------------------------------------------------------------------------------------
    @property
    def step_name(self) -> str:
        return f"{self.source}_enrichment"

    @property
    def enrich_job(self) -> str:
        return f"enrich_{self.source}"

    @property
    def full_refresh_job(self) -> str:
        return f"full_refresh_{self.source}"

    @property
    def one_asset_job(self) -> str:
        return f"sync_one_asset_{self.source}"

    @property
    def new_sites_sensor(self) -> str:
        return f"{self.source}_new_sites"

    @property
    def schedule_name(self) -> str:
        return f"{self.source}_resync"

    @property
    def sync_errors_check(self) -> str:
        return f"{self.source}_sync_errors"

    @property
    def known_assets_check(self) -> str:
        return f"assets_known_to_{self.source}"

    @property
    def rows_consistent_check(self) -> str:
        return f"{self.source}_rows_consistent"

    @property
    def details_key(self) -> AssetKey:
        return self.key(self.connector.tables[0].name)

    @property
    def stale_after(self) -> timedelta:
        return timedelta(hours=self.stale_after_hours)

    def table_keys(self) -> Sequence[AssetKey]:
        return [self.key(table.name) for table in self.connector.tables]

    def enrich_run_config(self, **config: object) -> dict:
        """Run config for the source's step (``force``, ``asset_ids``, ``stale_after_hours``)."""
        return {"ops": {self.step_name: {"config": config}}}

    def required_env(self) -> list[str]:
        """The environment variables a run of this source needs: its base URL's (unless fixed) and each secret's."""
        names = [] if self.base_url else [self.base_url_env] if self.base_url_env else []
        return [*names, *self.secrets.values()]
