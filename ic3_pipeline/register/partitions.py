"""The site partitions: one dynamic partition per register site, shared by every CMMS's enrichment assets.

They live with the register because the register is what defines sites; a CMMS folder only reads them.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import AddDynamicPartitionsRequest, DagsterInstance, DynamicPartitionsDefinition

SITES_PARTITIONS_NAME = "sites"
site_partitions = DynamicPartitionsDefinition(name=SITES_PARTITIONS_NAME)
ADD_CHUNK = 500  # SQLite's event storage is happiest with modest inserts


def register_site_partitions(instance: DagsterInstance, keys: Iterable[str],
                             partitions_name: str = SITES_PARTITIONS_NAME) -> list[str]:
    """Add the keys that are not partitions yet (in chunks); return the ones added. ``partitions_name``: another
    source's own site partitions (a collection source's ``<source>_sites``)."""
    existing = set(instance.get_dynamic_partitions(partitions_name))
    new = sorted(set(keys) - existing)
    for start in range(0, len(new), ADD_CHUNK):
        instance.add_dynamic_partitions(partitions_name, new[start : start + ADD_CHUNK])
    return new


def site_partition_requests(new_keys: list[str]) -> list[AddDynamicPartitionsRequest]:
    """The same additions as requests a sensor returns (the daemon applies them), in the same chunks."""
    return [site_partitions.build_add_request(new_keys[i: i + ADD_CHUNK]) for i in range(0, len(new_keys), ADD_CHUNK)]
