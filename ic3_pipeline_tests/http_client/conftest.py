"""A tiny real HTTP server on loopback whose answers each test scripts, and that records what it saw.

Not ic3_pipeline.sandbox: these tests need exact control of statuses, delays, dropped connections and rate limits.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

OK_BODY = b'{"status": true, "response_code": 200}'


@dataclass(frozen=True)
class Step:
    """One scripted answer."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = OK_BODY
    delay_s: float = 0.0  # sleep before answering (past the client's timeout = a hang)
    drop: bool = False  # send the headers, part of the body, then close the connection


@dataclass
class Hit:
    """One request as the server saw it."""

    at: float  # time.monotonic() when it arrived (same clock as the tests: one process)
    wall: float  # time.time() when it arrived
    authorization: str | None
    client_port: int  # tells connections apart (keep-alive)
    sent_headers: dict[str, str]  # headers of the answer


@dataclass
class TokenBucket:
    """Server-side limit: ``rate`` tokens/s, at most ``burst`` stored; checked on arrival like an API gateway."""

    rate: float
    burst: float
    retry_after: str = "seconds"  # "seconds" | "date" | "none"
    latency_s: tuple[float, float] = (0.0, 0.0)  # uniform processing time after the check
    tokens: float = 0.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        self.tokens, self.updated = self.burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class LoopbackServer:
    """Starlette app served by uvicorn in a background thread on 127.0.0.1, port chosen by the OS.

    ``/script/{key}``: answers the key's steps in order (the last one repeats).
    ``/limited/{key}``: 200 while the key's token bucket has tokens, else 429 with the configured Retry-After.
    """

    def __init__(self) -> None:
        self.hits: dict[str, list[Hit]] = defaultdict(list)
        self._scripts: dict[str, list[Step]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._keys = 0
        self.app = Starlette(
            routes=[
                Route("/script/{key}", self._script, methods=["GET", "POST"]),
                Route("/limited/{key}", self._limited, methods=["GET", "POST"]),
            ]
        )
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(
            self._asgi, interface="asgi3", log_config=None, log_level="critical", access_log=False, lifespan="off",
            backlog=512,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def script(self, *steps: Step | int) -> str:
        """Register a scripted endpoint; returns its path."""
        key = self._new_key()
        self._scripts[key] = [Step(status=s) if isinstance(s, int) else s for s in steps]
        return f"/script/{key}"

    def limited(self, rate: float, *, burst: float = 1.0, retry_after: str = "seconds",
                latency_s: tuple[float, float] = (0.0, 0.0)) -> str:
        """Register a token-bucket limited endpoint; returns its path."""
        key = self._new_key()
        self._buckets[key] = TokenBucket(rate, burst, retry_after, latency_s)
        return f"/limited/{key}"

    def seen(self, path: str) -> list[Hit]:
        return self.hits[path.rsplit("/", 1)[1]]

    def _new_key(self) -> str:
        self._keys += 1
        return f"k{self._keys}"

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Drops the connection mid-body for a ``drop`` step; everything else goes to Starlette."""
        if scope["type"] == "http" and scope["path"].startswith("/script/"):
            key = scope["path"].rsplit("/", 1)[1]
            steps = self._scripts.get(key, [Step(404)])
            step = steps[min(len(self.hits[key]), len(steps) - 1)]
            if step.drop:
                self._record(key, scope, {})
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
                await send({"type": "http.response.body", "body": b'{"status": tr', "more_body": True})
                raise ConnectionResetError("scripted connection drop")  # uvicorn closes the socket mid-body
        await self.app(scope, receive, send)

    def _record(self, key: str, scope: Scope, sent_headers: dict[str, str]) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        port = scope["client"][1] if scope.get("client") else 0
        self.hits[key].append(Hit(time.monotonic(), time.time(), headers.get("authorization"), port, sent_headers))

    async def _script(self, request: Request) -> Response:
        key = request.path_params["key"]
        steps = self._scripts.get(key, [Step(404)])
        step = steps[min(len(self.hits[key]), len(steps) - 1)]
        self._record(key, request.scope, step.headers)
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        return Response(step.body, status_code=step.status, headers=step.headers, media_type="application/json")

    async def _limited(self, request: Request) -> Response:
        key = request.path_params["key"]
        bucket = self._buckets[key]
        admitted = bucket.take()
        headers: dict[str, str] = {}
        if not admitted:
            wait = max(1, int((1.0 - bucket.tokens) / bucket.rate + 0.999))
            if bucket.retry_after == "seconds":
                headers["Retry-After"] = str(wait)
            elif bucket.retry_after == "date":
                headers["Retry-After"] = email.utils.formatdate(time.time() + wait + 1, usegmt=True)
        self._record(key, request.scope, headers)
        low, high = bucket.latency_s
        if high:
            await asyncio.sleep(random.uniform(low, high))
        if admitted:
            return Response(OK_BODY, media_type="application/json")
        return Response(b'{"message": "Too Many Requests"}', status_code=429, headers=headers,
                        media_type="application/json")


@pytest.fixture(scope="session")
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    srv.start()
    yield srv
    srv.stop()
