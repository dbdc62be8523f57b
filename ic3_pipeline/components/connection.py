"""``CmmsConnection``: one CMMS connection declared in ``defs/<source>/defs.yaml``, built into Dagster definitions.

A new source is a new folder with a ``defs.yaml`` naming its connector and connection; the component gives it its
assets (``<source>/…``, in group ``<source>``), checks, pool, jobs, sensors, schedule, status asset and API resource.
Secrets are environment-variable *names* here, never values: each becomes an ``EnvVar`` on the resource, read when a
run starts. A mistake in the file (unknown key, unknown connector, a secret the connector does not know, a value in
place of a variable name) fails when the definitions load, naming the file, line and key.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from dagster import Definitions
from dagster.components import Component, ComponentLoadContext, Model, Resolvable, ResolutionContext, Resolver
from dagster.components.resolved.errors import ResolutionException
from pydantic import Field, ValidationError, field_validator, model_validator

from ic3_pipeline.components.automation import build_new_sites_sensor, build_resync_schedule, build_retry_sensor
from ic3_pipeline.components.jobs import build_sync_jobs
from ic3_pipeline.components.resource import CmmsApiResource, api_resource
from ic3_pipeline.components.source import HttpSettings, Partitioning, SourceSpec, StepRetry
from ic3_pipeline.components.sync_step import build_sync_step
from ic3_pipeline.connectors import CONNECTORS, get_connector
from ic3_pipeline.status.assets import build_status_asset
from ic3_pipeline.sync.partitions import MAX_PARTITIONS_PER_RUN
from ic3_pipeline.sync.retry_plan import RetryPolicySettings

_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_SOURCES = {"warehouse", "register", "status"}


def _at_least(low: float, *names: str, strictly: bool = False):
    """A validator for numeric attributes. It runs on the resolved values: a ``{{ env(...) }}`` template in the YAML
    is a string until Dagster resolves it, so the range cannot be a constraint of the YAML schema itself."""

    def check(cls, value: float, info) -> float:
        if value < low or (strictly and value == low):
            raise ValueError(f"{info.field_name} must be {'more than' if strictly else 'at least'} {low:g}, not {value:g}")
        return value

    return field_validator(*names)(classmethod(check))


class HttpAttributes(Resolvable, Model):
    concurrency: int = Field(default=64, description="Requests in flight at most (must exceed rate x latency).")
    initial_rate_per_s: float = Field(default=10.0, description="Where the adaptive rate limiter starts.")
    max_rate_per_s: float = Field(default=1000.0, description="Hard ceiling on the request rate.")
    timeout_s: float = Field(default=15.0, description="Per-call timeout.")
    max_attempts: int = Field(default=6, description="Attempts per asset (408/429/5xx/network errors retried).")

    _counts = _at_least(1, "concurrency", "max_attempts")
    _rates = _at_least(0, "initial_rate_per_s", "max_rate_per_s", "timeout_s", strictly=True)


class PartitionAttributes(Resolvable, Model):
    kind: Literal["register_sites", "static", "none"] = Field(
        default="register_sites",
        description="register_sites: a partition per register site; static: only `sites`; none: unpartitioned.",
    )
    sites: list[str] = Field(default_factory=list, description="The register site names (kind: static).")

    @model_validator(mode="after")
    def _sites_match_kind(self) -> PartitionAttributes:
        if self.kind == "static" and not self.sites:
            raise ValueError("partitions.kind 'static' needs the list of `sites`")
        if self.kind != "static" and self.sites:
            raise ValueError(f"partitions.sites is only for kind 'static', not {self.kind!r}")
        return self


class ScheduleAttributes(Resolvable, Model):
    cron: str = Field(default="0 2 * * *", description="When the re-sync runs (only stale or failed assets are fetched).")
    timezone: str = Field(default="UTC")


class RetrySensorAttributes(Resolvable, Model):
    base_cooldown_s: float = Field(default=120.0, description="Wait after a first failure (0: at once); doubles after each.")
    max_cooldown_s: float = Field(default=7200.0, description="The longest wait between retries.")
    max_in_flight: int = Field(default=2, description="Retry runs in flight at most.")

    _cooldowns = _at_least(0, "base_cooldown_s", "max_cooldown_s")
    _in_flight = _at_least(1, "max_in_flight")


class StepRetryAttributes(Resolvable, Model):
    max_retries: int = Field(default=2, description="Retries of a step stopped by a systemic fault.")
    delay_s: float = Field(default=30.0, description="Before the first retry; doubles (with jitter).")

    _non_negative = _at_least(0, "max_retries", "delay_s")


class CmmsConnection(Component, Resolvable, Model):
    """A connection to one CMMS: assets, checks, jobs, sensors, schedule and API resource for one source."""

    source: str = Field(description="The source's name: prefixes its asset keys, names its group, pool and jobs.")
    connector: str = Field(description=f"What kind of CMMS: one of {', '.join(sorted(CONNECTORS))}.")
    base_url: str | None = Field(default=None, description="The API's base URL (fixed); else `base_url_env`.")
    base_url_env: str | None = Field(
        default=None, description="Environment variable holding the base URL, read when each run starts."
    )
    # Never template-expanded: `{{ env.X }}` here would put the secret's value where its variable's name belongs.
    secrets: Annotated[dict[str, str], Resolver.passthrough(
        description="Secret name -> the environment variable holding it (names, never values)."
    )] = Field(default_factory=dict)
    http: HttpAttributes = Field(default_factory=HttpAttributes)
    pool: str | None = Field(default=None, description="Concurrency pool of the API calls (default `<source>_api`).")
    partitions: PartitionAttributes = Field(default_factory=PartitionAttributes)
    sites_per_run: int = Field(default=MAX_PARTITIONS_PER_RUN, description="Sites batched per run.")
    stale_after_hours: float = Field(default=24.0, description="A synced asset is due again after this long.")
    schedule: ScheduleAttributes = Field(default_factory=ScheduleAttributes)
    retry_sensor: RetrySensorAttributes = Field(default_factory=RetrySensorAttributes)
    step_retry: StepRetryAttributes = Field(default_factory=StepRetryAttributes)

    _per_run = _at_least(1, "sites_per_run")
    _stale = _at_least(0, "stale_after_hours", strictly=True)

    @field_validator("source")
    @classmethod
    def _source_name(cls, value: str) -> str:
        if not _SOURCE_NAME.match(value) or value in RESERVED_SOURCES:
            raise ValueError(
                f"source {value!r} must be lower-case letters, digits and _ (starting with a letter, at most 48), "
                f"and not one of {', '.join(sorted(RESERVED_SOURCES))}"
            )
        return value

    @field_validator("connector")
    @classmethod
    def _known_connector(cls, value: str) -> str:
        if value not in CONNECTORS:
            raise ValueError(f"unknown connector {value!r}; this release has: {', '.join(sorted(CONNECTORS))}")
        if getattr(get_connector(value), "kind", "entity") != "entity":
            raise ValueError(f"connector {value!r} answers paged collections: declare it with "
                             "ic3_pipeline.components.CmmsCollections")
        return value

    @field_validator("base_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"base_url_env must name an environment variable, not {value!r}")
        return value

    @model_validator(mode="after")
    def _connection(self) -> CmmsConnection:
        if not self.base_url and not self.base_url_env:
            raise ValueError("base_url_env: give base_url_env (the variable holding the API's URL) or base_url")
        wanted = get_connector(self.connector).secrets
        for name, variable in self.secrets.items():
            if name not in wanted:
                known = ", ".join(wanted) or "none"
                raise ValueError(f"secrets.{name}: connector {self.connector!r} takes no secret {name!r} (it takes: {known})")
            if not _ENV_NAME.match(variable):
                raise ValueError(
                    f"secrets.{name}: must be the NAME of an environment variable (e.g. ACME_API_TOKEN), "
                    "never the secret itself"
                )
        missing = [name for name in wanted if name not in self.secrets]
        if missing:
            raise ValueError(
                f"secrets: connector {self.connector!r} needs {', '.join(missing)} (an environment variable name each)"
            )
        return self

    @classmethod
    def resolve_from_model(cls, context: ResolutionContext, model):
        """As Dagster does it, but a mistake our own validators find names its file, line and key too (Dagster
        locates only the errors of its own field resolution)."""
        try:
            return super().resolve_from_model(context, model)
        except ValidationError as error:
            raise _located(context, error) from None

    def spec(self) -> SourceSpec:
        return SourceSpec(
            source=self.source,
            connector_name=self.connector,
            base_url=self.base_url,
            base_url_env=self.base_url_env,
            secrets=dict(self.secrets),
            http=HttpSettings(**self.http.model_dump()),
            pool=self.pool,
            partitioning=Partitioning(self.partitions.kind, tuple(self.partitions.sites)),
            sites_per_run=self.sites_per_run,
            stale_after_hours=self.stale_after_hours,
            schedule_cron=self.schedule.cron,
            schedule_timezone=self.schedule.timezone,
            retry=RetryPolicySettings(
                base_cooldown=timedelta(seconds=self.retry_sensor.base_cooldown_s),
                max_cooldown=timedelta(seconds=self.retry_sensor.max_cooldown_s),
                max_in_flight=self.retry_sensor.max_in_flight,
            ),
            step_retry=StepRetry(max_retries=self.step_retry.max_retries, delay_s=self.step_retry.delay_s),
        )

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        spec = self.spec()
        return source_definitions(spec, api_resource(spec))


def _located(context: ResolutionContext, error: ValidationError) -> ResolutionException:
    """Each of ``error``'s problems with the place in the YAML it is about: the field's own (``loc``), or the key
    path a model-level message starts with (``secrets.api_key: …``), or the nearest key that exists."""
    parts = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        path = [part if isinstance(part, int) else str(part) for part in problem["loc"]]
        key, _, rest = message.partition(": ")
        if not path and rest and re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)*", key):
            path = [int(part) if part.isdigit() else part for part in key.split(".")]
        elif path and not message.startswith(str(path[0])):
            message = f"{'.'.join(map(str, path))}: {message}"
        tree = context.source_position_tree
        if tree is None:
            parts.append(message)
            continue
        source = tree.source_error(yaml_path=[*context.path, *path], inline_error_message=message, value_error=True)
        parts.append(f"{source.file_name}:{source.start_line_no} - {source.location}\n{source.snippet}\n{message}")
    return ResolutionException("\n".join(parts))


def source_definitions(spec: SourceSpec, resource: CmmsApiResource) -> Definitions:
    """Everything one source contributes to the code location (tests pass a resource with literal test secrets)."""
    step = build_sync_step(spec)
    status = build_status_asset(
        spec.status_key,
        group=spec.group,
        source=spec.source,
        scope=spec.partitioning.scope,
        after=spec.details_key,
        description=(
            f"How in sync {spec.source} is: assets in its sites, synced, needing retry (last attempt failed), not found "
            "in the CMMS, never synced, stale, last sync and its last batches. What `ic3 status "
            f"{spec.source}` prints."
        ),
    )
    return Definitions(
        assets=[step, status],
        jobs=build_sync_jobs(spec, step),
        sensors=[build_new_sites_sensor(spec), build_retry_sensor(spec)],
        schedules=[build_resync_schedule(spec)],
        resources={spec.resource_key: resource},
    )
