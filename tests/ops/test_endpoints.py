"""/healthz, /readyz and /metrics: who may read the metrics, and readiness when the database or the broker is down."""

from __future__ import annotations

import json

import httpx
import pytest
from django.test import Client, override_settings

from ops.http import address_allowed
from tests.conftest import database_url, stop_process
from tests.ops.helpers import PYTHON, free_port, start_process

OUTSIDE = "203.0.113.9"  # TEST-NET-3: never routed; only a REMOTE_ADDR in the test client


def test_healthz_answers_without_touching_the_database():
    response = Client().get("/healthz")  # no django_db mark: any query would fail the test
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_are_served_to_loopback_by_default():
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


def test_metrics_are_refused_to_other_addresses_without_a_token():
    response = Client().get("/metrics", REMOTE_ADDR=OUTSIDE)
    assert response.status_code == 403
    assert "baton_" not in response.content.decode()


@override_settings(BATON_METRICS_TOKEN="s3cret-token")
def test_metrics_need_the_bearer_token_from_elsewhere():
    client = Client()
    refused = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    # A wrong token is refused even from an allowed address: what is presented is checked.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


@override_settings(BATON_METRICS_ALLOWED_NETWORKS=("192.0.2.0/24",))
def test_metrics_follow_the_allowed_networks():
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.parametrize(
    ("address", "networks", "allowed"),
    [
        ("127.0.0.1", ("127.0.0.0/8", "::1/128"), True),
        ("::1", ("127.0.0.0/8", "::1/128"), True),
        ("::ffff:127.0.0.1", ("127.0.0.0/8",), True),
        ("198.51.100.1", ("127.0.0.0/8", "::1/128"), False),
        ("198.51.100.1", ("198.51.100.1",), True),
        ("not an address", ("0.0.0.0/0",), False),
        ("198.51.100.1", ("garbage", "198.51.100.0/24"), True),
    ],
)
def test_address_allowed(address, networks, allowed):
    assert address_allowed(address, networks) is allowed


def test_probes_refuse_other_methods():
    assert Client().post("/healthz").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_readyz_is_ready_when_database_broker_and_migrations_are(live_server):
    response = httpx.get(live_server.url + "/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": ["broker", "database", "migrations"]}


def _web(tmp_path, **env: str):
    """Run the web process (gunicorn with config/gunicorn.py, one worker) on a free port of loopback."""
    port = free_port()
    process = start_process(
        [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.py"],
        tmp_path / "web.log",
        {
            "PORT": str(port),
            "WEB_BIND": "127.0.0.1",
            "WEB_CONCURRENCY": "1",
            "BATON_METRICS_DIR": str(tmp_path / "metrics"),
            "BATON_READY_TIMEOUT_SECONDS": "5",
            **env,
        },
        ready="Booting worker",
    )
    return process, f"http://127.0.0.1:{port}"


def _get(url: str) -> httpx.Response:
    for _ in range(50):
        try:
            return httpx.get(url, timeout=15)
        except httpx.ConnectError:  # the worker is still loading the app
            import time

            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("down", "env"),
    [
        ("database", {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/baton"}),  # nothing listens on port 1
        ("broker", {"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}),
    ],
)
def test_readyz_answers_503_naming_what_is_down(tmp_path, down, env):
    process, url = _web(tmp_path, **{"DATABASE_URL": database_url(), **env})
    try:
        health = _get(url + "/healthz")
        ready = _get(url + "/readyz")
        metrics = _get(url + "/metrics")
    finally:
        stop_process(process)
    assert health.status_code == 200  # the process answers, whatever is down
    assert ready.status_code == 503
    body = json.loads(ready.content)
    assert body["status"] == "unavailable"
    assert body["failed"] == [down]
    assert "127.0.0.1" not in ready.text  # the error's class, not its text (addresses stay in the log)
    assert metrics.status_code == 200
    assert (tmp_path / "metrics" / "web").is_dir()  # gunicorn's on_starting took the web's folder
