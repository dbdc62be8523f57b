"""Driving the real Dagster UI in headless Chromium: a demo instance, a webserver on a free port, pages to open.

Shared by the browser test (``ic3_pipeline_tests/ui``) and the README's screenshots (``docs/make_screenshots.py``).
The browser is Debian's Chromium (``/usr/bin/chromium``, or ``IC3_CHROMIUM``) driven by Playwright's Python package;
nothing here downloads a browser.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ENV = "IC3_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 960}
LOCATION = "ic3_pipeline.definitions"  # workspace.yaml's python_module, the code location's name
REPOSITORY = "__repository__"  # what Dagster calls a location's Definitions
GROUPS = ("register", "innomaint", "status")
ASSETS = {
    "register": ("asset_register",),
    # The graph names an asset by the last part of its key (innomaint/asset_details -> asset_details).
    "innomaint": ("asset_details", "asset_performance", "workorder_summary", "sync_status"),
    "status": ("sync_status",),
}
# What the UI remembers in the browser: navigation collapsed, every asset group of the global graph expanded.
UI_LOCAL_STORAGE = {
    "dagster-nav-collapsed": "true",
    "asset-graph-open-graph-nodes-global-__GLOBAL__": json.dumps(
        {"expanded": ",".join(f"global@global:{group}" for group in GROUPS)}
    ),
}


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


def browser_unavailable() -> str | None:
    """Why the UI cannot be driven here (None when it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (it is in the dev extras: pip install -e '.[dev]')"
    path = chromium_path()
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        return f"no Chromium at {path} (Debian: apt-get install chromium; or set {CHROMIUM_ENV})"
    return None


# -- the instance the UI shows ----------------------------------------------------------------------------------


@dataclass
class DemoInstance:
    """A Dagster home and a target database that `ic3 demo` has filled: register imported, every site enriched."""

    root: Path
    output: str  # what `ic3 demo` printed

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'ic3.sqlite'}"

    def env(self) -> dict[str, str]:
        """The environment of a process that works on this instance (and never on the project's own)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INNOMAINT_", "DAGSTER_", "IC3_"))}
        env.update(DAGSTER_HOME=str(self.dagster_home), IC3_DATA_DIR=str(self.data_dir),
                   IC3_DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        return env


def build_demo_instance(root: Path, *, assets: int, sites: int, timeout_s: float = 600) -> DemoInstance:
    """Run `ic3 demo` (sample register, simulator, import, enrichment, status) into ``root``; raise if it fails."""
    instance = DemoInstance(root=Path(root), output="")
    instance.dagster_home.mkdir(parents=True, exist_ok=True)
    # The "join the community" dialog is shown once per Dagster home; this one is a throwaway.
    (instance.dagster_home / ".nux").mkdir(exist_ok=True)
    (instance.dagster_home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "ic3_pipeline.cli", "demo", "--assets", str(assets), "--sites", str(sites)],
        cwd=PROJECT_ROOT, env=instance.env(), capture_output=True, text=True, timeout=timeout_s,
    )
    instance.output = done.stdout + done.stderr
    # Exit status 1 means "some assets still need a retry" (injected faults): the instance is still a real one.
    if done.returncode not in (0, 1) or "Sync status of" not in done.stdout:
        raise RuntimeError(f"`ic3 demo` failed (exit {done.returncode}):\n{instance.output[-4000:]}")
    return instance


def enrichment_run_id(instance: DemoInstance) -> str:
    """The id of the demo's first enrichment run, from the instance's run storage."""
    from dagster import DagsterInstance, RunsFilter
    from dagster._core.instance.ref import InstanceRef

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(instance.dagster_home))) as dagster:
        runs = dagster.get_runs(filters=RunsFilter(job_name="enrich_innomaint"))
    if not runs:
        raise RuntimeError("the demo instance holds no enrich_innomaint run")
    return runs[-1].run_id  # newest first: the last is the first run


# -- the webserver --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Webserver:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextmanager
def webserver(instance: DemoInstance, log: Path, *, startup_timeout_s: float = 60) -> Iterator[Webserver]:
    """``dagster-webserver`` on 127.0.0.1 and a free port, on ``instance``; stopped (with its code server) on exit."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port),
             "-m", "ic3_pipeline.definitions"],
            cwd=PROJECT_ROOT, env=instance.env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops the code server it starts
        )
    server = Webserver(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        _wait_until_serving(server, startup_timeout_s)
        yield server
    finally:
        _stop(process)


def _wait_until_serving(server: Webserver, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited ({server.process.returncode}):\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/server_info", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"dagster-webserver did not answer within {timeout_s:g} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the group this Popen created (start_new_session), nothing else
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


# -- the browser ----------------------------------------------------------------------------------------------


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def new_page(browser):
    """A page in a fresh context: fixed viewport, UTC, English, the UI's remembered layout preset."""
    context = browser.new_context(viewport=VIEWPORT, timezone_id="UTC", locale="en-US", color_scheme="light")
    context.add_init_script(
        "const preset = %s; for (const k in preset) { if (localStorage.getItem(k) === null) "
        "localStorage.setItem(k, preset[k]); }" % json.dumps(UI_LOCAL_STORAGE)
    )
    context.set_default_timeout(30_000)
    return context.new_page()


def settle(page, ms: int = 1200) -> None:
    """Let the graph layout and live data finish (they animate after the text is there)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(ms)


def open_asset_graph(page, base_url: str) -> None:
    """The global asset lineage with every group expanded and zoomed to show it all, the page narrowed to the graph."""
    page.set_viewport_size(VIEWPORT)  # wide enough that the fitted graph shows each asset's details
    page.goto(f"{base_url}/asset-groups")
    for asset in ASSETS["innomaint"]:
        page.get_by_text(asset, exact=True).first.wait_for()
    jump = page.get_by_placeholder(re.compile("Jump to"))
    if jump.count():  # the asset tree beside the graph: hide it, the graph is the picture
        box = jump.bounding_box()
        page.mouse.click(box["x"] + box["width"] + 22, box["y"] + box["height"] / 2)
    page.locator("button:has([aria-label=zoom_out])").click()
    settle(page)
    right = page.evaluate(
        "Math.max(0, ...[...document.querySelectorAll('foreignObject')].map(e => e.getBoundingClientRect().right))"
    )
    if right:  # drop the empty canvas on the right; the graph keeps its zoom and position
        page.set_viewport_size({"width": min(VIEWPORT["width"], max(960, int(right) + 64)), "height": VIEWPORT["height"]})
        settle(page, 600)


def open_group_graph(page, base_url: str, group: str) -> None:
    """One asset group's lineage, fitted: its assets drawn with their partitions and checks, which the global graph,
    zoomed out to hold every source's group, draws too small to show."""
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{base_url}/locations/{REPOSITORY}@{LOCATION}/asset-groups/{group}/lineage")
    for asset in ASSETS.get(group, ()):
        page.get_by_text(asset, exact=True).first.wait_for()
    settle(page)


def open_partitions(page, base_url: str, asset: str, partition: str | None = None) -> None:
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{base_url}/assets/{asset}?view=partitions")
    page.get_by_text(re.compile(r"Materialized \(\d+\)")).wait_for()
    if partition:
        page.get_by_text(partition, exact=True).first.click()
        page.get_by_text("Latest materialization").first.wait_for()
        page.get_by_text("assets due", exact=True).first.wait_for()
    settle(page)


def open_run(page, base_url: str, run_id: str) -> None:
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{base_url}/runs/{run_id}")
    page.get_by_text("RUN_SUCCESS").first.wait_for()
    settle(page)


def open_checks(page, base_url: str, asset: str) -> None:
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{base_url}/assets/{asset}?view=checks")
    page.get_by_text("Latest execution").first.wait_for()
    settle(page, 500)


def screenshot(page, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


# -- the KPI report (`ic3 report`), a local file ------------------------------------------------------------------


def build_kpi_report(folder: Path, days: int = 60) -> Path:
    """A SQLite target in ``folder`` holding ``kpi.report_fixture`` (two months of history, work orders), its daily
    KPIs computed, and the report ``ic3 report`` writes from it; returns the HTML file."""
    from ic3_pipeline.kpi.daily import refresh_daily
    from ic3_pipeline.kpi.html_report import write_report
    from ic3_pipeline.kpi.work_orders import WorkOrderSettings
    from ic3_pipeline.warehouse import ensure_schema, make_engine
    from ic3_pipeline.warehouse.times import utc_now
    from ic3_pipeline_tests.kpi import report_fixture

    engine = make_engine(f"sqlite:///{folder / 'kpi_report.sqlite'}")
    try:
        ensure_schema(engine)
        now = utc_now()
        report_fixture.load(engine, now)
        refresh_daily(engine, now)
        return write_report(folder / "kpi.html", engine, now, WorkOrderSettings(), days)
    finally:
        engine.dispose()


def open_report(page, path: Path) -> list[str]:
    """Open the report file; return every URL the page requested (the file itself, if it is self-contained)."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return requested


def full_page_screenshot(page, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
