"""What an API says about its own request-rate limit in ``RateLimit-*`` or ``X-RateLimit-*`` response headers.

An API that publishes its policy spares the limiter the guessing: a declared quota per window is its sustained rate,
and "nothing remaining until T" is a pause the server asked for without a 429. Understood forms:

- ``RateLimit-Policy: 100;w=5`` and ``RateLimit-Limit`` / ``RateLimit-Remaining`` / ``RateLimit-Reset`` (delta
  seconds), as in draft-ietf-httpapi-ratelimit-headers up to -07; a policy inside ``RateLimit-Limit`` as in the
  early drafts (``RateLimit-Limit: 100, 100;w=5``);
- the combined ``RateLimit: limit=100, remaining=50, reset=5`` of drafts -06/-07;
- the structured fields of draft -08 on: ``RateLimit-Policy: "default";q=100;w=5`` and
  ``RateLimit: "default";r=50;t=5``;
- ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (delta seconds, or a Unix time as GitHub
  sends it); a limit without a window declares no rate, so only Remaining and Reset are used from these.

Malformed values are ignored (the limiter then learns from 429s as usual). Of several policies the strictest with a
window of at most an hour sets the pace: a daily quota bounds how much one may send, not how fast (a sync of 3,000
requests paced to spread 10,000 a day over 24 hours would take 7 hours for no reason).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

PACE_WINDOW_MAX_S = 3600.0  # policies with longer windows are quotas, not a pace
# A Reset value larger than this is a Unix time, not a delay (no quota window lasts 30 years).
_EPOCH_THRESHOLD = 1_000_000_000
_PARAM = re.compile(r"^\s*([A-Za-z][\w.-]*)\s*=\s*\"?([^\";]*)\"?\s*$")


@dataclass(frozen=True)
class RateLimitHint:
    """What one answer's headers said: the declared sustained rate (req/s), requests left, seconds until more."""

    limit_per_s: float | None = None
    remaining: float | None = None
    reset_s: float | None = None

    @property
    def exhausted(self) -> bool:
        """Nothing left until ``reset_s``: the next request would be refused."""
        return self.remaining is not None and self.remaining < 1 and self.reset_s is not None


def parse_rate_limit_headers(headers: Mapping[str, str], *, now: float | None = None) -> RateLimitHint | None:
    """The hint in ``headers`` (case-insensitive mapping, e.g. httpx.Headers), or None when they carry none."""
    lowered = {key.lower(): value for key, value in headers.items()}
    policies = [*_policies(lowered.get("ratelimit-policy")), *_policies(lowered.get("ratelimit-limit"))]
    limit = min(policies) if policies else None
    remaining, reset = _combined(lowered.get("ratelimit"))
    if remaining is None:
        remaining = _number(lowered.get("ratelimit-remaining"))
    if reset is None:
        reset = _number(lowered.get("ratelimit-reset"))
    if remaining is None and reset is None:
        remaining = _number(lowered.get("x-ratelimit-remaining"))
        reset = _number(lowered.get("x-ratelimit-reset"))
    if reset is not None and reset > _EPOCH_THRESHOLD:
        reset = max(0.0, reset - (time.time() if now is None else now))
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitHint(limit, remaining, reset)


def _policies(value: str | None) -> list[float]:
    """Rates (quota / window) of every policy item in a header value: ``100;w=5`` or ``"name";q=100;w=5``."""
    rates = []
    for item in _items(value):
        parts = item.split(";")
        params = _params(parts[1:])
        quota = _number(params.get("q")) if "q" in params else _number(parts[0])
        window = _number(params.get("w"))
        if quota is not None and window and window <= PACE_WINDOW_MAX_S:
            rates.append(quota / window)
    return rates


def _combined(value: str | None) -> tuple[float | None, float | None]:
    """(remaining, reset) from ``RateLimit``: ``limit=100, remaining=50, reset=5`` (one dictionary) or
    ``"name";r=50;t=5`` items (the one with the fewest requests remaining counts)."""
    remaining = reset = None
    dictionary: dict[str, str] = {}
    for item in _items(value):
        params = _params(item.split(";"))
        if "r" not in params and "t" not in params:
            dictionary |= params
            continue
        item_remaining, item_reset = _number(params.get("r")), _number(params.get("t"))
        if remaining is None or (item_remaining is not None and item_remaining < remaining):
            remaining, reset = item_remaining, item_reset
    if remaining is None and reset is None:
        remaining, reset = _number(dictionary.get("remaining")), _number(dictionary.get("reset"))
    return remaining, reset


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()] if value else []


def _params(parts: list[str]) -> dict[str, str]:
    params = {}
    for part in parts:
        match = _PARAM.match(part)
        if match:
            params[match.group(1).lower()] = match.group(2).strip()
    return params


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().strip('"'))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
