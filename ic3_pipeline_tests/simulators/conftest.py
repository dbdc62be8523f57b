"""Fixtures for the record-API simulators (UpKeep, Fiix, SAP PM, in-house): started on free ports, always stopped."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

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
