"""Collection streams: what a paged source provides to the engine, and how a stream is described.

An entity source answers one asset per call (``sync.connector``); a collection source answers pages of records
(an object structure, a REST collection). For the latter the engine pages, writes each page in one transaction,
keeps a high-water mark per (source, stream, partition), marks vanished keys deleted on a full read, lands child
arrays in child tables and widens tables as the API sends new attributes (``sync.collection_sync``). A connector
supplies only what is its API's own: how to ask for a page (:meth:`CollectionConnector.page_request`) and how to read
one (:meth:`CollectionConnector.parse_page`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx

from ic3_pipeline.sync.connector import Credentials

if TYPE_CHECKING:
    from ic3_pipeline.sync.mapping import RecordMapping

# How a connector's API pages: by page number or by offset (both read several pages at once when the first page
# says how many records there are), by the next link each page carries, or by a cursor each page hands back.
PagingKind = Literal["page_number", "offset", "next_link", "cursor"]


@dataclass(frozen=True)
class ChildSpec:
    """A child array of a stream's records (``assetmeter`` of an asset), landed in ``<stream table>__<name>``."""

    name: str

    def table_name(self, parent_table: str) -> str:
        return f"{parent_table}__{self.name}"


@dataclass(frozen=True)
class Reference:
    """A column of a stream (or of one of its children) that names a row of another stream: reported when that row
    does not exist, never filled in with a placeholder."""

    columns: tuple[str, ...]  # in this stream's (or child's) table
    to_stream: str
    to_columns: tuple[str, ...]  # in the referenced stream's table
    child: str | None = None  # the child table holding ``columns`` (None: the stream's own table)


@dataclass(frozen=True)
class StreamSpec:
    """One collection of the API as the engine syncs it."""

    name: str  # the stream's name in the source (``asset``); its table is ``<source>_<name>``
    resource: str  # what the connector asks for (``mxapiasset``, ``/work-orders``)
    key: tuple[str, ...]  # the attributes identifying a record
    change_field: str | None = None  # the attribute incremental syncs filter and order on (None: always a full read)
    partition_field: str | None = None  # the attribute the partition (site) filters on (None: unpartitioned)
    children: tuple[ChildSpec, ...] = ()
    depends_on: tuple[str, ...] = ()  # streams loaded first (their rows are referenced)
    references: tuple[Reference, ...] = ()
    description: str = ""
    # How each record also becomes a row of a unified table (``sync.mapping``); None: the raw tables only.
    mapping: RecordMapping | None = field(default=None, compare=False, repr=False)

    @property
    def partitioned(self) -> bool:
        return self.partition_field is not None

    def table_name(self, source: str) -> str:
        return f"{source}_{self.name}"


@dataclass(frozen=True)
class PageRequest:
    """What to ask the API for: one page of a stream, in a partition, changed since a mark."""

    stream: StreamSpec
    partition: str | None  # the partition's value (a site), None for an unpartitioned stream
    since: datetime | None  # only records changed at or after this instant (None: everything)
    page_size: int
    page_number: int = 1  # 1-based; the page starting at ``offset`` when ``offset`` is a multiple of ``page_size``
    offset: int = 0  # the first record's position in the whole result
    cursor: str | None = None  # what the previous page handed back (cursor paging); None for the first page


@dataclass(frozen=True)
class PageCall:
    """One HTTP call asking for a page, when a GET of a URL is not enough: a method, a body (a query sent as JSON
    or text), headers of this call, and how to read its answer (None: the connector's ``parse_page``). A next link
    is followed with a GET carrying the same headers and read the same way (:meth:`follow`)."""

    url: str
    method: str = "GET"
    content: str | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    parse: Callable[[httpx.Response], Page] | None = None

    def follow(self, url: str) -> PageCall:
        return PageCall(url=url, headers=self.headers, parse=self.parse)


def as_call(request: str | PageCall) -> PageCall:
    """What :meth:`CollectionConnector.page_request` returned, as a call (a URL alone is a GET)."""
    return request if isinstance(request, PageCall) else PageCall(url=request)


@dataclass
class Page:
    """One page as the connector read it: records in plain form (attribute → value, children as lists)."""

    records: list[dict[str, Any]]
    next_url: str | None = None  # the API's link to the next page (None: the last page)
    cursor: str | None = None  # the cursor of the next page (cursor paging; None: the last page)
    total_count: int | None = None  # records in the whole result, when the API says
    total_pages: int | None = None


class CollectionApiError(RuntimeError):
    """The API answered with an error of its own (an error envelope): final for that request; the message is the
    API's, made readable. ``page_too_large`` marks a refusal of the page size (the engine then asks for smaller
    pages); ``auth`` a refused credential (the run stops: nothing can be read)."""

    def __init__(self, message: str, *, status: int | None = None, page_too_large: bool = False, auth: bool = False):
        super().__init__(message)
        self.status = status
        self.page_too_large = page_too_large
        self.auth = auth


class CollectionConnector(Protocol):
    """A CMMS whose API answers collections in pages."""

    name: str
    display_name: str
    kind: Literal["collection"]
    secrets: Mapping[str, str]  # secret name -> what it is
    secret_alternatives: tuple[tuple[str, ...], ...]  # any one complete set of secrets is enough
    paging: PagingKind

    def headers(self, credentials: Credentials) -> dict[str, str]:
        """Request headers carrying the credentials (raise :class:`CollectionApiError` with ``auth`` when none)."""
        ...

    def page_request(self, request: PageRequest) -> str | PageCall:
        """The URL (relative to the base URL, with its query) of one page, or the whole call when it is more than
        a GET (a method, a body, headers of its own)."""
        ...

    def parse_page(self, response: httpx.Response) -> Page:
        """Read one answer: the records, the next link and the totals; raise :class:`CollectionApiError` for the
        API's error envelope, ``RetryableResponse`` for a body that is unusable (truncated, not JSON)."""
        ...

    # Optional: ``auth(credentials, base_url) -> httpx.Auth | None`` - credentials that change per request (a signed
    # URL, a session or OAuth2 token), applied by the client to every attempt. A connector without it sends only
    # :meth:`headers`.


@dataclass(frozen=True)
class CollectionSettings:
    """How hard to page: sizes and the overlap incremental reads go back by."""

    page_size: int = 500
    max_page_size: int = 1000  # never asked for more (the API's cap, when known)
    min_page_size: int = 10  # timeouts shrink pages down to this
    page_concurrency: int = 4  # pages in flight at once, when the API allows paging by number
    overlap_s: float = 300.0  # incremental reads start this long before the high-water mark
    max_passes: int = 3  # reads of a partition when records moved while paging (the result was incomplete)

    def __post_init__(self) -> None:
        if not 1 <= self.min_page_size <= self.page_size <= self.max_page_size:
            raise ValueError("page sizes must satisfy 1 <= min_page_size <= page_size <= max_page_size")
        if self.page_concurrency < 1 or self.max_passes < 1 or self.overlap_s < 0:
            raise ValueError("page_concurrency and max_passes must be at least 1, overlap_s at least 0")


def load_order(streams: Sequence[StreamSpec]) -> list[StreamSpec]:
    """The streams with each after the ones it depends on (a cycle or an unknown name is a configuration error)."""
    by_name = {stream.name: stream for stream in streams}
    ordered: list[StreamSpec] = []
    visiting: set[str] = set()

    def visit(stream: StreamSpec, path: tuple[str, ...]) -> None:
        if stream in ordered:
            return
        if stream.name in visiting:
            raise ValueError(f"streams depend on each other in a circle: {' -> '.join((*path, stream.name))}")
        visiting.add(stream.name)
        for name in stream.depends_on:
            if name not in by_name:
                raise ValueError(f"stream {stream.name!r} depends on {name!r}, which is not a stream of this source")
            visit(by_name[name], (*path, stream.name))
        visiting.discard(stream.name)
        ordered.append(stream)

    for stream in streams:
        visit(stream, ())
    return ordered


@dataclass
class StreamReport:
    """What one stream sync of one partition did."""

    stream: str
    partition: str
    mode: Literal["full", "incremental"]
    pages: int = 0
    rows: int = 0
    child_rows: int = 0
    deleted: int = 0
    kept_as_text: int = 0
    new_columns: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # records without their key: why each was skipped
    passes: int = 0
    high_water_mark_before: str | None = None
    high_water_mark_after: str | None = None
    request_stats: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    page_size: int = 0  # the page size at the end (smaller than configured after timeouts)
    unified_rows: int = 0  # rows written to the stream's unified table (when it has a mapping)
    mapping_failed: int = 0  # records its mapping could not convert (see cmms_mapping_error)
