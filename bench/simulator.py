"""The Innomaint simulator in a process of its own, as the real API would be on another machine.

In the client's process the server would share its interpreter lock, and the figures would measure the two
competing for one core rather than the client. The server process prints its URL, serves until its stdin closes,
and reports what it saw through ``GET /_sim/stats`` (requests and 429s counted by the server: the truth).

    python -m bench.simulator --register bench/out/register_2957.xlsx --rate-limit 20 --latency-ms 50
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

TOKEN_ENV = "INNOMAINT_API_TOKEN"  # the token travels by environment, never on a command line


class SimulatorProcess:
    """``with SimulatorProcess(register, rate_limit=20, latency_ms=50, token=t) as sim: sim.base_url, sim.stats()``.

    ``burst`` None keeps the simulator's default token bucket, max(1, 0.1 x rate_limit): like the real API, at most
    a tenth of a second's worth of requests may arrive back to back.
    """

    def __init__(
        self,
        register: Path,
        *,
        token: str,
        rate_limit: float | None,
        latency_ms: float,
        burst: float | None = None,
        retry_after: str = "seconds",
        rate_limit_headers: str = "none",
    ) -> None:
        self._command = [sys.executable, "-m", "bench.simulator", "--register", str(register),
                         "--latency-ms", str(latency_ms)]
        if rate_limit is not None:
            self._command += ["--rate-limit", str(rate_limit)]
        if burst is not None:
            self._command += ["--burst", str(burst)]
        self._command += ["--retry-after", retry_after, "--rate-limit-headers", rate_limit_headers]
        self._token = token
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> SimulatorProcess:
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, TOKEN_ENV: self._token},
        )
        line = self._process.stdout.readline().strip() if self._process.stdout else ""
        if not line.startswith("http://"):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the simulator did not start (said {line!r})")
        self.base_url = line
        return self

    def stats(self) -> dict[str, Any]:
        """The server's counters (``requests``, ``throttled``, ``ok``, ``peak_rate_1s`` …) without per-id hits."""
        return server_stats(self.base_url)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is None:
            return
        if self._process.stdin:
            self._process.stdin.close()  # the server's signal to stop
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def server_stats(base_url: str) -> dict[str, Any]:
    """What the simulator at ``base_url`` counted so far (``requests``, ``throttled`` …), without per-id hits."""
    stats = httpx.get(f"{base_url}/_sim/stats", timeout=30).json()
    stats.pop("hits", None)
    return stats


def main() -> None:
    from ic3_pipeline.register.launch import register_sites
    from ic3_pipeline.sandbox.innomaint_simulator import InnomaintSimulator, SimulatorConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--register", required=True, type=Path)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--burst", type=float, default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--retry-after", default="seconds", help="seconds | http-date | none | mixed")
    parser.add_argument("--rate-limit-headers", default="none", help="none | ietf | ietf-structured | x")
    args = parser.parse_args()
    sites = register_sites(args.register)
    config = SimulatorConfig(
        token=os.environ.get(TOKEN_ENV) or SimulatorConfig.token,
        rate_limit=args.rate_limit, burst=args.burst, latency_ms=args.latency_ms,
        retry_after=args.retry_after, rate_limit_headers=args.rate_limit_headers,
    )
    simulator = InnomaintSimulator(list(sites), config, sites)
    print(simulator.start(log_level="warning"), flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        simulator.stop()


if __name__ == "__main__":
    main()
