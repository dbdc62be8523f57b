"""What every simulator is made of: a Starlette app served by uvicorn in a daemon thread over a real loopback
socket (so clients meet real timeouts, resets and concurrency), pauses a stopping server cuts short, and a response
that drops the connection half-way on purpose."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

POLL_S = 0.05


class SimulatedReset(Exception):
    """Raised after a partial response: uvicorn then closes the transport mid-body (see ``DroppedResponse``)."""


class _QuietSimulatedResets(logging.Filter):
    """Keeps uvicorn from logging a traceback for every reset we inject on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedReset))


_RESET_FILTER = _QuietSimulatedResets()


class DroppedResponse(Response):
    """Headers announcing the full Content-Length and half the body, then the connection drops.

    uvicorn closes the transport when the app raises after the response has started; the client reads
    an incomplete body followed by EOF and its HTTP library reports a protocol/connection error.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})
        raise SimulatedReset("connection dropped mid-response (injected fault)")


def effective_burst(rate_limit: float | None, burst: float | None) -> float:
    """A token bucket's capacity: ``burst`` when given, else a tenth of a second's worth of requests (at least 1),
    so only a short run of requests can arrive back to back before a rate limit bites, as at real gateways."""
    if burst is not None:
        return float(burst)
    return max(1.0, (rate_limit or 0.0) * 0.1)


class TokenBucket:
    """The gateway's rate limit every simulator applies: ``rate`` tokens a second up to ``capacity``, starting full;
    a request takes one token, and without one it is told how long until one is there.

    Not locked: the simulator's state object owns one and calls it under its own lock.
    """

    def __init__(self, capacity: float) -> None:
        self.tokens = capacity
        self._refilled_at = time.monotonic()

    def take(self, rate: float, capacity: float, now: float) -> float | None:
        """None when a token was taken, else the seconds until one will be there (``tokens`` is then left as is)."""
        self.tokens = min(capacity, self.tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / rate

    def resize(self, capacity: float, limited: bool) -> None:
        """After a knob change: keep what the bucket holds (never above the new capacity) while a limit applies,
        else start full so turning a limit on does not throttle at once."""
        self.tokens = min(self.tokens, capacity) if limited else capacity


class LoopbackServer:
    """Serves ``self.app`` on a loopback port in a daemon thread: ``start()`` returns the base URL once the port
    accepts connections, ``stop()`` frees it and cuts in-flight pauses short. Subclasses build ``app`` and may say
    where their API lives under the server (``url_path``)."""

    name = "simulator"  # for the thread and the start-up error
    url_path = ""  # appended to http://host:port to make the base URL (e.g. a context root)

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.base_url = ""

    def start(self, host: str = "127.0.0.1", port: int = 0, *, log_level: str | None = None) -> str:
        """``port=0`` picks a free port. ``log_level`` (e.g. "warning") quietens uvicorn's own loggers, which are
        process-wide, so they are left alone unless asked."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        logging.getLogger("uvicorn.error").addFilter(_RESET_FILTER)
        self._socket = listening_socket(host, port)
        config = uvicorn.Config(
            self.app, log_config=None, log_level=log_level, access_log=False, lifespan="off",
            timeout_graceful_shutdown=2, loop="asyncio",
        )
        self._server = uvicorn.Server(config)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=self.name.lower().replace(" ", "-"), daemon=True)
        self._thread.start()
        self._wait_started()
        bound_host, bound_port = self._socket.getsockname()[:2]
        self.base_url = f"http://{url_host(bound_host)}:{bound_port}{self.url_path}"
        return self.base_url

    def _wait_started(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not (self._server and self._server.started):
            if self._thread is None or not self._thread.is_alive() or time.monotonic() > deadline:
                self._cleanup()
                raise RuntimeError(f"{self.name} failed to start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and free the port; in-flight hangs and latencies are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket, self._server, self._thread = None, None, None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _pause(self, seconds: float, request: Request) -> bool:
        """Sleep without blocking other requests; False if the client left or the server is stopping."""
        if seconds <= 0:
            return True
        watcher = asyncio.ensure_future(wait_disconnect(request))
        deadline = time.monotonic() + seconds
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                if watcher.done() or self._stopping.is_set():
                    return False
                await asyncio.sleep(min(POLL_S, remaining))
            return True
        finally:
            watcher.cancel()


async def wait_disconnect(request: Request) -> None:
    """Returns once the client has gone (the body is already read, so the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind ourselves so port 0 works and the real port is known before uvicorn starts.

    ``IPPROTO_TCP`` explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP, and
    without it every response waits ~40 ms for a delayed ACK (Nagle) between headers and body.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if os.name != "nt":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
