"""``CmmsCollections``: a CMMS whose API answers collections in pages, declared in ``defs/<source>/defs.yaml``.

The YAML names the connector (how to ask for and read a page) - or declares the API's HTTP shape under ``api:``
(``components.declarative_api``), so a new CMMS needs no Python - the connection (base URL and secrets by environment
variable name), the sites and the streams: for each, the collection it reads, its key, its change field, its child
arrays, what it depends on and what it references. The component turns that into an asset per stream in load order,
checks, a sync job, an incremental schedule, a retry sensor, a status asset and the API resource. A mistake (unknown
key, unknown connector, a stream depending on one that does not exist, a circle) fails when the definitions load,
naming the file, line and key.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from dagster import Definitions
from dagster.components import Component, ComponentLoadContext, Model, Resolvable, ResolutionContext, Resolver
from dagster.components.scaffold.scaffold import scaffold_with
from pydantic import Field, ValidationError, field_validator, model_validator

from ic3_pipeline.components.collection_assets import build_collection_definitions
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.components.connection import (
    _ENV_NAME,
    RESERVED_SOURCES,
    HttpAttributes,
    RetrySensorAttributes,
    ScheduleAttributes,
    StepRetryAttributes,
    _at_least,
    _located,
    _SOURCE_NAME,
)
from ic3_pipeline.components.connector_scaffold import CollectionsScaffolder
from ic3_pipeline.components.declarative_api import ApiAttributes, StreamApiAttributes
from ic3_pipeline.components.resource import CmmsApiResource, api_resource
from ic3_pipeline.components.source import HttpSettings, StepRetry
from ic3_pipeline.connectors import CONNECTORS, get_connector
from ic3_pipeline.sync.mapping import MappingConfigError, compile_mapping
from ic3_pipeline.sync.retry_plan import RetryPolicySettings
from ic3_pipeline.sync.streams import ChildSpec, CollectionSettings, Reference, StreamSpec, load_order

_STREAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class ReferenceAttributes(Resolvable, Model):
    columns: list[str] = Field(description="The referring columns (attribute names).")
    stream: str = Field(description="The stream whose rows they name.")
    to: list[str] = Field(description="The referenced stream's columns, in the same order.")
    child: str | None = Field(default=None, description="The child array holding `columns` (default: the stream).")

    @model_validator(mode="after")
    def _same_length(self) -> ReferenceAttributes:
        if not self.columns or len(self.columns) != len(self.to):
            raise ValueError("references: `columns` and `to` must name as many columns each (at least one)")
        return self


class StreamAttributes(Resolvable, Model):
    name: str = Field(description="The stream's name: its asset `<source>/<name>` and table `<source>_<name>`.")
    resource: str = Field(description="What the connector reads (an object structure such as MXAPIASSET).")
    key: list[str] = Field(description="The attributes identifying a record.")
    change_field: str | None = Field(default=None, description="Incremental reads filter on this (None: read whole).")
    partition_field: str | None = Field(default=None, description="The attribute a site filters on (None: no sites).")
    children: list[str] = Field(default_factory=list, description="Child arrays, each landed in `<table>__<child>`.")
    depends_on: list[str] = Field(default_factory=list, description="Streams loaded before this one.")
    references: list[ReferenceAttributes] = Field(default_factory=list, description="Rows of other streams this "
                                                  "one names (checked, never filled with placeholders).")
    description: str = Field(default="", description="Shown on the asset in the UI.")
    api: StreamApiAttributes | None = Field(default=None, description="This stream's HTTP shape over the source's "
                                            "`api` (declarative sources only).")
    # Checked (and compiled) by sync.mapping, which names the key path of a mistake; never template-expanded, so a
    # regular expression's braces stay as written.
    unified: Annotated[dict[str, Any] | None, Resolver.passthrough(
        description="How each record also becomes a row of a unified table (cmms_asset, cmms_work_order, "
                    "cmms_maintenance_schedule): see the README's 'Unified model'."
    )] = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _STREAM_NAME.match(value):
            raise ValueError(f"stream name {value!r} must be lower-case letters, digits and _ (starting with a letter)")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a stream needs a key (the attributes identifying a record)")
        return value

    def spec(self) -> StreamSpec:
        return StreamSpec(
            name=self.name, resource=self.resource, key=tuple(self.key), change_field=self.change_field,
            partition_field=self.partition_field, children=tuple(ChildSpec(child) for child in self.children),
            depends_on=tuple(self.depends_on), description=self.description,
            references=tuple(Reference(tuple(r.columns), r.stream, tuple(r.to), r.child) for r in self.references),
            mapping=compile_mapping(self.unified, key=self.key) if self.unified is not None else None,
        )


class PagingAttributes(Resolvable, Model):
    page_size: int = Field(default=500, description="Records asked for per page.")
    max_page_size: int = Field(default=1000, description="Never more than this per page (the API's cap).")
    min_page_size: int = Field(default=10, description="Timeouts halve the page size down to this.")
    page_concurrency: int = Field(default=4, description="Pages in flight at once when the API gives page counts.")
    overlap_s: float = Field(default=300.0, description="Incremental reads start this long before the mark.")
    max_passes: int = Field(default=3, description="Reads of a site when records moved while paging.")

    _positive = _at_least(1, "page_size", "max_page_size", "min_page_size", "page_concurrency", "max_passes")
    _overlap = _at_least(0, "overlap_s")

    @model_validator(mode="after")
    def _sizes(self) -> PagingAttributes:
        if not self.min_page_size <= self.page_size <= self.max_page_size:
            raise ValueError(f"paging: page_size ({self.page_size}) must lie between min_page_size "
                             f"({self.min_page_size}) and max_page_size ({self.max_page_size})")
        return self


@scaffold_with(CollectionsScaffolder)
class CmmsCollections(Component, Resolvable, Model):
    """A connection to a CMMS whose API answers paged collections: one asset per stream, in load order."""

    source: str = Field(description="The source's name: prefixes its asset keys and tables, names its group and pool.")
    connector: str | None = Field(default=None, description=f"What kind of API: one of "
                                  f"{', '.join(sorted(CONNECTORS))}; or declare it under `api`.")
    api: ApiAttributes | None = Field(default=None, description="The API's HTTP shape (auth, requests, paging, "
                                      "answers) declared here instead of naming a `connector`.")
    base_url: str | None = Field(default=None, description="The API's base URL (fixed); else `base_url_env`.")
    base_url_env: str | None = Field(default=None, description="Environment variable holding the base URL.")
    secrets: Annotated[dict[str, str], Resolver.passthrough(
        description="Secret name -> the environment variable holding it (names, never values)."
    )] = Field(default_factory=dict)
    sites: list[str] = Field(default_factory=list, description="The sites to sync (fixed); else `sites_env`.")
    sites_env: str | None = Field(default=None, description="Environment variable with the sites, comma-separated.")
    pool: str | None = Field(default=None, description="Concurrency pool of the API calls (default `<source>_api`).")
    http: HttpAttributes = Field(default_factory=HttpAttributes)
    paging: PagingAttributes = Field(default_factory=PagingAttributes)
    schedule: ScheduleAttributes = Field(default_factory=lambda: ScheduleAttributes(cron="0 3 * * *"))
    retry_sensor: RetrySensorAttributes = Field(default_factory=RetrySensorAttributes)
    step_retry: StepRetryAttributes = Field(default_factory=StepRetryAttributes)
    streams: list[StreamAttributes] = Field(description="The collections to sync.")

    @field_validator("source")
    @classmethod
    def _source_name(cls, value: str) -> str:
        if not _SOURCE_NAME.match(value) or value in RESERVED_SOURCES:
            raise ValueError(f"source {value!r} must be lower-case letters, digits and _ (starting with a letter, at "
                             f"most 48), and not one of {', '.join(sorted(RESERVED_SOURCES))}")
        return value

    @field_validator("connector")
    @classmethod
    def _collection_connector(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value not in CONNECTORS:
            raise ValueError(f"unknown connector {value!r}; this release has: {', '.join(sorted(CONNECTORS))}")
        if getattr(get_connector(value), "kind", "entity") != "collection":
            raise ValueError(f"connector {value!r} answers one asset per call: declare it with "
                             "ic3_pipeline.components.CmmsConnection")
        return value

    @field_validator("base_url_env", "sites_env")
    @classmethod
    def _env_name(cls, value: str | None, info) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{info.field_name} must name an environment variable, not {value!r}")
        return value

    @model_validator(mode="after")
    def _connection(self) -> CmmsCollections:
        if not self.base_url and not self.base_url_env:
            raise ValueError("base_url_env: give base_url_env (the variable holding the API's URL) or base_url")
        if (self.connector is None) == (self.api is None):
            raise ValueError("connector: give `connector` (a connector of this release) or `api` (the API's HTTP "
                             "shape in YAML), one of them")
        if self.api is not None:
            self._declared_api()
        else:
            self._connector_secrets()
        self._streams()
        return self

    def _declared_api(self) -> None:
        if self.secrets:
            raise ValueError("secrets: a source with `api` names its secrets' variables in `api.auth` (`*_env`)")
        for problem in self.api.own_problems():
            raise ValueError(f"api.{problem}")
        for index, stream in enumerate(self.streams):
            for problem in stream.api.own_problems() if stream.api else []:
                raise ValueError(f"streams.{index}.api.{problem}")
            for problem in self.api.problems(stream.api, partitioned=stream.partition_field is not None,
                                             incremental=stream.change_field is not None):
                key, _, message = problem.partition(": ")
                raise ValueError(f"streams.{index}.api.{key}: stream {stream.name!r}: {message}")

    def _connector_secrets(self) -> None:
        for index, stream in enumerate(self.streams):
            if stream.api is not None:
                raise ValueError(f"streams.{index}.api: only a source declaring `api` (no `connector`) takes a "
                                 "stream's `api`")
        connector = get_connector(self.connector)
        for name, variable in self.secrets.items():
            if name not in connector.secrets:
                raise ValueError(f"secrets.{name}: connector {self.connector!r} takes no secret {name!r} (it takes: "
                                 f"{', '.join(connector.secrets)})")
            if not _ENV_NAME.match(variable):
                raise ValueError(f"secrets.{name}: must be the NAME of an environment variable, never the secret itself")
        alternatives = getattr(connector, "secret_alternatives", (tuple(connector.secrets),))
        if not any(all(name in self.secrets for name in group) for group in alternatives):
            wanted = " or ".join(" and ".join(group) for group in alternatives)
            raise ValueError(f"secrets: connector {self.connector!r} needs {wanted} (an environment variable name each)")

    def _streams(self) -> None:
        names = [stream.name for stream in self.streams]
        duplicates = sorted({name for name in names if names.count(name) > 1} | ({"sync_status"} & set(names)))
        if duplicates:
            raise ValueError(f"streams: names must be unique and not sync_status: {', '.join(duplicates)}")
        for index, stream in enumerate(self.streams):
            for name in stream.depends_on:
                if name not in names:
                    raise ValueError(f"streams.{index}.depends_on: stream {stream.name!r} depends on {name!r}, which "
                                     "is not a stream of this source")
            for reference in stream.references:
                if reference.stream not in names:
                    raise ValueError(f"streams.{index}.references: {reference.stream!r} is not a stream of this source")
                if reference.child and reference.child not in stream.children:
                    raise ValueError(f"streams.{index}.references: {reference.child!r} is not a child of {stream.name!r}")
            if stream.unified is not None:
                try:
                    compile_mapping(stream.unified, key=stream.key)
                except MappingConfigError as error:
                    where = ".".join(("streams", str(index), "unified", *error.path))
                    raise ValueError(f"{where}: {error.message}") from None
            if stream.partition_field and not (self.sites or self.sites_env):
                raise ValueError(f"streams.{index}.partition_field: per-site streams need `sites` or `sites_env`")
        try:
            load_order([stream.spec() for stream in self.streams])
        except ValueError as error:
            raise ValueError(f"streams: {error}") from None

    @classmethod
    def resolve_from_model(cls, context: ResolutionContext, model):
        try:
            return super().resolve_from_model(context, model)
        except ValidationError as error:
            raise _located(context, error) from None

    def spec(self) -> CollectionSourceSpec:
        return CollectionSourceSpec(
            source=self.source,
            connector_name=self.connector or "declarative",
            streams=tuple(stream.spec() for stream in self.streams),
            base_url=self.base_url,
            base_url_env=self.base_url_env,
            secrets=self.api.auth.secrets() if self.api else dict(self.secrets),
            api=self.api.shape({stream.name: stream.api for stream in self.streams}) if self.api else None,
            http=HttpSettings(**self.http.model_dump()),
            paging=CollectionSettings(**self.paging.model_dump()),
            pool=self.pool,
            sites=tuple(self.sites),
            sites_env=self.sites_env,
            schedule_cron=self.schedule.cron,
            schedule_timezone=self.schedule.timezone,
            retry=RetryPolicySettings(base_cooldown=timedelta(seconds=self.retry_sensor.base_cooldown_s),
                                      max_cooldown=timedelta(seconds=self.retry_sensor.max_cooldown_s),
                                      max_in_flight=self.retry_sensor.max_in_flight),
            step_retry=StepRetry(max_retries=self.step_retry.max_retries, delay_s=self.step_retry.delay_s),
        )

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        spec = self.spec()
        return collection_definitions(spec, api_resource(spec, secrets_as_env_vars=False))


def collection_definitions(spec: CollectionSourceSpec, resource: CmmsApiResource) -> Definitions:
    """Everything one collection source contributes (tests pass a resource with literal test secrets)."""
    assets, jobs, schedules, sensors = build_collection_definitions(spec)
    return Definitions(assets=assets, jobs=jobs, schedules=schedules, sensors=sensors,
                       resources={spec.resource_key: resource})
