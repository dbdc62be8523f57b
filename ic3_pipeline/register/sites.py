"""Dagster partition keys for sites.

A site name becomes the key of its enrichment partition. Keys must be stable (the same site keeps its key forever, so
its history stays in one place) and safe everywhere Dagster shows or parses them: no commas, brackets or pipes (range
and multi-partition syntax), no ``...``, no control characters. A name that is already safe is its own key, which
reads best in the UI; anything else is cleaned and gets a short hash of the original, so two names never collide.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^\w .\-()&'#@+]+|\.{3,}")
_SPACES = re.compile(r"\s+")
MAX_KEY_LENGTH = 120


def site_partition_key(site_name: str) -> str:
    """The partition key for ``site_name`` (deterministic; injective in practice through the hash suffix)."""
    cleaned = _SPACES.sub(" ", _UNSAFE.sub("_", site_name)).strip()
    if cleaned == site_name and 0 < len(cleaned) <= MAX_KEY_LENGTH:
        return cleaned
    digest = hashlib.sha1(site_name.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[:MAX_KEY_LENGTH] or 'site'}~{digest}"
