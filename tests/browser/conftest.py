"""Browser tests: Debian's Chromium (`apt-get install chromium`) driven by Playwright against a live server.

Never downloads a browser: the tests are skipped when /usr/bin/chromium or the playwright
package is missing. Screenshots for the docs are written to docs/ when BATON_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

CHROMIUM = os.environ.get("BATON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real headless Chromium against a live server")


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module; Playwright's event loop must not outlive the module.

    Playwright's sync API runs an event loop in this thread, so Django's async-safety guard
    is relaxed while it lives (the test's own ORM calls and the database flush stay synchronous)
    and both end with the module, before any other test runs.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture(autouse=True)
def fresh_plans():
    """Forget cached plans: version ids repeat across rolled-back tests, and the live server runs in this process."""
    from executions import runtime

    runtime.blueprints.clear()


def login(browser, base_url: str, username: str, password: str, viewport=(1366, 900)):
    """Return a new page logged in to the admin as `username`."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
    page.base = base_url
    return page


@pytest.fixture
def page(browser, live_server):
    """A logged-in superuser's page at laptop size."""
    get_user_model().objects.create_superuser("alice", "", "pw-alice-123")
    page = login(browser, live_server.url, "alice", "pw-alice-123")
    yield page
    page.context.close()


def screenshot(page, name: str, selector: str | None = None) -> None:
    """Save a PNG for the docs when BATON_SCREENSHOTS=1 (kept under 300 KB by clipping to the widget)."""
    if os.environ.get("BATON_SCREENSHOTS") != "1":
        return
    target = page.locator(selector) if selector else page
    target.screenshot(path=str(DOCS / name))


def batch_settled(page, status: str, timeout: int = 30_000) -> None:
    """Wait until the batch page shows `status` and has drawn its final state (after its one reload)."""
    page.wait_for_selector(f'#batch-live[data-live="final"][data-status="{status}"]', timeout=timeout)
