"""The resource of one source's API: where it is, its secrets (from the environment only), and how hard to push it.

Definitions pass each secret as ``EnvVar``, so it is read when a run starts and never stored in run config, logs or
metadata. The base URL (not a secret) is read from its environment variable when each run starts too, so ``ic3``
and the demo can point a running code location at a new server.
"""

from __future__ import annotations

import os

from dataclasses import asdict

import httpx
from dagster import ConfigurableResource, EnvVar, Failure
from pydantic import Field

from ic3_pipeline.components.source import base_url_from
from ic3_pipeline.connectors import get_connector
from ic3_pipeline.http_client import HttpPolicy, ResilientClient
from ic3_pipeline.sync.connector import Credentials, EntityClient

# The secret names a connector may ask for; each is a field of the resource, so it can be an EnvVar.
SECRET_FIELDS = ("token", "api_key", "user", "password", "app_key", "access_key", "secret_key", "client_id",
                 "client_secret")


class MissingBaseUrl(Failure):
    """No base URL: neither configured nor in its environment variable."""


class CmmsApiResource(ConfigurableResource):
    """One source's API. ``secret_env`` names the environment variable behind each secret (for messages)."""

    source: str = Field(description="The source's name (its defs/ folder).")
    connector: str = Field(description="The connector: what kind of CMMS this is.")
    base_url: str | None = Field(default=None, description="The API's base URL; empty means `base_url_env`.")
    base_url_env: str | None = Field(default=None, description="Environment variable holding the base URL.")
    secret_env: dict[str, str] = Field(default_factory=dict, description="Secret name -> environment variable name.")
    token: str = Field(default="", description="Bearer token (secret; an EnvVar).")
    api_key: str = Field(default="", description="API key (secret; an EnvVar).")
    user: str = Field(default="", description="User name (an EnvVar).")
    password: str = Field(default="", description="Password (secret; an EnvVar).")
    app_key: str = Field(default="", description="Application key (an EnvVar).")
    access_key: str = Field(default="", description="Access key (secret; an EnvVar).")
    secret_key: str = Field(default="", description="Signing key (secret; an EnvVar).")
    client_id: str = Field(default="", description="OAuth2 client id (an EnvVar).")
    client_secret: str = Field(default="", description="OAuth2 client secret (secret; an EnvVar).")
    concurrency: int = Field(
        default=64,
        description="Requests in flight at most. The limiter sets the pace; this only has to exceed the API's rate x "
        "its answer time with headroom (64 covers 100 req/s at 400 ms), or it caps the rate below the API's limit.",
    )
    initial_rate_per_s: float = Field(
        default=10.0, description="Where the adaptive limiter starts; it rises until the API answers 429, then settles."
    )
    max_rate_per_s: float = Field(default=1000.0, description="Hard ceiling on the request rate.")
    timeout_s: float = Field(default=15.0, description="Per-call timeout.")
    max_attempts: int = Field(default=6, description="Attempts per asset (408/429/5xx/network errors are retried).")

    def policy(self, known_limit: float | None = None) -> HttpPolicy:
        return HttpPolicy(
            known_limit=known_limit,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            concurrency=self.concurrency,
            initial_rate=self.initial_rate_per_s,
            max_rate=self.max_rate_per_s,
        )

    def resolved_base_url(self) -> str:
        """The configured URL, else the one in ``base_url_env``; a clear failure when there is none."""
        url = base_url_from(self.base_url, self.base_url_env)
        if not url:
            where = f"set {self.base_url_env} in the environment" if self.base_url_env else "set base_url"
            raise MissingBaseUrl(
                description=f"No base URL for source {self.source!r}: {where} (defs/{self.source}/defs.yaml).",
                allow_retries=False,
            )
        return url

    def credentials(self) -> Credentials:
        """The secrets: each field's value (an ``EnvVar``), else - for a source whose secrets are alternatives (an
        API key, or a user and password) - its variable as the environment holds it when the run starts."""
        values = {name: getattr(self, name) for name in SECRET_FIELDS if getattr(self, name)}
        for name, variable in self.secret_env.items():
            if name not in values and os.environ.get(variable):
                values[name] = os.environ[variable]
        return Credentials(values=values, env_names=dict(self.secret_env))

    def resilient_client(self, headers: dict[str, str], known_limit: float | None = None,
                         auth: httpx.Auth | None = None) -> ResilientClient:
        """The shared HTTP client on this API (a collection source pages through it), with the connector's headers
        and its per-request credentials (``auth``: a signature, a session token), if any."""
        return ResilientClient(self.resolved_base_url(), headers=headers, policy=self.policy(known_limit), auth=auth)

    def client(self, known_limit: float | None = None) -> EntityClient:
        """A client for one batch; ``known_limit`` (req/s, learned by an earlier batch) skips the limiter's slow start."""
        connector = get_connector(self.connector)
        return connector.open_client(self.resolved_base_url(), self.credentials(), self.policy(known_limit))


def api_resource(spec, *, secrets_as_env_vars: bool = True) -> CmmsApiResource:
    """A source's API resource (``spec``: a ``SourceSpec`` or ``CollectionSourceSpec``).

    ``secrets_as_env_vars``: every secret an ``EnvVar`` of the variable the YAML names (each required). Without it
    (a source whose secrets are alternatives: an API key, or a user and password, any of them unset) the resource
    holds only the variables' names and reads them from the environment when a run starts (:meth:`credentials`).
    Either way no value is in the definitions or the run config.
    """
    unknown = set(spec.secrets) - set(SECRET_FIELDS)
    if unknown:
        raise ValueError(f"source {spec.source!r}: no resource field for secret(s) {', '.join(sorted(unknown))}")
    secrets = {name: EnvVar(variable) for name, variable in spec.secrets.items()} if secrets_as_env_vars else {}
    return CmmsApiResource(
        source=spec.source,
        connector=spec.connector_name,
        base_url=spec.base_url,
        base_url_env=spec.base_url_env,
        secret_env=dict(spec.secrets),
        **secrets,
        **asdict(spec.http),
    )
