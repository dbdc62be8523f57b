"""When to retry a site's failed assets: after a cool-down that doubles with each consecutive failure (capped), never
twice for the same failure, and never more than a few retry runs in flight. Pure functions, so the rule is testable
without a Dagster tick; each source's retry sensor feeds them its own state and its settings from its defs.yaml."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ic3_pipeline.sync.due import PartitionFailures


@dataclass(frozen=True)
class RetryPolicySettings:
    base_cooldown: timedelta = timedelta(minutes=2)
    max_cooldown: timedelta = timedelta(hours=2)
    max_in_flight: int = 2

    def cooldown(self, consecutive_failures: int) -> timedelta:
        return min(self.base_cooldown * (2 ** max(0, consecutive_failures - 1)), self.max_cooldown)


@dataclass(frozen=True)
class RetryDecision:
    partition_key: str
    run_key: str  # one retry per failure state: the same failures are never requested twice
    reason: str


def plan_retries(
    failures: Iterable[PartitionFailures],
    *,
    now: datetime,
    in_flight_partitions: Sequence[str],
    settings: RetryPolicySettings,
) -> tuple[list[RetryDecision], list[str]]:
    """(retries to request now, why the others wait)."""
    slots = max(0, settings.max_in_flight - len(in_flight_partitions))
    decisions: list[RetryDecision] = []
    waiting: list[str] = []
    for failure in failures:
        if failure.partition_key in in_flight_partitions:
            waiting.append(f"{failure.partition_key}: a retry is already in flight")
            continue
        due_at = failure.last_attempt_at + settings.cooldown(failure.max_consecutive_failures)
        if now < due_at:
            waiting.append(f"{failure.partition_key}: cooling down until {due_at:%H:%M:%S} UTC")
            continue
        if len(decisions) >= slots:
            waiting.append(f"{failure.partition_key}: waiting for a free slot ({settings.max_in_flight} in flight at most)")
            continue
        decisions.append(
            RetryDecision(
                failure.partition_key,
                run_key=f"retry:{failure.partition_key}:{failure.last_attempt_at.isoformat()}",
                reason=f"{failure.failed_assets} failed assets, {failure.max_consecutive_failures} consecutive failures",
            )
        )
    return decisions, waiting
