"""Regenerate the README's pictures of the Dagster UI: ``make screenshots`` (or ``.venv/bin/python docs/make_screenshots.py``).

It builds a throwaway instance exactly as ``make demo`` does (sample register, the Innomaint simulator, import,
enrichment, status; in a temp folder, so ``.dagster_home`` and ``data/`` are left alone), serves it with
``dagster-webserver`` on a free loopback port, and photographs it in headless Chromium (Debian's ``/usr/bin/chromium``
driven by Playwright; no browser is downloaded):

  docs/asset-graph.png   the global asset graph, every group expanded
  docs/partitions.png    innomaint/asset_details' partitions, one site selected with its sync summary
  docs/kpi-report.png    the HTML report `ic3 report` writes, from the made-up two months of
                         ``ic3_pipeline_tests/kpi/report_fixture.py`` (no demo instance needed: --report-only)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the project root: ic3_pipeline and its test harness

from ic3_pipeline_tests.ui import harness  # noqa: E402

MAX_BYTES = 400_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=2957, help="assets in the sample register (as `make demo`)")
    parser.add_argument("--sites", type=int, default=60, help="sites, i.e. partitions (as `make demo`)")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs")
    parser.add_argument("--partition", default=None, help="the site shown selected (default: the first)")
    parser.add_argument("--report-only", action="store_true", help="only docs/kpi-report.png (no demo instance)")
    args = parser.parse_args(argv)

    unavailable = harness.browser_unavailable()
    if unavailable:
        print(f"Cannot take screenshots: {unavailable}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    shots = []
    with tempfile.TemporaryDirectory(prefix="ic3-screenshots-") as folder, sync_playwright() as playwright:
        browser = harness.launch_browser(playwright)
        page = harness.new_page(browser)
        harness.open_report(page, harness.build_kpi_report(Path(folder)))
        shots.append(harness.full_page_screenshot(page, args.out / "kpi-report.png"))
        browser.close()
    if not args.report_only:
        shots += _photograph_the_ui(args)
    too_big = False
    for shot in shots:
        size = shot.stat().st_size
        too_big |= size > MAX_BYTES
        print(f"  {shot.relative_to(Path.cwd()) if shot.is_relative_to(Path.cwd()) else shot}  {size / 1000:.0f} KB")
    print(f"Done in {time.monotonic() - started:.0f} s.")
    if too_big:
        print(f"A screenshot is over {MAX_BYTES // 1000} KB: keep the README light.", file=sys.stderr)
        return 1
    return 0


def _photograph_the_ui(args) -> list[Path]:
    """The Dagster UI pictures, from a throwaway demo instance."""
    from playwright.sync_api import sync_playwright

    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="ic3-screenshots-") as folder:
        print(f"Building a demo instance ({args.assets} assets, {args.sites} sites) in {folder} …", flush=True)
        instance = harness.build_demo_instance(Path(folder), assets=args.assets, sites=args.sites)
        with harness.webserver(instance, Path(folder) / "webserver.log") as server, sync_playwright() as playwright:
            browser = harness.launch_browser(playwright)
            page = harness.new_page(browser)
            harness.open_asset_graph(page, server.url)
            shots.append(harness.screenshot(page, args.out / "asset-graph.png"))
            partition = args.partition or _first_site(instance)
            harness.open_partitions(page, server.url, "innomaint/asset_details", partition=partition)
            shots.append(harness.screenshot(page, args.out / "partitions.png"))
            browser.close()
    return shots


def _first_site(instance: harness.DemoInstance) -> str:
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(instance.dagster_home))) as dagster:
        return sorted(dagster.get_dynamic_partitions("sites"))[0]


if __name__ == "__main__":
    sys.exit(main())
