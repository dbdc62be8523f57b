"""Every way the engine pages, against a small real HTTP server over loopback (test equipment written here, the
way a declarative connector's API would answer): by offset (with and without a total), by cursor, by page number
without a next link — each record landing exactly once."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ic3_pipeline.http_client import HttpPolicy, ResilientClient
from ic3_pipeline.sync.collection_sync import sync_stream
from ic3_pipeline.sync.streams import CollectionSettings, Page, PageRequest, StreamSpec
from ic3_pipeline.warehouse import ensure_schema, make_engine

RECORDS = [{"id": f"R{n:03d}", "name": f"pump {n}", "updated": f"2026-01-{1 + n // 10:02d}T00:00:{n % 60:02d}Z"}
           for n in range(47)]


class ItemsServer:
    """Serves RECORDS by offset/limit (``/items``, a total when ``?counted=1``), by cursor (``/cursor``) and by page
    number (``/pages``); counts requests and the most in flight at once."""

    def __init__(self, latency_s: float = 0.05):
        self.latency_s = latency_s
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.app = Starlette(routes=[Route("/items", self.items), Route("/cursor", self.cursor),
                                     Route("/pages", self.pages)])

    async def _enter(self) -> None:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.latency_s)
        self.in_flight -= 1

    async def items(self, request: Request) -> JSONResponse:
        await self._enter()
        offset, limit = int(request.query_params["offset"]), int(request.query_params["limit"])
        body = {"results": RECORDS[offset:offset + limit]}
        if request.query_params.get("counted") == "1":
            body["total"] = len(RECORDS)
        return JSONResponse(body)

    async def cursor(self, request: Request) -> JSONResponse:
        await self._enter()
        start = int(request.query_params.get("after") or 0)
        limit = int(request.query_params["limit"])
        end = start + limit
        return JSONResponse({"data": RECORDS[start:end], "next": str(end) if end < len(RECORDS) else None})

    async def pages(self, request: Request) -> JSONResponse:
        await self._enter()
        page, size = int(request.query_params["page"]), int(request.query_params["size"])
        return JSONResponse({"results": RECORDS[(page - 1) * size: page * size]})


@pytest.fixture
def server() -> Iterator[tuple[ItemsServer, str]]:
    items = ItemsServer()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(items.app, log_config=None, access_log=False, lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.01)
    yield items, f"http://127.0.0.1:{sock.getsockname()[1]}"
    uv.should_exit = True
    thread.join(timeout=5)
    sock.close()


class ItemsConnector:
    """A connector for ItemsServer, as a declarative connector's YAML would describe it."""

    name = "items"
    display_name = "Items"
    kind = "collection"
    secrets: dict = {}
    secret_alternatives = ((),)

    def __init__(self, paging: str, counted: bool = False):
        self.paging = paging
        self.counted = counted

    def headers(self, credentials) -> dict[str, str]:
        return {}

    def page_request(self, request: PageRequest) -> str:
        if self.paging == "offset":
            query = {"offset": request.offset, "limit": request.page_size, **({"counted": 1} if self.counted else {})}
            return "items?" + urlencode(query)
        if self.paging == "cursor":
            return "cursor?" + urlencode({"limit": request.page_size, **({"after": request.cursor}
                                                                           if request.cursor else {})})
        return "pages?" + urlencode({"page": request.page_number, "size": request.page_size})

    def parse_page(self, response: httpx.Response) -> Page:
        body = json.loads(response.content)
        records = body.get("results", body.get("data"))
        return Page(records=records, cursor=body.get("next"), total_count=body.get("total"))


STREAM = StreamSpec(name="item", resource="items", key=("id",), change_field="updated")


@pytest.mark.parametrize(("paging", "counted", "pages"), [
    ("offset", True, 5), ("offset", False, 5), ("cursor", False, 5), ("page_number", False, 5)],
    ids=["offset-with-total", "offset-without-total", "cursor", "page-number-without-links"])
def test_each_paginator_lands_every_record_once(server, db_url, paging, counted, pages):
    items, base_url = server
    engine = make_engine(db_url)
    ensure_schema(engine)
    connector = ItemsConnector(paging, counted)
    settings = CollectionSettings(page_size=10, max_page_size=10, min_page_size=1, page_concurrency=4)

    async def run():
        async with ResilientClient(base_url, policy=HttpPolicy(initial_rate=200)) as client:
            return await sync_stream(client, connector, engine, source="acme", stream=STREAM, partition=None,
                                     settings=settings)

    report = asyncio.run(run())
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT id, name FROM acme_item ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in stored] == [(r["id"], r["name"]) for r in RECORDS]
    assert report.pages == pages and report.rows == len(RECORDS)
    if counted:
        assert items.max_in_flight > 1  # the total told how many pages: several were read at once
    else:
        assert items.max_in_flight == 1  # nothing told the end in advance: one page after another
        assert items.requests == pages  # and it stopped at the short last page, not one request later
