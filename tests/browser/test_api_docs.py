"""The interactive API docs in a real headless Chromium: they render, and nothing leaves for another host."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("path", "rendered"), [("/api/redoc/", "text=Baton API"), ("/api/docs/", ".swagger-ui .info")])
def test_the_api_docs_load_nothing_from_another_host(browser, live_server, path, rendered):
    """Redoc's bundle asks for its logo at cdn.redoc.ly: the page's policy must stop it inside the browser."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    requested: list[str] = []
    stopped_by_policy: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: request.failure == "csp" and stopped_by_policy.append(request.url))
    page.goto(f"{live_server.url}{path}")
    page.wait_for_selector(rendered)
    page.wait_for_load_state("networkidle")
    context.close()
    own = urlsplit(live_server.url).netloc
    elsewhere = [url for url in requested if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != own]
    assert sorted(elsewhere) == sorted(stopped_by_policy), "a request left the browser for another host"
    assert any("/static/drf_spectacular_sidecar/" in url for url in requested)
