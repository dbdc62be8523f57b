"""Partition ranges: how a source's sites are batched into runs, and how a run names the sites it covers.

A Dagster run costs about 2 s here before any asset code runs, so partitions are batched: each run covers a range of
consecutive site partitions (Dagster's partition-range tags); about 100 sites a run keeps orchestration a small share
of a sync. Unpartitioned sources have one range: everything.
"""

from __future__ import annotations

from collections.abc import Sequence

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
MAX_PARTITIONS_PER_RUN = 100


def plan_ranges(keys: Sequence[str], per_run: int = MAX_PARTITIONS_PER_RUN) -> list[tuple[str, str]]:
    """Consecutive (first, last) partition ranges of at most ``per_run`` keys each."""
    return [(keys[i], keys[min(i + per_run, len(keys)) - 1]) for i in range(0, len(keys), per_run)]


def contiguous_ranges(
    ordered_keys: Sequence[str], wanted: Sequence[str], per_run: int = MAX_PARTITIONS_PER_RUN
) -> list[tuple[str, str]]:
    """Ranges covering exactly ``wanted``, as few as the partitions' order allows (each at most ``per_run`` keys)."""
    wanted_set = set(wanted)
    ranges: list[tuple[str, str]] = []
    run: list[str] = []
    for key in ordered_keys:
        if key in wanted_set and len(run) < per_run:
            run.append(key)
            continue
        if run:
            ranges.append((run[0], run[-1]))
        run = [key] if key in wanted_set else []
    if run:
        ranges.append((run[0], run[-1]))
    return ranges


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make a run cover the partitions from ``first`` to ``last`` (one partition when they are equal)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last} if first != last else {PARTITION_TAG: first}


def describe_partitions(keys: Sequence[str] | None, shown: int = 3) -> str:
    """``'Delhi Khyala'``, ``'Ahmedabad Maninagar … Pune Kharadi (60 sites)'``, or ``'all sites'`` (unpartitioned)."""
    if keys is None:
        return "all sites"
    if len(keys) <= shown:
        return ", ".join(keys) or "(no partition)"
    return f"{keys[0]} … {keys[-1]} ({len(keys)} sites)"
