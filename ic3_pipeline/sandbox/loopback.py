"""What every simulator is made of: a Starlette app served by uvicorn in a daemon thread over a real loopback
socket (so clients meet real timeouts, resets and concurrency), pauses a stopping server cuts short, and a response
that drops the connection half-way on purpose."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from typing import Any, Protocol

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ic3_pipeline.sandbox.innomaint_data import stable_fraction

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


class SimulatorConfig(Protocol):
    """What :class:`SimulatorState` reads of a simulator's configuration."""

    rate_limit: float | None
    seed: int
    fault_rate: float
    fault_kinds: tuple[str, ...]

    @property
    def effective_burst(self) -> float: ...


class SimulatorState:
    """A simulator's config, token bucket and statistics, shared by the server thread and the caller.

    Each request is counted under a key (a path, an object structure: ``snapshot()`` names that table ``per_key``),
    admitted by the token bucket or given the seconds until it would be, and dealt a fault: the next scripted one if
    any, else a seeded coin for the n-th request with the same request key, so a run repeats exactly."""

    def __init__(self, config: SimulatorConfig, counters: tuple[str, ...], per_key: str,
                 fault_kinds: tuple[str, ...] = ()) -> None:
        self.lock = threading.Lock()
        self.config = config
        self._counters, self._per_key_name, self._fault_kinds = counters, per_key, fault_kinds
        self._bucket = TokenBucket(config.effective_burst)
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.counts = dict.fromkeys(self._counters, 0)
        self.per_key: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.asked: dict[str, int] = {}
        self.scripted: deque[str] = deque()

    def reset(self) -> None:
        """Forget everything seen, including the per-request sequence that drives random faults."""
        with self.lock:
            self._reset_counters()

    def replace_config(self, config: SimulatorConfig) -> None:
        with self.lock:
            self.config = config
            self._bucket.resize(config.effective_burst, bool(config.rate_limit))

    def admit(self, key: str) -> float | None:
        """Count the request; None when the token bucket lets it through, else the seconds until it would."""
        now = time.monotonic()
        with self.lock:
            self.counts["requests"] += 1
            self.per_key[key] = self.per_key.get(key, 0) + 1
            rate = self.config.rate_limit
            if rate is None:
                return None
            wait_s = self._bucket.take(rate, self.config.effective_burst, now)
            if wait_s is not None:
                self.counts["throttled"] += 1
            return wait_s

    def count(self, outcome: str) -> None:
        with self.lock:
            self.counts[outcome] += 1

    def script(self, kinds: list[str]) -> None:
        """Faults dealt to the next requests, in order, whatever they ask (``ok``: none for that one)."""
        unknown = sorted(set(kinds) - set(self._fault_kinds) - {"ok"})
        if unknown:
            raise ValueError(f"fault kinds must be among {self._fault_kinds} or 'ok', got {unknown}")
        with self.lock:
            self.scripted.extend(kinds)

    def next_fault(self, request_key: str) -> str | None:
        """The next scripted fault (whatever the request), else the seeded coin for the n-th authorised request
        with this key."""
        with self.lock:
            nth = self.asked.get(request_key, 0) + 1
            self.asked[request_key] = nth
            config = self.config
            if self.scripted:
                kind = self.scripted.popleft()
                if kind == "ok":
                    return None
                self.faults[kind] = self.faults.get(kind, 0) + 1
                return kind
        if config.fault_rate <= 0 or stable_fraction(config.seed, "fault", request_key, nth) >= config.fault_rate:
            return None
        kind = config.fault_kinds[int(stable_fraction(config.seed, "fault-kind", request_key, nth)
                                      * len(config.fault_kinds))]
        with self.lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1
        return kind

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {**self.counts, self._per_key_name: dict(self.per_key), "faults": dict(self.faults)}


async def json_object(request: Request) -> dict[str, Any]:
    """A test control's JSON body (an empty body is ``{}``); ``ValueError`` when it is not an object."""
    body = json.loads(await request.body() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


class SimulatorControls:
    """The test controls a simulator built on :class:`SimulatorState` serves under ``/_sim/``: its statistics, a
    reset of them, and its knobs (``GET`` shows them, ``POST`` changes some). The simulator provides ``stats()``,
    ``reset_stats()``, ``configure(**changes)`` and ``_state``."""

    _state: SimulatorState
    dataset_knobs: frozenset[str] = frozenset()  # knobs that shape the data: fixed once the simulator is built

    def configure(self, **changes: Any) -> None:
        """Change knobs of a running simulator; unknown, dataset or bad knobs raise and change nothing."""
        current = self._state.config
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(current)})
        if unknown:
            raise ValueError(f"unknown simulator knobs {unknown}")
        fixed = sorted(k for k in set(changes) & self.dataset_knobs if changes[k] != getattr(current, k))
        if fixed:
            raise ValueError(f"{fixed} shape the dataset and are fixed once the simulator is built")
        try:
            updated = dataclasses.replace(current, **changes)
        except TypeError as exc:
            raise ValueError(f"invalid simulator config: {exc}") from exc
        self._state.replace_config(updated)

    async def _handle_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())  # type: ignore[attr-defined]

    async def _handle_reset(self, request: Request) -> Response:
        self.reset_stats()  # type: ignore[attr-defined]
        return JSONResponse({"reset": True})

    async def _handle_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.configure(**await json_object(request))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self._state.config.public())  # type: ignore[attr-defined]


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
