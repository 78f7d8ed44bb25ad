"""A worker pings its database connection only when it sat idle (config/celery.py)."""

from __future__ import annotations

import pytest
from django.db import connection

from config import celery as worker_app

pytestmark = pytest.mark.django_db(transaction=True)  # the worker's connection is in autocommit


@pytest.fixture
def health_checks(settings):
    enabled = connection.health_check_enabled
    connection.health_check_enabled = True  # as CONN_HEALTH_CHECKS sets it for the worker's connection
    yield
    connection.health_check_enabled = enabled


def test_a_connection_used_by_the_last_task_a_moment_ago_is_not_pinged(health_checks, monkeypatch):
    connection.ensure_connection()
    worker_app._retire_stale_connections_after()  # a task just ended
    connection.health_check_done = False
    before = connection.health_check_done
    worker_app._retire_stale_connections_before()
    assert before is False and connection.health_check_done is True  # nothing to send before the claim

    monkeypatch.setattr(worker_app, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if the worker sat idle
    worker_app._retire_stale_connections_after()
    worker_app._retire_stale_connections_before()
    assert connection.health_check_done is False  # the first query of the task pings first

    worker_app._retire_stale_connections_after()
    connection.errors_occurred = True  # the last task saw the server go away: Django checks it, however recent
    try:
        worker_app._retire_stale_connections_before()
        assert connection.errors_occurred is False  # checked (and found usable) before the skip could apply
    finally:
        connection.errors_occurred = False
