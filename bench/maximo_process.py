"""The Maximo simulator in a process of its own, as the real API would be on another machine.

In the syncing process the server would share its interpreter lock (and, on this 2-core machine, a core) with the
client, and building pages - filtering and sorting every record of the object structure per request, as the
simulator does - would be counted as the client's time and memory. The server process prints its URL, serves until
its stdin closes, and is driven over HTTP: ``GET /_sim/stats`` for the requests it counted (the truth),
``POST /_sim/change`` to change records between syncs (``bench.maximo_sync`` does so from the syncing process).

    MAXIMO_API_KEY=... python -m bench.maximo_process --sites BEDFORD --assets-per-site 5000 --latency-ms 100
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx

KEY_ENV = "MAXIMO_API_KEY"  # the key travels by environment, never on a command line


class MaximoSimulatorProcess:
    """``with MaximoSimulatorProcess(["BEDFORD"], 5000, latency_ms=100, api_key=k) as sim: sim.base_url``.

    ``base_url`` is the URL up to and including the context root (what ``MAXIMO_BASE_URL`` holds);
    ``admin_url`` the server's root, where ``/_sim/*`` lives.
    """

    def __init__(self, sites: Sequence[str], assets_per_site: int, *, api_key: str, latency_ms: float,
                 seed: int = 7) -> None:
        self._command = [sys.executable, "-m", "bench.maximo_process", "--sites", ",".join(sites),
                         "--assets-per-site", str(assets_per_site), "--latency-ms", str(latency_ms),
                         "--seed", str(seed)]
        self._api_key = api_key
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.admin_url = ""

    def __enter__(self) -> MaximoSimulatorProcess:
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, KEY_ENV: self._api_key},
        )
        line = self._process.stdout.readline().strip() if self._process.stdout else ""
        if not line.startswith("http://"):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the Maximo simulator did not start (said {line!r})")
        self.base_url = line
        self.admin_url = line.rsplit("/", 1)[0]
        return self

    def stats(self) -> dict[str, Any]:
        """The server's counters: ``requests``, ``pages``, ``throttled``, ``per_os``, ``faults`` …"""
        return httpx.get(f"{self.admin_url}/_sim/stats", timeout=60).json()

    def stats_config(self) -> dict[str, Any]:
        """The running simulator's knobs (without its key)."""
        return httpx.get(f"{self.admin_url}/_sim/config", timeout=60).json()

    def configure(self, **knobs: Any) -> None:
        httpx.post(f"{self.admin_url}/_sim/config", json=knobs, timeout=60).raise_for_status()

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


def main() -> None:
    from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig, MaximoSimulator

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", required=True, help="comma-separated site ids")
    parser.add_argument("--assets-per-site", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = MaximoSimConfig(
        sites=tuple(args.sites.split(",")), assets_per_site=args.assets_per_site, seed=args.seed,
        latency_ms=args.latency_ms, api_key=os.environ.get(KEY_ENV) or MaximoSimConfig.api_key,
    )
    simulator = MaximoSimulator(config)
    print(simulator.start(log_level="warning"), flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        simulator.stop()


if __name__ == "__main__":
    main()
