"""Headless Chromium for browser tests, through Playwright's sync API.

The browser is Debian's /usr/bin/chromium; Playwright never downloads one. Tests that use
these fixtures are skipped when that binary is missing (CI installs it).

Use from a test module with `pytest_plugins = ["tests.browser"]`. The sync API keeps an event
loop running in the main thread while it is started, so the browser lives for one module and
that module holds no asyncio tests; async code launches the same browser with
`playwright.chromium.launch(**LAUNCH_OPTIONS)` from `playwright.async_api`.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")

LAUNCH_OPTIONS: dict[str, Any] = {
    "executable_path": str(CHROMIUM),
    "args": [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ],
}


@pytest.fixture(scope="module")
def playwright_runtime() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as runtime:
        yield runtime


@pytest.fixture(scope="module")
def browser(playwright_runtime: Playwright) -> Iterator[Browser]:
    chromium = playwright_runtime.chromium.launch(**LAUNCH_OPTIONS)
    yield chromium
    chromium.close()


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: empty localStorage, no cookies."""
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()
