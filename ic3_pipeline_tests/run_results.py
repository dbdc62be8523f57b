"""Reading a sync run's result as the UI shows it: each site's materializations, the batch's observation."""

from __future__ import annotations

from typing import Any


def _values(metadata) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def batch_metadata(result, key: str = "innomaint/asset_details") -> dict[str, Any]:
    """The batch's own figures (requests, 429 answers, rates…): one observation of the source's first table a run."""
    events = [e for e in result.get_asset_observation_events() if e.asset_key.to_user_string() == key]
    assert len(events) == 1, f"expected one batch observation of {key}, found {len(events)}"
    return _values(events[0].asset_observation_data.asset_observation.metadata)


def first_materialization_metadata(result, key: str = "innomaint/asset_details") -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return _values(events[0].materialization.metadata)
