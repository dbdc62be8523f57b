"""One page of one stream, asked for and read exactly as a sync would, then mapped - and nothing written.

``ic3 connector check`` answers "does my YAML work against the real API?" before any table exists: the first page a
full read would ask for (the connector's own request, auth and parser, through the same resilient client), the
records the engine would skip (no key), and each record through the stream's ``unified:`` mapping with every field
it could not convert. Lookups into the masters need the database, so they are named, not resolved. Nothing here
touches a database or Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ic3_pipeline.http_client import HttpCallFailed, ResilientClient
from ic3_pipeline.http_client.auth import AuthRefused
from ic3_pipeline.sync.streams import CollectionApiError, CollectionConnector, PageRequest, StreamSpec, as_call
from ic3_pipeline.sync.transforms import shown


@dataclass(frozen=True)
class Problem:
    """A record of the page that would not land whole: no key (skipped by the engine), or a field the mapping could
    not convert (the record stays out of the unified table). ``record``: its position in the page, from 1."""

    record: int
    source_id: str | None
    field: str
    value: str  # as a message quotes it (cut short)
    transform: str
    message: str


@dataclass
class StreamProbe:
    """What one page of one stream gave."""

    stream: str
    partition: str | None
    since: datetime | None = None  # asked as an incremental read (changed since this instant)
    method: str = "GET"
    url: str = ""  # as the connector asked for it, before per-request credentials (a key, a signature) are added
    records: int = 0
    total: int | None = None  # records in the whole result, when the API says
    more: bool = False  # the API says (or the page's size suggests) that more pages follow
    table: str | None = None  # the unified table (None: no ``unified:`` mapping)
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # the mapped unified rows, in page order
    lookups: list[str] = field(default_factory=list)  # columns filled by a lookup into a master (at sync only)
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None  # the page could not be read
    auth: bool = False  # ... because a credential was refused

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems


async def probe_stream(client: ResilientClient, connector: CollectionConnector, stream: StreamSpec, *,
                       partition: str | None, page_size: int, since: datetime | None = None) -> StreamProbe:
    """The first page of ``stream`` (in ``partition``, changed since ``since`` if given), read and mapped."""
    probe = StreamProbe(stream=stream.name, partition=partition, since=since)
    try:
        call = as_call(connector.page_request(PageRequest(stream, partition, since, page_size)))
        probe.method, probe.url = call.method, call.url
        page, _ = await client.send_counted(call.method, call.url, accept=call.parse or connector.parse_page,
                                            content=call.content, headers=call.headers or None)
    except CollectionApiError as refused:
        probe.error, probe.auth = str(refused), refused.auth
        return probe
    except AuthRefused as refused:
        probe.error, probe.auth = str(refused), True
        return probe
    except HttpCallFailed as failure:
        probe.error = f"{connector.display_name} did not answer the page: {failure.reason}"
        return probe
    records = page.records
    probe.records, probe.total = len(records), page.total_count
    probe.more = bool(page.next_url or page.cursor or (page.total_count is not None and page.total_count > len(records))
                      or (page.total_pages is not None and page.total_pages > 1)
                      or (_paging(connector, stream) in ("offset", "page_number") and page.total_count is None
                          and len(records) >= page_size))
    mapping = stream.mapping
    if mapping is not None:
        probe.table = mapping.table
        probe.columns = ["source_id", *mapping.columns]
        probe.lookups = list(mapping.lookups)
    for position, record in enumerate(records, start=1):
        missing = [name for name in stream.key if record.get(name) is None or record.get(name) == ""]
        if missing:
            probe.problems.append(Problem(position, None, ", ".join(missing), "None", "key",
                                          f"the record has no {', '.join(missing)} (the stream's key): a sync skips it"))
            continue
        if mapping is None:
            continue
        mapped = mapping.map_record(record)
        if mapped.failures:
            probe.problems += [Problem(position, mapped.source_id, failure.field, shown(failure.value),
                                       failure.transform, failure.message) for failure in mapped.failures]
            continue
        probe.rows.append({"source_id": mapped.source_id, **mapped.row,
                           **{name: None for name in mapped.lookups}})
    return probe


def _paging(connector: CollectionConnector, stream: StreamSpec) -> str:
    # A connector whose streams page differently (a declarative one) says so per stream, as the engine reads it.
    return connector.stream_paging(stream) if hasattr(connector, "stream_paging") else connector.paging
