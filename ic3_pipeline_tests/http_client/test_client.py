"""ResilientClient against a real HTTP server on loopback: retries, give-ups, Retry-After, secrecy, pacing."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from tenacity import RetryCallState

from ic3_pipeline.http_client import (
    AdaptiveRateLimiter,
    HttpCallFailed,
    HttpPolicy,
    RequestStats,
    ResilientClient,
    RetryableResponse,
)
from ic3_pipeline.http_client.retry import TransientFailure, wait_retry_after_or_backoff

from .conftest import LoopbackServer, Step

T = TypeVar("T")

SECRET = "s3cr3t-T0ken-a1b2c3d4e5"
AUTH = {"Authorization": f"Bearer {SECRET}"}
# Quick retries and a short timeout keep the suite fast; a high initial rate keeps the limiter out of the way.
FAST = HttpPolicy(timeout_s=0.5, max_attempts=3, backoff_initial_s=0.01, backoff_max_s=0.05, initial_rate=500.0)
TOLERANCE_S = 0.02


def call(server: LoopbackServer, use: Callable[[ResilientClient], Awaitable[T]], *,
         policy: HttpPolicy = FAST, headers: dict[str, str] | None = None,
         base_url: str | None = None) -> tuple[T, ResilientClient]:
    """Open a client on the loopback server, run ``use`` with it, return its result and the (closed) client."""

    async def run() -> tuple[T, ResilientClient]:
        async with ResilientClient(base_url or server.url, headers=headers or AUTH, policy=policy) as client:
            return await use(client), client

    return asyncio.run(run())


def fail(server: LoopbackServer, path: str, **kwargs: Any) -> tuple[HttpCallFailed, ResilientClient]:
    """Run one call that must give up; return the HttpCallFailed and the client."""
    holder: dict[str, ResilientClient] = {}

    async def use(client: ResilientClient) -> HttpCallFailed:
        holder["client"] = client
        with pytest.raises(HttpCallFailed) as caught:
            await client.send("POST", path, json={"serialnumber": "X"})
        return caught.value

    failed, client = call(server, use, **kwargs)
    return failed, client


def ok_body(response: httpx.Response) -> dict[str, Any]:
    """An accept hook in the style of the Innomaint client: a 200 whose body is not JSON is transient garbage."""
    try:
        return response.json()
    except json.JSONDecodeError as exc:
        raise RetryableResponse(f"body is not JSON ({exc.msg})") from exc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- final answers -------------------------------------------------------------------------------------------


def test_success_returns_the_response_and_reuses_connections(server: LoopbackServer) -> None:
    path = server.script(200)
    policy = HttpPolicy(**{**FAST.__dict__, "concurrency": 2})

    async def use(client: ResilientClient) -> list[httpx.Response]:
        return await asyncio.gather(*(client.send("POST", path, json={"serialnumber": str(i)}) for i in range(20)))

    responses, client = call(server, use, policy=policy)
    assert all(r.status_code == 200 for r in responses)
    hits = server.seen(path)
    assert len(hits) == 20
    assert len({hit.client_port for hit in hits}) <= 2  # keep-alive: one connection per concurrent slot
    assert hits[0].authorization == f"Bearer {SECRET}"
    assert client.stats == RequestStats(requests=20)


def test_accept_hook_result_is_returned(server: LoopbackServer) -> None:
    path = server.script(200)
    body, _ = call(server, lambda c: c.send("POST", path, json={"serialnumber": "A"}, accept=ok_body))
    assert body == {"status": True, "response_code": 200}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_no_retry_on_final_4xx(server: LoopbackServer, status: int) -> None:
    path = server.script(status)
    response, client = call(server, lambda c: c.send("POST", path))
    assert response.status_code == status
    assert len(server.seen(path)) == 1
    assert client.stats.as_dict() == {**RequestStats().as_dict(), "requests": 1}


def test_redirects_are_returned_not_followed(server: LoopbackServer) -> None:
    path = server.script(Step(302, headers={"Location": "/elsewhere"}))
    response, _ = call(server, lambda c: c.send("GET", path))
    assert response.status_code == 302
    assert len(server.seen(path)) == 1


# --- retries ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "counter"),
    [
        ((503, 503, 200), "server_errors"),
        ((500, 502, 200), "server_errors"),
        ((408, 200), None),
        ((Step(429), 200), "throttled"),
        ((Step(delay_s=2.0), 200), "timeouts"),
        ((Step(drop=True), Step(drop=True), 200), "transport_errors"),
    ],
    ids=["503-503-200", "500-502-200", "408-200", "429-200", "timeout-200", "drop-drop-200"],
)
def test_transient_failures_are_retried_until_success(
    server: LoopbackServer, steps: tuple[Step | int, ...], counter: str | None
) -> None:
    path = server.script(*steps)
    response, client = call(server, lambda c: c.send("POST", path, json={"serialnumber": "A"}))
    assert response.status_code == 200
    assert len(server.seen(path)) == len(steps)
    stats = client.stats
    assert (stats.requests, stats.retries, stats.gave_up) == (len(steps), len(steps) - 1, 0)
    if counter:
        assert getattr(stats, counter) == len(steps) - 1


def test_send_counted_tells_how_many_attempts_it_took(server: LoopbackServer) -> None:
    path = server.script(503, Step(429), 200)
    (response, attempts), _ = call(server, lambda c: c.send_counted("POST", path))
    assert (response.status_code, attempts) == (200, 3)


def test_bad_body_is_retried_like_a_5xx(server: LoopbackServer) -> None:
    path = server.script(Step(body=b'{"status": tr'), 200)
    body, client = call(server, lambda c: c.send("POST", path, accept=ok_body))
    assert body["status"] is True
    assert (client.stats.bad_bodies, client.stats.retries, len(server.seen(path))) == (1, 1, 2)


def test_other_exceptions_from_accept_propagate_at_once(server: LoopbackServer) -> None:
    path = server.script(200)

    def broken(response: httpx.Response) -> None:
        raise KeyError("response")

    async def use(client: ResilientClient) -> RequestStats:
        with pytest.raises(KeyError):
            await client.send("POST", path, accept=broken)
        return client.stats

    stats, _ = call(server, use)
    assert len(server.seen(path)) == 1
    assert (stats.retries, stats.gave_up) == (0, 0)


def test_a_429_slows_the_shared_limiter(server: LoopbackServer) -> None:
    path = server.script(Step(429, headers={"Retry-After": "0"}), 200)
    _, client = call(server, lambda c: c.send("POST", path))
    # (one refusal after a single send measures nothing: the rate is cut, slow start goes on without a ceiling)
    assert client.limiter.rate < FAST.initial_rate


def test_the_concurrency_slot_is_free_while_a_call_waits_to_retry(server: LoopbackServer) -> None:
    slow = server.script(Step(503, headers={"Retry-After": "1"}), 200)
    quick = server.script(200)
    policy = HttpPolicy(**{**FAST.__dict__, "concurrency": 1})

    async def use(client: ResilientClient) -> None:
        first = asyncio.create_task(client.send("POST", slow))
        await asyncio.sleep(0.2)  # the first call is now sleeping before its retry
        await client.send("POST", quick)
        await first

    call(server, use, policy=policy)
    assert server.seen(slow)[0].at < server.seen(quick)[0].at < server.seen(slow)[1].at


# --- Retry-After -----------------------------------------------------------------------------------------------


def test_retry_after_seconds_is_honoured(server: LoopbackServer) -> None:
    path = server.script(Step(429, headers={"Retry-After": "1"}), 200)
    response, _ = call(server, lambda c: c.send("POST", path))
    assert response.status_code == 200
    first, retry = server.seen(path)
    assert retry.at - first.at >= 1.0 - TOLERANCE_S


def test_retry_after_http_date_is_honoured(server: LoopbackServer) -> None:
    not_before = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1-2 s from now
    path = server.script(Step(429, headers={"Retry-After": not_before}), 200)
    response, _ = call(server, lambda c: c.send("POST", path))
    assert response.status_code == 200
    retry = server.seen(path)[1]
    assert retry.wall >= email.utils.parsedate_to_datetime(not_before).timestamp() - TOLERANCE_S


def test_retry_after_pauses_the_other_senders_too(server: LoopbackServer) -> None:
    throttled = server.script(Step(429, headers={"Retry-After": "1"}), 200)
    other = server.script(200)

    async def use_concurrently(client: ResilientClient) -> None:
        first = asyncio.create_task(client.send("POST", throttled))
        while not server.seen(throttled):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the 429 has been answered: the pause is on
        await client.send("POST", other)
        await first

    call(server, use_concurrently)
    assert server.seen(other)[0].at >= server.seen(throttled)[0].at + 1.0 - TOLERANCE_S


# --- RateLimit-* headers ------------------------------------------------------------------------------------------


def test_a_declared_policy_sets_the_pace(server: LoopbackServer) -> None:
    path = server.script(Step(200, headers={"RateLimit-Policy": "100;w=5", "RateLimit-Remaining": "42"}))
    _, client = call(server, lambda c: c.send("POST", path))
    assert client.limiter.learned_limit == 20.0
    assert client.limiter.rate == pytest.approx(AdaptiveRateLimiter.DECLARED_SHARE * 20.0)


def test_a_429_without_retry_after_waits_for_the_quota_reset(server: LoopbackServer) -> None:
    path = server.script(Step(429, headers={"RateLimit": "limit=10, remaining=0, reset=1"}), 200)
    response, _ = call(server, lambda c: c.send("POST", path))
    assert response.status_code == 200
    first, retry = server.seen(path)
    assert retry.at - first.at >= 1.0 - TOLERANCE_S


def test_an_exhausted_quota_pauses_every_sender_until_its_reset(server: LoopbackServer) -> None:
    """A success that says nothing remains for 1 s: the next request waits rather than be refused."""
    last = server.script(Step(200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"}))
    following = server.script(200)

    async def use(client: ResilientClient) -> None:
        await client.send("POST", last)
        await client.send("POST", following)

    call(server, use)
    assert server.seen(following)[0].at >= server.seen(last)[0].at + 1.0 - TOLERANCE_S


def test_an_absurd_retry_after_is_capped(server: LoopbackServer) -> None:
    path = server.script(Step(429, headers={"Retry-After": "3600"}), 200)
    policy = HttpPolicy(**{**FAST.__dict__, "max_retry_after_s": 0.2})
    response, _ = call(server, lambda c: c.send("POST", path), policy=policy)  # pytest's timeout guards an hour
    assert response.status_code == 200


def test_wait_is_the_capped_retry_after_or_the_backoff_if_longer() -> None:
    wait = wait_retry_after_or_backoff(initial_s=0.5, max_s=30.0, max_retry_after_s=5.0)

    def after(failure: BaseException, attempt: int) -> float:
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        state.set_exception((type(failure), failure, None))
        return wait(state)

    assert after(TransientFailure("HTTP 429", status=429, retry_after_s=3600.0), 1) == 5.0
    assert after(TransientFailure("HTTP 429", status=429, retry_after_s=2.0), 1) == 2.0
    assert 2.0 <= after(TransientFailure("HTTP 429", status=429, retry_after_s=2.0), 6) <= 16.0
    assert 0.0 <= after(TransientFailure("HTTP 503", status=503), 1) <= 0.5  # full jitter: uniform(0, 0.5)
    assert 0.0 <= after(TransientFailure("HTTP 503", status=503), 4) <= 4.0


# --- giving up -------------------------------------------------------------------------------------------------


def test_give_up_after_max_attempts_on_5xx(server: LoopbackServer) -> None:
    path = server.script(503)
    failed, client = fail(server, path)
    assert (failed.attempts, failed.status, failed.reason) == (3, 503, "HTTP 503 after 3 attempts")
    assert len(server.seen(path)) == 3
    stats = client.stats
    assert (stats.requests, stats.retries, stats.server_errors, stats.gave_up) == (3, 2, 3, 1)


def test_give_up_on_persistent_429(server: LoopbackServer) -> None:
    path = server.script(Step(429, headers={"Retry-After": "0"}))
    failed, client = fail(server, path)
    assert (failed.attempts, failed.status, failed.reason) == (3, 429, "HTTP 429 after 3 attempts")
    assert client.stats.throttled == 3


def test_give_up_on_timeouts(server: LoopbackServer) -> None:
    path = server.script(Step(delay_s=2.0))
    policy = HttpPolicy(**{**FAST.__dict__, "timeout_s": 0.2, "max_attempts": 2})
    failed, client = fail(server, path, policy=policy)
    assert (failed.attempts, failed.status, failed.reason) == (2, None, "timed out after 0.2 s (2 attempts)")
    assert client.stats.timeouts == 2


def test_give_up_on_dropped_connections(server: LoopbackServer) -> None:
    path = server.script(Step(drop=True))
    failed, client = fail(server, path)
    assert failed.reason.startswith("connection dropped: ")
    assert failed.reason.endswith("(3 attempts)")
    assert (failed.attempts, failed.status, client.stats.transport_errors) == (3, None, 3)


def test_give_up_on_refused_connections(server: LoopbackServer) -> None:
    failed, client = fail(server, "/anything", base_url=f"http://127.0.0.1:{free_port()}")
    assert failed.reason.startswith("connection dropped: ConnectError")
    assert (failed.attempts, client.stats.transport_errors, client.stats.gave_up) == (3, 3, 1)


def test_give_up_on_bad_bodies(server: LoopbackServer) -> None:
    path = server.script(Step(body=b"<html>maintenance</html>"))

    async def use(client: ResilientClient) -> HttpCallFailed:
        with pytest.raises(HttpCallFailed) as caught:
            await client.send("POST", path, accept=ok_body)
        return caught.value

    failed, client = call(server, use)
    assert failed.reason.startswith("unusable response body: body is not JSON")
    assert (failed.attempts, failed.status, client.stats.bad_bodies) == (3, 200, 3)


def test_a_malformed_request_fails_at_once(server: LoopbackServer) -> None:
    path = server.script(200)
    failed, _ = fail(server, path, headers={"Authorization": f"Bearer {SECRET}\n"})  # a token read with its newline
    assert failed.reason.startswith("invalid request (LocalProtocolError)")
    assert failed.attempts == 1
    assert SECRET not in str(failed)
    assert not server.seen(path)


def test_send_outside_the_context_manager_is_an_error() -> None:
    client = ResilientClient("http://127.0.0.1:1")
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(client.send("GET", "/"))


def test_policy_validates() -> None:
    with pytest.raises(ValueError):
        HttpPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        HttpPolicy(concurrency=0)
    with pytest.raises(ValueError):
        HttpPolicy(timeout_s=0)


# --- secrecy and logging ---------------------------------------------------------------------------------------


def test_the_token_never_appears_in_errors_or_logs(server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    failures: list[HttpCallFailed] = []
    paths = [server.script(503), server.script(Step(delay_s=2.0)), server.script(Step(drop=True)),
             server.script(Step(429, headers={"Retry-After": "0"}))]
    policy = HttpPolicy(**{**FAST.__dict__, "timeout_s": 0.2, "max_attempts": 2})
    for path in paths:
        failed, client = fail(server, path, policy=policy)
        failures.append(failed)
    failures.append(fail(server, "/x", base_url=f"http://127.0.0.1:{free_port()}", policy=policy)[0])

    assert server.seen(paths[0])[0].authorization == f"Bearer {SECRET}"  # the token was really sent
    texts = [caplog.text, repr(client), repr(client.limiter), repr(client.policy)]
    texts += [text for failed in failures for text in (str(failed), repr(failed), failed.reason)]
    for text in texts:
        assert SECRET not in text
    ours = [record for record in caplog.records if record.name == "ic3_pipeline.http_client.client"]
    retry_logs = [record for record in ours if record.levelno == logging.DEBUG]
    give_ups = [record for record in ours if record.levelno == logging.WARNING]
    assert len(retry_logs) == 5  # one retry per call
    assert len(give_ups) == 5 and "giving up: HTTP 503 after 2 attempts" in give_ups[0].getMessage()


# --- the limiter against a rate-limited server ---------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["seconds", "date", "none"])
def test_rate_limited_endpoint_is_served_in_full(server: LoopbackServer, retry_after: str) -> None:
    path = server.limited(10.0, burst=2.0, retry_after=retry_after)
    policy = HttpPolicy(**{**FAST.__dict__, "initial_rate": 20.0, "max_attempts": 8, "backoff_initial_s": 0.2})

    async def use(client: ResilientClient) -> list[httpx.Response]:
        return await asyncio.gather(*(client.send("POST", path) for _ in range(20)))

    responses, client = call(server, use, policy=policy)
    assert [r.status_code for r in responses] == [200] * 20
    assert client.stats.throttled >= 1
    assert client.limiter.rate < 20.0


def test_integration_300_calls_against_a_20_per_second_limit(server: LoopbackServer) -> None:
    """Start far above the limit (50/s vs 20/s) with 16 in flight: everything succeeds with few 429s."""
    path = server.limited(20.0, burst=5.0, retry_after="seconds")
    policy = HttpPolicy(concurrency=16, initial_rate=50.0)

    async def use(client: ResilientClient) -> tuple[list[httpx.Response], float]:
        start = time.monotonic()
        calls = (client.send("POST", path, json={"serialnumber": str(i)}) for i in range(300))
        responses = await asyncio.gather(*calls)
        return responses, time.monotonic() - start

    (responses, elapsed), client = call(server, use, policy=policy)
    stats = client.stats
    share = stats.throttled / stats.requests
    print(
        f"\n300 calls vs 20 req/s: {elapsed:.1f} s, goodput {300 / elapsed:.1f} req/s, "
        f"{stats.requests} requests, {stats.throttled} answered 429 ({share:.1%}), "
        f"final rate {client.limiter.rate:.1f}/s, ceiling {client.limiter.ceiling:.1f}/s"
    )
    assert all(r.status_code == 200 for r in responses)
    assert stats.gave_up == 0
    assert len([hit for hit in server.seen(path) if not hit.sent_headers]) == 300
    assert share < 0.10
