"""Retry policy for HTTP calls: which outcomes are transient, how long to wait before the next attempt, when to stop."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from datetime import datetime, timezone

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential


def is_retryable_status(status: int) -> bool:
    """408 (request timeout), 429 (throttled) and 5xx may succeed on a later attempt; any other answer is final."""
    return status in (408, 429) or 500 <= status <= 599


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (RFC 9110: delay-seconds or an HTTP-date).

    Fractional seconds are accepted (some gateways send them). A date in the past means "now" (0.0).
    Missing, negative or unparseable values give None: the caller then falls back to its own backoff.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


class RetryableResponse(Exception):
    """Raised by an ``accept`` hook: this (2xx) body is transient garbage, retry the call like a 5xx.

    ``throttled``: the body says "too many requests" in the API's own words (a throttle code in a 200 answer), so it
    counts as a 429 for the limiter; ``retry_after_s`` is the wait the body advises (None: back off as usual).
    """

    def __init__(self, reason: str, *, throttled: bool = False, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.throttled = throttled
        self.retry_after_s = retry_after_s


class HttpCallFailed(Exception):
    """A call gave up. ``reason`` is for people; it never contains header values (the token is a secret)."""

    def __init__(self, reason: str, *, status: int | None = None, attempts: int = 1, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.attempts = attempts
        self.timed_out = timed_out  # the last attempt got no answer in time (a caller may ask for less, e.g. a smaller page)

    def __repr__(self) -> str:
        return f"HttpCallFailed({self.reason!r}, status={self.status}, attempts={self.attempts})"


class TransientFailure(Exception):
    """One attempt's retryable outcome: the currency of the retry loop, turned into HttpCallFailed on giving up.

    ``message`` must already be free of secrets.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.timed_out = timed_out

    def give_up_reason(self, attempts: int) -> str:
        """E.g. ``HTTP 503 after 6 attempts`` or ``timed out after 15.0 s (6 attempts)``."""
        if self.message.startswith("HTTP "):
            return f"{self.message} after {attempts} attempts"
        return f"{self.message} ({attempts} attempts)"


class wait_retry_after_or_backoff(wait_base):  # noqa: N801 - tenacity's naming for wait strategies
    """Exponential backoff with full jitter, or the server's Retry-After (capped) when the last answer carried one.

    With a Retry-After the wait is max(Retry-After, backoff): the server's word is a floor, never a shortcut.
    """

    def __init__(self, *, initial_s: float, max_s: float, max_retry_after_s: float) -> None:
        self._backoff = wait_random_exponential(multiplier=initial_s, max=max_s)
        self._max_retry_after_s = max_retry_after_s

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = float(self._backoff(retry_state))
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, TransientFailure) and failure.retry_after_s is not None:
            return max(min(failure.retry_after_s, self._max_retry_after_s), backoff)
        return backoff


def build_retrying(
    *,
    max_attempts: int,
    backoff_initial_s: float,
    backoff_max_s: float,
    max_retry_after_s: float,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """The retry loop for one call: retries TransientFailure only, re-raises the last one when attempts run out.

    Any other exception (a bug in an accept hook, cancellation) propagates at once.
    """
    return AsyncRetrying(
        stop=stop_after_attempt(max_attempts),
        wait=wait_retry_after_or_backoff(
            initial_s=backoff_initial_s, max_s=backoff_max_s, max_retry_after_s=max_retry_after_s
        ),
        retry=retry_if_exception_type(TransientFailure),
        before_sleep=before_sleep,
        reraise=True,
    )
