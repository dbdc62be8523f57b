"""The Innomaint resource: where the API is, the token (from the environment only), and how hard to push it."""

import os

from dagster import ConfigurableResource
from pydantic import Field

from ic3_pipeline.http_client import HttpPolicy
from ic3_pipeline.innomaint.client import DEFAULT_BASE_URL, InnomaintClient

BASE_URL_ENV = "INNOMAINT_BASE_URL"
TOKEN_ENV = "INNOMAINT_API_TOKEN"


class InnomaintResource(ConfigurableResource):
    """Innomaint's asset-detail API. Definitions pass ``api_token`` as ``EnvVar("INNOMAINT_API_TOKEN")``, so the token
    is read when a run starts and never stored in run config, logs or metadata."""

    base_url: str | None = Field(
        default=None, description=f"API base URL; empty means INNOMAINT_BASE_URL at run time, else {DEFAULT_BASE_URL}."
    )
    api_token: str = Field(default="", description="Bearer token (INNOMAINT_API_TOKEN); never logged.")
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
        return self.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL

    def client(self, known_limit: float | None = None) -> InnomaintClient:
        """A client for one batch; ``known_limit`` (req/s, learned by an earlier batch) skips the limiter's slow start."""
        return InnomaintClient(self.resolved_base_url(), self.api_token, self.policy(known_limit))
