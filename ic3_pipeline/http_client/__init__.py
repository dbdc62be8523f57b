"""Shared HTTP layer for every CMMS source: adaptive rate limiting, retries, counters (plain Python, no Dagster)."""

from ic3_pipeline.http_client.client import HttpPolicy, ResilientClient
from ic3_pipeline.http_client.rate_headers import RateLimitHint, parse_rate_limit_headers
from ic3_pipeline.http_client.rate_limiter import AdaptiveRateLimiter
from ic3_pipeline.http_client.retry import (
    HttpCallFailed,
    RetryableResponse,
    is_retryable_status,
    parse_retry_after,
)
from ic3_pipeline.http_client.stats import RequestStats

__all__ = [
    "AdaptiveRateLimiter",
    "HttpCallFailed",
    "HttpPolicy",
    "RequestStats",
    "ResilientClient",
    "RateLimitHint",
    "RetryableResponse",
    "is_retryable_status",
    "parse_rate_limit_headers",
    "parse_retry_after",
]
