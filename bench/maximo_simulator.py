"""How fast the Maximo simulator serves a full paged read, against a bare server sending the same bytes.

The simulator is test equipment: a Maximo client's benchmark is only meaningful if the simulator is not what limits
it. Each contender runs in a process of its own (as the real API would be on another machine) and a client in this
process reads a whole object structure, every child selected, following ``nextPage`` links to the end:

- **simulator**: ``MaximoSimulator`` evaluating every page on the current data (query parsing, filter and sort once
  per query and data version, rendering, JSON encoding);
- **bare server** (the baseline): a Starlette app on the same uvicorn stack answering the very same bytes, captured
  from a simulator with the same seed, from a dict: only HTTP and the client's own parsing remain.

The ratio simulator / bare is the simulator's own cost; members/s is what a client can be fed at most.

    python -m bench.maximo_simulator [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from bench.harness import Table, heading

API_KEY_ENV = "MAXIMO_API_KEY"  # the key travels by environment, never on a command line
SELECTS = {
    "mxapiasset": "*,assetmeter{*},assetspec{*},assetdoclinks{*},assetfailure{*}",
    "mxapiwodetail": "*,wolabor{*},womaterial{*},wotool{*},serviceaddress{*}",
}


def first_page(os_name: str, page_size: int) -> str:
    query = httpx.QueryParams({"lean": 1, "oslc.select": SELECTS[os_name], "oslc.pageSize": page_size,
                               "oslc.orderBy": "+changedate", "collectioncount": 1})
    return f"oslc/os/{os_name}?{query}"


def read_all(http: httpx.Client, link: str) -> tuple[int, int, int]:
    """Follow ``nextPage`` from ``link`` to the end: (pages, members, bytes)."""
    pages = members = size = 0
    while link:
        response = http.get(link)
        response.raise_for_status()
        body = response.json()
        pages, members, size = pages + 1, members + len(body["member"]), size + len(response.content)
        link = body["responseInfo"].get("nextPage", {}).get("href")
    return pages, members, size


def _simulator(sites: int, assets_per_site: int) -> Any:
    from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig, MaximoSimulator

    return MaximoSimulator(MaximoSimConfig(
        sites=tuple(f"SITE{n:02d}" for n in range(sites)), assets_per_site=assets_per_site, seed=7,
        api_key=os.environ[API_KEY_ENV],
    ))


def _captured_pages(sites: int, assets_per_site: int, reads: list[tuple[str, int]]) -> dict[str, bytes]:
    """Every page body a simulator answers for ``reads``, keyed by path and query (what the bare server replays)."""
    simulator = _simulator(sites, assets_per_site)
    base = simulator.start(log_level="warning")
    pages: dict[str, bytes] = {}
    try:
        with httpx.Client(base_url=base + "/", headers={"apikey": os.environ[API_KEY_ENV]}, timeout=120) as http:
            for os_name, page_size in reads:
                link: str | None = first_page(os_name, page_size)
                while link:
                    response = http.get(link)
                    pages[f"{response.url.raw_path.decode()}"] = response.content
                    link = response.json()["responseInfo"].get("nextPage", {}).get("href")
    finally:
        simulator.stop()
    return pages


def serve(kind: str, sites: int, assets_per_site: int, reads: str) -> None:
    """Server process: print the base URL, serve until stdin closes."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    if kind == "simulator":
        simulator = _simulator(sites, assets_per_site)
        print(simulator.start(log_level="warning"), flush=True)
        try:
            sys.stdin.read()
        finally:
            simulator.stop()
        return
    import threading

    import uvicorn

    from ic3_pipeline.sandbox.innomaint_simulator import _listening_socket

    pages = _captured_pages(sites, assets_per_site, [tuple(r) for r in json.loads(reads)])

    async def replay(request: Any) -> Response:
        return Response(pages[request.url.path + "?" + request.url.query], media_type="application/json")

    sock = _listening_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/maximo/oslc/os/{name}", replay)]),
                                           log_config=None, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/maximo", flush=True)
    try:
        sys.stdin.read()
    finally:
        server.should_exit = True
        thread.join(10)


def measure(kind: str, sites: int, assets_per_site: int, reads: list[tuple[str, int]],
            repeats: int) -> list[dict[str, Any]]:
    """Start the contender's process, read each (object structure, page size) ``repeats`` times (at least 2).

    The first read of a fresh simulator also sorts the query's result and converts each record to JSON once;
    later reads of unchanged data reuse both, so the first read and the best later one are reported apart.
    """
    key = "bench-key-not-secret"
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from bench.maximo_simulator import serve; "
         "serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])",
         kind, str(sites), str(assets_per_site), json.dumps(reads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, API_KEY_ENV: key},
    )
    try:
        base = process.stdout.readline().strip() if process.stdout else ""
        if not base.startswith("http://"):
            raise RuntimeError(f"the {kind} did not start (said {base!r})")
        results = []
        with httpx.Client(base_url=base + "/", headers={"apikey": key}, timeout=120) as http:
            if kind == "simulator":
                http.get("oslc/os/mxapimaxgroup", params={"lean": 1}).raise_for_status()  # warm the stack up
            for os_name, page_size in reads:
                walls = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    pages, members, size = read_all(http, first_page(os_name, page_size))
                    walls.append(time.perf_counter() - started)
                results.append({"os": os_name, "page_size": page_size, "pages": pages, "members": members,
                                "mb": size / 1e6, "first_s": walls[0], "again_s": min(walls[1:])})
        return results
    finally:
        if process.stdin:
            process.stdin.close()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 sites x 50 assets instead of 20 x 250")
    args = parser.parse_args()
    sites, per_site = (4, 50) if args.quick else (20, 250)
    reads = [(os_name, size) for os_name in SELECTS for size in (100, 1000)]
    heading(f"Maximo simulator: a full paged read, {sites} sites x {per_site} assets, vs a bare server")
    # a fresh simulator per read, so each "1st" read is really the first on that data
    simulator = [row for read in reads for row in measure("simulator", sites, per_site, [read], repeats=3)]
    bare = measure("bare", sites, per_site, reads, repeats=3)
    table = Table(["object structure", "page size", "pages", "members", "MB", "simulator 1st s", "simulator again s",
                   "bare s", "1st / bare", "again / bare", "simulator 1st members/s", "bare members/s"])
    for sim_row, bare_row in zip(simulator, bare):
        assert (sim_row["pages"], sim_row["members"]) == (bare_row["pages"], bare_row["members"])
        bare_s = bare_row["again_s"]
        table.row(sim_row["os"], sim_row["page_size"], sim_row["pages"], sim_row["members"], sim_row["mb"],
                  sim_row["first_s"], sim_row["again_s"], bare_s, sim_row["first_s"] / bare_s,
                  sim_row["again_s"] / bare_s, sim_row["members"] / sim_row["first_s"], bare_row["members"] / bare_s)


if __name__ == "__main__":
    main()
