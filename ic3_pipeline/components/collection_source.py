"""One configured collection source as the Dagster builders see it: its streams, names, sites and settings.

Every name the source puts in the code location (asset keys, group, pool, partitions, jobs, sensor, schedule,
checks, resource key) is derived here from the source's name, as ``SourceSpec`` does for entity sources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from dagster import DynamicPartitionsDefinition

from ic3_pipeline.components.source import HttpSettings, SourceNames, StepRetry
from ic3_pipeline.connectors import get_connector
from ic3_pipeline.sync.declarative import DeclarativeApi, DeclarativeConnector
from ic3_pipeline.sync.retry_plan import RetryPolicySettings
from ic3_pipeline.sync.streams import CollectionConnector, CollectionSettings, StreamSpec, load_order

SITE_SEPARATOR = ","


@dataclass(frozen=True)
class CollectionSourceSpec(SourceNames):
    source: str
    connector_name: str
    streams: tuple[StreamSpec, ...]
    base_url: str | None = None
    base_url_env: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # secret name -> environment variable name
    http: HttpSettings = HttpSettings()
    paging: CollectionSettings = CollectionSettings()
    pool: str | None = None
    sites: tuple[str, ...] = ()  # fixed sites; else ``sites_env``
    sites_env: str | None = None
    schedule_cron: str = "0 3 * * *"
    schedule_timezone: str = "UTC"
    retry: RetryPolicySettings = RetryPolicySettings()
    step_retry: StepRetry = StepRetry()
    api: DeclarativeApi | None = None  # the HTTP shape declared in YAML, in place of a Python connector

    @property
    def connector(self) -> CollectionConnector:
        if self.api is not None:
            return DeclarativeConnector(self.source, self.api)
        return get_connector(self.connector_name)

    @property
    def ordered_streams(self) -> list[StreamSpec]:
        return load_order(self.streams)

    def stream(self, name: str) -> StreamSpec:
        for stream in self.streams:
            if stream.name == name or stream.resource.lower() == name.lower():
                return stream
        raise KeyError(name)

    # --- names ------------------------------------------------------------------------------------------------------
    @property
    def partitions_name(self) -> str:
        return f"{self.source}_sites"

    @property
    def partitions_def(self) -> DynamicPartitionsDefinition:
        return DynamicPartitionsDefinition(name=self.partitions_name)

    @property
    def sync_job(self) -> str:
        return f"sync_{self.source}"

    @property
    def schedule_name(self) -> str:
        return f"{self.source}_incremental"

    def table_names(self) -> list[tuple[str, bool]]:
        """(table, is_child) of every table the streams write, in load order."""
        names = []
        for stream in self.ordered_streams:
            parent = stream.table_name(self.source)
            names.append((parent, False))
            names += [(child.table_name(parent), True) for child in stream.children]
        return names

    # --- environment (read when a run or command starts, never at import) ---------------------------------------------
    def current_sites(self) -> list[str]:
        """The sites to sync: the fixed list, else the comma-separated ``sites_env`` (empty when unset)."""
        if self.sites:
            return list(self.sites)
        raw = os.environ.get(self.sites_env, "") if self.sites_env else ""
        return [site.strip() for site in raw.split(SITE_SEPARATOR) if site.strip()]

    def required_env(self) -> list[str]:
        """Variables a sync needs: the base URL's, and (for the secrets) the first complete alternative's, or the
        first alternative's when none is complete — the one to tell a person about."""
        names = [] if self.base_url else [self.base_url_env] if self.base_url_env else []
        alternatives = getattr(self.connector, "secret_alternatives", (tuple(self.secrets),))
        groups = [[self.secrets[name] for name in group if name in self.secrets] for group in alternatives]
        complete = [group for group in groups if group and all(os.environ.get(name) for name in group)]
        return [*names, *(complete[0] if complete else groups[0] if groups else [])]

    def describe_secrets(self) -> str:
        alternatives = getattr(self.connector, "secret_alternatives", (tuple(self.secrets),))
        return " or ".join(" and ".join(self.secrets[name] for name in group if name in self.secrets)
                           for group in alternatives)
