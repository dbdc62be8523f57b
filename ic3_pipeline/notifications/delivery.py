"""Exactly-once delivery per channel, with retry: the cursor logic the notification sensors share.

Each channel keeps its own position, so one channel being down neither blocks nor duplicates the others. A position
is a low-water mark (every event id at or below it is settled for that channel) plus the ids above it already sent.
Ids above the mark that are not settled yet — a notice whose delivery failed, or a check still running, which
Dagster numbered when it was planned — hold the mark back, so they are sent on a later tick; nothing is skipped
because a later-numbered event finished first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ic3_pipeline.notifications.channels import Channel, DeliveryError
from ic3_pipeline.notifications.message import Notice
from ic3_pipeline.notifications.settings import redact


@dataclass(frozen=True)
class Candidate:
    """An event the sensor saw: ``notice`` is None when it needs no notice (a passed check, below the severity);
    ``settled`` is False while its outcome is not known yet (a check whose run is still going)."""

    event_id: int
    notice: Callable[[], Notice] | None
    settled: bool = True


@dataclass
class Position:
    after: int
    sent: set[int] = field(default_factory=set)


@dataclass
class Outcome:
    positions: dict[str, Position]
    sent: dict[str, int]
    errors: list[str]

    def cursor(self) -> str:
        return json.dumps({n: {"after": p.after, "sent": sorted(p.sent)} for n, p in sorted(self.positions.items())})

    def summary(self) -> str:
        done = ", ".join(f"{count} to {name}" for name, count in self.sent.items() if count) or "nothing new to send"
        return f"Sent {done}." + (" Failed, retried next tick: " + "; ".join(self.errors) if self.errors else "")


def read_cursor(cursor: str | None) -> dict[str, Position]:
    if not cursor:
        return {}
    try:
        raw = json.loads(cursor)
        return {name: Position(int(p["after"]), {int(i) for i in p.get("sent", [])}) for name, p in raw.items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}  # an unreadable cursor restarts from now rather than failing every tick


def deliver(channels: Sequence[Channel], positions: dict[str, Position], candidates: Sequence[Candidate],
            log) -> Outcome:
    """Send every candidate's notice each channel has not had yet, oldest first; stop a channel at its first failure
    (its later notices wait, in order, for the next tick) and log that failure."""
    built: dict[int, Notice] = {}
    ordered = sorted(candidates, key=lambda c: c.event_id)
    outcome = Outcome(positions, {c.name: 0 for c in channels}, [])
    for channel in channels:
        position = positions[channel.name]
        failed = False
        for candidate in ordered:
            wanted = candidate.notice is not None and candidate.settled
            if failed or not wanted or candidate.event_id <= position.after or candidate.event_id in position.sent:
                continue
            if candidate.event_id not in built:
                built[candidate.event_id] = candidate.notice()
            try:
                channel.send(built[candidate.event_id])
            except Exception as error:  # noqa: BLE001 — whatever a channel raises, the other channels go on
                said = str(error) if isinstance(error, DeliveryError) else (
                    f"{channel.name}: {type(error).__name__}: {redact(str(error))}")
                failed = True
                outcome.errors.append(said)
                log.error(f"Notification not delivered, will retry next tick: {said}")
                continue
            position.sent.add(candidate.event_id)
            outcome.sent[channel.name] += 1
        _advance(position, ordered)
    return outcome


def _advance(position: Position, ordered: Sequence[Candidate]) -> None:
    """Move the mark up to just below the oldest event still open for this channel."""
    newer = [c for c in ordered if c.event_id > position.after]
    open_ids = [c.event_id for c in newer
                if not c.settled or (c.notice is not None and c.event_id not in position.sent)]
    if open_ids:
        position.after = min(open_ids) - 1
    elif newer:
        position.after = newer[-1].event_id
    position.sent = {i for i in position.sent if i > position.after}
