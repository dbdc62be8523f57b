"""Fixtures for the record-API simulators (UpKeep, Fiix, SAP PM, in-house): started on free ports, always stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ic3_pipeline.sandbox.record_api import RecordApiSimulator


@pytest.fixture
def start_sim() -> Iterator[Callable[..., RecordApiSimulator]]:
    """``start_sim(SimulatorClass, register=None, **knobs)``: a started simulator, stopped after the test."""
    started: list[RecordApiSimulator] = []

    def factory(cls: type[RecordApiSimulator], register: dict[str, str] | None = None, **knobs: Any):
        knobs.setdefault("assets_per_site", 12)
        sim = cls(cls.config_class(**knobs), register=register)
        sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ic3_command() -> list[str]:
    script = Path(sys.executable).with_name("ic3")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from ic3_pipeline.cli import run; run()"]


def run_simulate(args: list[str], env: dict[str, str], probe: Callable[[], Any], banner: str) -> tuple[Any, str]:
    """Run ``ic3 simulate ARGS``, call ``probe`` until it stops raising a transport error, wait for the banner line,
    stop the process; returns (what probe returned, everything the process printed)."""
    process = subprocess.Popen(ic3_command() + ["simulate", *args], env={**os.environ, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        result, deadline = None, time.monotonic() + 60
        while result is None and process.poll() is None and time.monotonic() < deadline:
            try:
                result = probe()
            except httpx.TransportError:
                time.sleep(0.2)
        assert result is not None, "the simulator never answered:\n" + "".join(lines)
        while not any(banner in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=20)
        reader.join(5)
    return result, "".join(lines)
