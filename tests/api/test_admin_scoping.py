"""The admin obeys the team rules for staff who are not superusers (SPEC §7)."""

from __future__ import annotations

import pytest
from django.test import Client

from access.models import AuditEntry
from executions import lifecycle
from tests.conftest import machine
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_lists_show_only_the_users_teams(alice, mallory, workflow, rival_workflow):
    page = browser(alice).get("/admin/workflows/workflow/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "release" in content and "heist" not in content and "rivals" not in content
    tasks = browser(mallory).get("/admin/workflows/task/").content.decode()
    assert "heist-a" in tasks and "release-a" not in tasks


def test_another_teams_objects_are_not_found_and_the_attempt_is_audited(alice, rival_workflow, rivals):
    client = browser(alice)
    response = client.get(f"/admin/workflows/workflow/{rival_workflow.pk}/change/")
    assert response.status_code == 302  # the admin's "does not exist" redirect
    batch = lifecycle.batch_start(workflow=rival_workflow, actor=machine())
    assert client.get(f"/admin/executions/batch/{batch.pk}/change/").status_code == 302
    assert client.post(f"/admin/executions/batch/{batch.pk}/stop/").status_code == 404
    denied = AuditEntry.objects.filter(action="denied", team=rivals)
    assert sum(denied.values_list("count", flat=True)) == 3  # one row per minute, with its count
    assert batch.__class__.objects.get(pk=batch.pk).stop_requested_at is None


def test_viewer_sees_but_cannot_change_or_stop(carol, workflow):
    client = browser(carol)
    page = client.get(f"/admin/workflows/workflow/{workflow.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    batch = lifecycle.batch_start(workflow=workflow, actor=machine())
    refused = client.post(f"/admin/executions/batch/{batch.pk}/stop/", follow=True)
    assert [str(m) for m in refused.context["messages"]] == [
        f"Stopping batch {batch.pk} needs the operator role in team platform."
    ]
    assert batch.__class__.objects.get(pk=batch.pk).stop_requested_at is None


def test_operator_stops_from_the_admin_and_it_is_audited(bob, workflow):
    batch = lifecycle.batch_start(workflow=workflow, actor=machine())
    response = browser(bob).post(f"/admin/executions/batch/{batch.pk}/stop/")
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="batch.stop", via="admin", object_id=batch.pk).exists()


def test_editor_cannot_save_a_definition_into_another_team(alice, rivals):
    import json

    from tests.api.conftest import definition

    response = browser(alice).post(
        "/admin/workflows/workflow/add/", {"definition": json.dumps(definition("x", "rivals"))}
    )
    assert response.status_code == 200 and b"no team named" in response.content
    assert not Workflow.objects.filter(name="x").exists()


def test_audit_and_tokens_pages_are_for_team_admins(alice, bob):
    assert browser(alice).get("/admin/access/auditentry/").status_code == 200
    assert browser(bob).get("/admin/access/auditentry/").status_code == 403
    assert browser(bob).get("/admin/access/apitoken/").status_code == 403
