"""RateLimit-* (IETF draft, every form) and X-RateLimit-* response headers, as the limiter reads them."""

from __future__ import annotations

import httpx
import pytest

from ic3_pipeline.http_client import RateLimitHint, parse_rate_limit_headers


@pytest.mark.parametrize(("headers", "expected"), [
    ({"RateLimit-Policy": "100;w=5", "RateLimit-Limit": "100", "RateLimit-Remaining": "7", "RateLimit-Reset": "3"},
     RateLimitHint(20.0, 7.0, 3.0)),
    ({"RateLimit-Limit": "10, 10;w=1, 50;w=60"}, RateLimitHint(50 / 60, None, None)),  # the strictest pace
    ({"RateLimit": "limit=100, remaining=0, reset=2"}, RateLimitHint(None, 0.0, 2.0)),
    ({"RateLimit-Policy": '"burst";q=20;w=1, "daily";q=10000;w=86400', "RateLimit": '"burst";r=3;t=1'},
     RateLimitHint(20.0, 3.0, 1.0)),  # a daily quota is not a pace
    ({"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "30"},
     RateLimitHint(None, 12.0, 30.0)),  # a limit without a window declares no rate
])
def test_forms(headers: dict[str, str], expected: RateLimitHint) -> None:
    assert parse_rate_limit_headers(httpx.Headers(headers)) == expected


def test_a_reset_given_as_a_unix_time_becomes_a_delay() -> None:
    hint = parse_rate_limit_headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1800000030"},
                                    now=1_800_000_000.0)
    assert hint == RateLimitHint(None, 0.0, 30.0) and hint.exhausted


@pytest.mark.parametrize("headers", [
    {},
    {"Content-Type": "application/json"},
    {"RateLimit-Policy": "lots;w=0", "RateLimit-Remaining": "-3", "RateLimit-Reset": "soon"},
])
def test_absent_or_malformed_headers_say_nothing(headers: dict[str, str]) -> None:
    assert parse_rate_limit_headers(headers) is None
