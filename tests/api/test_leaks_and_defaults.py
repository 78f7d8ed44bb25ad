"""Leaks and defaults (issue 10, item 13): denied probes, the shared cache, the login throttle, the docs' policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache, caches
from django.core.handlers.base import BaseHandler
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.cache import SharedRedisCache
from access.models import ApiToken, AuditEntry
from tests.api.conftest import make_token
from tests.conftest import REPO
from workflows.models import Role

pytestmark = pytest.mark.django_db


def test_denied_attempts_are_one_row_per_actor_team_and_minute(client_for, alice, rival_workflow, rivals):
    client = client_for(alice)
    with time_machine.travel(datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC), tick=False):
        for _ in range(40):
            assert client.get(f"/api/v1/workflows/{rival_workflow.pk}/").status_code == 404
        assert client.get("/api/v1/batches/", {"workflow": rival_workflow.pk}).status_code == 400
    entry = AuditEntry.objects.get(action="denied")
    assert (entry.team, entry.actor, entry.count) == (rivals, alice, 41)
    assert entry.after["path"] == f"/api/v1/workflows/{rival_workflow.pk}/"
    with time_machine.travel(datetime(2026, 3, 2, 12, 1, 5, tzinfo=UTC), tick=False):
        client.get(f"/api/v1/workflows/{rival_workflow.pk}/")
    assert list(AuditEntry.objects.filter(action="denied").order_by("at").values_list("count", flat=True)) == [41, 1]
    assert client_for(alice).get("/api/v1/audit/").json()["count"] == 0  # alice is not an admin of rivals


def answer_unsent(url: str, raw_token: str):
    """Run a request through the whole middleware chain; return the response (not yet sent) and its query count."""
    handler = BaseHandler()
    handler.load_middleware()
    request = RequestFactory().get(url, HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    with CaptureQueriesContext(connection) as queries:
        response = handler.get_response(request)
    return response, len(queries)


@pytest.fixture
def keep_test_connection():
    """Keep the end of a request from closing the test's connection (as Django's test client arranges)."""
    request_finished.disconnect(close_old_connections)
    yield
    request_finished.connect(close_old_connections)


def test_a_denied_lookup_answers_with_the_work_of_an_unknown_one(platform, rival_workflow, keep_test_connection):
    raw = make_token(platform, Role.OPERATOR)
    ApiToken.objects.update(last_used_at=timezone.now())
    unknown, unknown_queries = answer_unsent("/api/v1/workflows/987654321/", raw)
    denied, denied_queries = answer_unsent(f"/api/v1/workflows/{rival_workflow.pk}/", raw)
    assert unknown.status_code == denied.status_code == 404 and unknown.content == denied.content
    assert denied_queries == unknown_queries
    assert not AuditEntry.objects.filter(action="denied").exists()  # written once the answer has gone out
    denied.close()
    unknown.close()
    assert AuditEntry.objects.filter(action="denied").count() == 1


def cache_backend(**env: str) -> str:
    """Return the class name of the default cache under the given environment (a fresh process)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "CELERY_BROKER_URL")}
    code = (
        "import django; django.setup(); from django.core.cache import caches; print(type(caches['default']).__name__)"
    )
    env = {**clean, **env, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_cache_is_shared_whenever_the_broker_is_redis():
    assert cache_backend(CELERY_BROKER_URL="redis://127.0.0.1:6379/9") == "SharedRedisCache"
    assert cache_backend(CELERY_BROKER_URL="batonfs://localhost//") == "LockedFileCache"
    assert cache_backend(CELERY_BROKER_URL="redis://127.0.0.1:6379/9", CACHE_URL="locmem://") == "LocMemCache"


def worker_conf(name: str, **env: str) -> str:
    """Return a setting of Baton's Celery app under the given environment (a fresh process)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "CELERY_BROKER_URL")}
    code = f"import django; django.setup(); from config.celery import app; print(app.conf.{name})"
    env = {**clean, **env, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_worker_on_rabbitmq_reconnects_when_the_broker_closes_its_channel():
    # RabbitMQ closes the channel of a delivery held past consumer_timeout; Celery's default stops the worker.
    for url in ("amqp://guest:guest@127.0.0.1:5672/baton", "amqps://u:p@mq.example.com:5671/baton"):
        assert worker_conf("broker_channel_error_retry", CELERY_BROKER_URL=url) == "True"
    assert worker_conf("broker_channel_error_retry", CELERY_BROKER_URL="redis://127.0.0.1:6379/9") == "False"
    assert worker_conf("task_acks_late", CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/baton") == "True"


def test_clearing_the_shared_cache_leaves_the_brokers_keys():
    if not isinstance(caches["default"], SharedRedisCache):
        pytest.skip("the broker is not Redis")
    client = cache._cache.get_client(None, write=True)
    client.set("baton-test-broker-key", "queued")
    cache.set("throttle", [1, 2])
    try:
        cache.clear()
        assert cache.get("throttle") is None and client.get("baton-test-broker-key") == b"queued"
    finally:
        client.delete("baton-test-broker-key")


def test_the_admin_login_locks_out_after_repeated_failures(settings):
    User.objects.create_user("olga", password="pw-olga-123", is_staff=True)
    prober = Client(REMOTE_ADDR="192.0.2.7")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert prober.post("/admin/login/", {"username": "olga", "password": "guess"}).status_code == 200
    locked = prober.post("/admin/login/", {"username": "olga", "password": "guess"})
    assert locked.status_code == 429 and "too many" in locked.content.decode().lower()
    # The right password does not get in while the lock lasts, from this address or (for olga) any other.
    assert prober.post("/admin/login/", {"username": "olga", "password": "pw-olga-123"}).status_code == 429
    owner = Client(REMOTE_ADDR="198.51.100.1")
    assert owner.post("/admin/login/", {"username": "olga", "password": "pw-olga-123"}).status_code == 429
    User.objects.create_user("petra", password="pw-petra-123", is_staff=True)
    assert owner.post("/admin/login/", {"username": "petra", "password": "pw-petra-123"}).status_code == 302


def test_a_successful_login_forgets_earlier_failures(settings):
    User.objects.create_user("olga", password="pw-olga-123", is_staff=True)
    client = Client(REMOTE_ADDR="192.0.2.8")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/admin/login/", {"username": "olga", "password": "typo"})
    assert client.post("/admin/login/", {"username": "olga", "password": "pw-olga-123"}).status_code == 302
    client.logout()
    assert client.post("/admin/login/", {"username": "olga", "password": "typo"}).status_code == 200


def test_the_api_docs_forbid_other_hosts_and_inline_scripts(client):
    for url in ("/api/docs/", "/api/redoc/"):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self';" in policy
        assert "http" not in policy and "*" not in policy
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), html  # the policy would refuse an inline script
        assert not re.search(r"(src|href)=\"(https?:)?//", html), html
    script = client.get("/api/docs/", {"script": ""})
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
