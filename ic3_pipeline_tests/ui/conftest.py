"""Fixtures of the browser test: one demo instance, one webserver and one Chromium for the whole module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ic3_pipeline_tests.ui import harness

ARTIFACTS_ENV = "IC3_UI_ARTIFACTS"
DEFAULT_ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # git-ignored; CI may upload it
ASSETS, SITES = 120, 6


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get(ARTIFACTS_ENV) or DEFAULT_ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def ui_instance(tmp_path_factory) -> harness.DemoInstance:
    """A Dagster home and SQLite target that `ic3 demo --assets 120 --sites 6` filled (temp dirs, own simulator)."""
    return harness.build_demo_instance(tmp_path_factory.mktemp("ui_demo"), assets=ASSETS, sites=SITES)


@pytest.fixture(scope="module")
def ui(ui_instance, artifacts) -> Iterator[harness.Webserver]:
    with harness.webserver(ui_instance, artifacts / "webserver.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = harness.launch_browser(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, ui, artifacts, request):
    """A fresh page; its last state is saved as ``artifacts/<test>-last.png`` whatever the outcome."""
    page = harness.new_page(browser)
    yield page
    try:
        page.screenshot(path=str(artifacts / f"{request.node.name}-last.png"))
    finally:
        page.context.close()
