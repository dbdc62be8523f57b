"""Counters of one sync's HTTP traffic, shown to people in Dagster metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class RequestStats:
    """What the HTTP layer did during one sync.

    Plain integers: every update happens on one event loop between awaits, so no lock is needed.
    """

    requests: int = 0  # every HTTP attempt sent
    throttled: int = 0  # 429 answers
    retries: int = 0  # attempts beyond the first
    timeouts: int = 0
    transport_errors: int = 0  # connection reset/refused/protocol errors (not timeouts)
    server_errors: int = 0  # 5xx
    bad_bodies: int = 0  # RetryableResponse raised by an accept hook
    gave_up: int = 0  # calls that raised HttpCallFailed

    def as_dict(self) -> dict[str, int]:
        """The counters by name, ready for metadata."""
        return asdict(self)
