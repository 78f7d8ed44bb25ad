"""The admin's worker list: the live test worker, its queues, and a warning for a queue no worker consumes."""

from __future__ import annotations

import os
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ops.models import WorkerHeartbeat
from ops.selectors import control_queues_without_worker, queues_without_worker
from tests.conftest import import_definition
from tests.ops.helpers import two_step_workflow, unique_name
from workflows.models import Membership, Role, Team

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _test_worker() -> WorkerHeartbeat:
    """Return the session worker's row (written again within half a second after a test's flush)."""
    deadline = time.monotonic() + 10
    while True:
        row = WorkerHeartbeat.objects.filter(name__startswith=f"test-default-{os.getpid()}@").first()
        if row is not None or time.monotonic() > deadline:
            assert row is not None, "the test worker wrote no heartbeat row"
            return row
        time.sleep(0.1)


def _admin() -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-not-used-1")
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_lists_the_live_worker_with_its_queues(worker):
    row = _test_worker()
    assert row.is_alive() and row.queues == ["default"] and row.stopped_at is None
    page = _admin().get("/admin/ops/workerheartbeat/")
    assert page.status_code == 200
    html = page.content.decode()
    assert row.name in html and "worker-alive" in html


def test_the_admin_warns_of_a_queue_that_enabled_workflows_use_and_no_worker_consumes(worker, tmp_path):
    _test_worker()
    lonely = unique_name("nobody-consumes")
    name = unique_name("stuck")
    import_definition(two_step_workflow(name, queue=lonely, enabled=True), tmp_path)
    import_definition(two_step_workflow(unique_name("served"), enabled=True), tmp_path)  # on `default`
    import_definition(two_step_workflow(unique_name("off"), queue=unique_name("off-queue")), tmp_path)  # disabled

    assert queues_without_worker() == {lonely: [name]}
    html = _admin().get("/admin/ops/workerheartbeat/").content.decode()
    assert f"No live worker consumes queue {lonely}" in html and name in html
    # The session's worker consumes `default` only: no one runs the scheduler's tick and the sweep, nor the alerts.
    assert control_queues_without_worker() == ["baton-alerts", "baton-control"]
    assert "No live worker consumes queue baton-control: the scheduler does not fire" in html
    assert "No live worker consumes queue baton-alerts: no alert is decided or sent" in html


def test_a_staff_member_is_warned_only_of_the_workflows_of_their_teams(worker, tmp_path):
    _test_worker()
    theirs, others = unique_name("q-theirs"), unique_name("q-others")
    import_definition({**two_step_workflow(unique_name("mine"), queue=theirs, enabled=True), "team": "blue"}, tmp_path)
    import_definition(
        {**two_step_workflow(unique_name("not-mine"), queue=others, enabled=True), "team": "red"}, tmp_path
    )
    member = get_user_model().objects.create_user("bo", "bo@example.com", "pw-not-used-2", is_staff=True)
    Membership.objects.create(user=member, team=Team.objects.get(name="blue"), role=Role.VIEWER)
    client = Client()
    client.force_login(member)

    html = client.get("/admin/ops/workerheartbeat/").content.decode()

    assert f"No live worker consumes queue {theirs}" in html
    assert others not in html
