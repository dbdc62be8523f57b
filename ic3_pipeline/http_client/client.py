"""The resilient HTTP client every CMMS source shares: pacing, bounded concurrency, retries, counters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, overload

import httpx
from tenacity import RetryCallState

from ic3_pipeline.http_client.rate_headers import parse_rate_limit_headers
from ic3_pipeline.http_client.rate_limiter import AdaptiveRateLimiter
from ic3_pipeline.http_client.retry import (
    HttpCallFailed,
    RetryableResponse,
    TransientFailure,
    build_retrying,
    is_retryable_status,
    parse_retry_after,
)
from ic3_pipeline.http_client.stats import RequestStats

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Header values shorter than this are not scrubbed word by word from error texts (too likely to be ordinary words).
_MIN_SECRET_WORD = 8


@dataclass(frozen=True)
class HttpPolicy:
    """How patient one sync is with its API. Defaults follow the API's observed behaviour (15 s calls, 429s)."""

    timeout_s: float = 15.0  # per-call timeout (httpx.Timeout)
    max_attempts: int = 6  # total attempts per call, including the first
    backoff_initial_s: float = 0.5  # exponential backoff with full jitter between retries
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0  # cap on an honoured Retry-After
    concurrency: int = 64  # max requests in flight: must exceed rate x latency, or it caps the rate (Little's law)
    initial_rate: float = 10.0  # req/s the adaptive limiter starts at
    min_rate: float = 0.2
    max_rate: float = 1000.0
    known_limit: float | None = None  # req/s the API accepted in an earlier sync: start just under it


    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.concurrency < 1:
            raise ValueError("max_attempts and concurrency must be at least 1")
        if min(self.timeout_s, self.initial_rate, self.min_rate, self.max_rate) <= 0:
            raise ValueError("timeout and rates must be positive")


class ResilientClient:
    """One httpx.AsyncClient, limiter, semaphore, retry policy and RequestStats, shared by every call of a sync.

    Use as ``async with ResilientClient(url, headers=..., policy=...) as client: await client.send(...)``.
    Header values are secrets (the Authorization token): they go to httpx and nowhere else - not into reprs,
    exception texts or log lines.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        policy: HttpPolicy = HttpPolicy(),
        limiter: AdaptiveRateLimiter | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.base_url = base_url
        self._auth = auth  # per-request credentials (a signature, a session token): applied to every attempt
        self.policy = policy
        self.limiter = limiter or AdaptiveRateLimiter(
            policy.initial_rate, min_rate=policy.min_rate, max_rate=policy.max_rate, known_limit=policy.known_limit
        )
        self.stats = RequestStats()
        self._headers = httpx.Headers(dict(headers or {}))  # its repr masks Authorization
        self._semaphore = asyncio.Semaphore(policy.concurrency)
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> ResilientClient:
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self._headers,
            auth=self._auth,
            timeout=httpx.Timeout(self.policy.timeout_s),
            limits=httpx.Limits(
                max_connections=self.policy.concurrency, max_keepalive_connections=self.policy.concurrency
            ),
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @overload
    async def send(self, method: str, path: str, *, json: Any = None, accept: None = None) -> httpx.Response: ...

    @overload
    async def send(self, method: str, path: str, *, json: Any = None, accept: Callable[[httpx.Response], T]) -> T: ...

    async def send(
        self, method: str, path: str, *, json: Any = None, accept: Callable[[httpx.Response], T] | None = None
    ) -> T | httpx.Response:
        """One logical call with retries; see :meth:`send_counted`, which also says how many attempts it took."""
        result, _attempts = await self.send_counted(method, path, json=json, accept=accept)
        return result

    async def send_counted(
        self, method: str, path: str, *, json: Any = None, accept: Callable[[httpx.Response], T] | None = None,
        give_up_on_timeout: bool = False, content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[T | httpx.Response, int]:
        """One logical call with retries; returns ``accept(response)`` (or the response) of the final answer.

        Final answers: 2xx, 3xx and 4xx other than 408/429 (404 means "not found", 401 "bad token": retrying
        cannot help). Retried: 408, 429, 5xx, timeouts, transport errors and bodies ``accept`` rejects with
        RetryableResponse. Raises HttpCallFailed after ``policy.max_attempts``; anything else ``accept`` raises
        propagates at once. The concurrency slot is held only while a request is in flight, never while
        waiting between attempts. ``give_up_on_timeout``: a timeout ends the call at once (``timed_out`` set), for a
        caller that would rather ask for less (a smaller page) than ask again for the same. ``content`` and
        ``headers``: a body sent as it is and headers of this call only (a query in a POST body).
        """
        http = self._require_open()
        retrying = build_retrying(
            max_attempts=self.policy.max_attempts,
            backoff_initial_s=self.policy.backoff_initial_s,
            backoff_max_s=self.policy.backoff_max_s,
            max_retry_after_s=self.policy.max_retry_after_s,
            before_sleep=lambda state: self._log_retry(method, path, state),
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    try:
                        result = await self._attempt(http, method, path, json, accept, attempt=attempts,
                                                     content=content, headers=headers)
                    except TransientFailure as failure:
                        if give_up_on_timeout and failure.timed_out:
                            self.stats.gave_up += 1
                            raise HttpCallFailed(failure.give_up_reason(attempts), attempts=attempts,
                                                 timed_out=True) from None
                        raise
        except TransientFailure as failure:
            self.stats.gave_up += 1
            reason = failure.give_up_reason(attempts)
            logger.warning("%s %s: giving up: %s", method, path, reason)
            raise HttpCallFailed(reason, status=failure.status, attempts=attempts, timed_out=failure.timed_out) from None
        return result, attempts

    async def _attempt(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        json: Any,
        accept: Callable[[httpx.Response], T] | None,
        *,
        attempt: int,
        content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T | httpx.Response:
        if attempt > 1:
            self.stats.retries += 1
        async with self._semaphore:
            sent_at = await self.limiter.acquire()
            self.stats.requests += 1
            try:
                response = await http.request(method, path, json=json, content=content, headers=headers)
            except httpx.TimeoutException:
                self.stats.timeouts += 1
                raise TransientFailure(f"timed out after {self.policy.timeout_s} s", timed_out=True) from None
            except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
                # Our own request is malformed (a token with a newline, a base URL without http://): no attempt can
                # succeed. httpx's text may quote the offending header value - the token - so only its type is told.
                self.stats.transport_errors += 1
                self.stats.gave_up += 1
                reason = f"invalid request ({type(exc).__name__}): check the base URL and the header values"
                logger.warning("%s %s: giving up: %s", method, path, reason)
                raise HttpCallFailed(reason, attempts=attempt) from None
            except httpx.TransportError as exc:
                self.stats.transport_errors += 1
                raise TransientFailure(f"connection dropped: {self._scrub(exc)}") from None
        return self._judge(response, accept, sent_at)

    def _judge(
        self, response: httpx.Response, accept: Callable[[httpx.Response], T] | None, sent_at: float
    ) -> T | httpx.Response:
        """Classify one answer: raise TransientFailure to retry it, else return the call's result.

        Rate-limit headers, when the API sends them, tell the limiter the declared rate; a 429 without Retry-After
        but with an exhausted quota waits for its reset instead; a success that used up the quota pauses every
        sender until the reset, so the next request is not refused.
        """
        status = response.status_code
        hint = parse_rate_limit_headers(response.headers)
        if hint is not None and hint.limit_per_s:
            self.limiter.on_declared_limit(hint.limit_per_s)
        if is_retryable_status(status):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is None and status == 429 and hint is not None and hint.exhausted:
                retry_after = hint.reset_s
            if retry_after is not None:
                retry_after = min(retry_after, self.policy.max_retry_after_s)
            if status == 429:
                self.stats.throttled += 1
                self.limiter.on_throttled(retry_after, sent_at)
            elif status >= 500:
                self.stats.server_errors += 1
            raise TransientFailure(f"HTTP {status}", status=status, retry_after_s=retry_after)
        self.limiter.on_success(sent_at)
        if hint is not None and hint.exhausted and hint.reset_s:
            self.limiter.pause(min(hint.reset_s, self.policy.max_retry_after_s))
        if accept is None:
            return response
        try:
            return accept(response)
        except RetryableResponse as exc:
            if exc.throttled:  # "slow down" in a 200 body: a 429 in all but status
                retry_after = exc.retry_after_s
                if retry_after is not None:
                    retry_after = min(retry_after, self.policy.max_retry_after_s)
                self.stats.throttled += 1
                self.limiter.on_throttled(retry_after, sent_at)
                raise TransientFailure(f"throttled: {exc.reason}", status=status, retry_after_s=retry_after) from None
            self.stats.bad_bodies += 1
            raise TransientFailure(f"unusable response body: {exc.reason}", status=status) from None

    def _log_retry(self, method: str, path: str, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.debug(
            "%s %s: %s on attempt %d/%d, retrying in %.2f s",
            method, path, failure, state.attempt_number, self.policy.max_attempts, wait,
        )

    def _scrub(self, exc: BaseException) -> str:
        """``Type: message`` of an httpx error with every configured header value (and long word of one) masked."""
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        for value in self._headers.values():
            secrets = [value.strip(), *(word for word in value.split() if len(word) >= _MIN_SECRET_WORD)]
            for secret in sorted(filter(None, secrets), key=len, reverse=True):
                text = text.replace(secret, "***")
        return text

    def _require_open(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("ResilientClient is not open: use it as `async with ResilientClient(...) as client`")
        return self._http

    def __repr__(self) -> str:
        return f"ResilientClient({self.base_url!r}, policy={self.policy!r}, limiter={self.limiter!r})"
