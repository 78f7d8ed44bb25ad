"""The rules' pieces: one error family carrying its HTTP status, and team scoping declared by each model."""

from __future__ import annotations

from datetime import date

import pytest
from django.apps import apps
from django.contrib.auth.models import User

from access.http import exception_handler
from access.models import ApiToken, AuditEntry
from access.scoping import is_scoped, scoped, team_of
from alerts.models import Alert, Channel, Delivery, Rule
from baton import errors
from executions import dispatch, lifecycle
from executions.models import Attempt, Batch, DailyOutcome, Event, Fire, NodeRun
from tests.api.conftest import DispatchRecorder, definition, member
from tests.conftest import machine
from workflows.definition import DefinitionError, Problem
from workflows.models import Edge, Membership, Node, Role, Schedule, Task, Team, Workflow, WorkflowVersion
from workflows.quartz import InvalidCronExpression, QuartzCron
from workflows.services import task_save, workflow_save_definition


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.Invalid("no"), 400, "invalid"),
        (errors.PermissionDenied("no"), 403, "permission_denied"),
        (errors.NotFound("no"), 404, "not_found"),
        (errors.Conflict("no"), 409, "conflict"),
        (errors.TransitionNotPossible("no"), 409, "conflict"),
        (errors.NotRunnable("no"), 409, "conflict"),
    ],
)
def test_the_api_answers_each_error_of_the_family_with_its_own_status(error, status, code):
    response = exception_handler(error, {})
    assert (response.status_code, response.data["code"], response.data["detail"]) == (status, code, "no")


def test_the_pure_cores_errors_belong_to_the_family_and_say_where():
    problem = Problem("nodes[0].key", "is required", nodes=("a",), edges=(("start", "a"),))
    response = exception_handler(DefinitionError([problem]), {})
    assert (response.status_code, response.data["detail"]) == (400, "The definition is not valid.")
    assert response.data["errors"] == [
        {"field": "nodes[0].key", "message": "is required", "nodes": ["a"], "edges": [["start", "a"]]}
    ]
    with pytest.raises(InvalidCronExpression) as caught:
        QuartzCron("61 * * * * ?", "UTC")
    response = exception_handler(caught.value, {})
    assert response.status_code == 400 and response.data["errors"][0]["field"] == "expression"
    fields = exception_handler(errors.Invalid.at({"role": "too high"}), {})
    assert fields.data["errors"] == [{"field": "role", "message": "too high"}]


def test_every_model_of_a_team_declares_its_path_to_it():
    declared = {model for model in apps.get_models() if is_scoped(model)}
    definitions = {Team, Membership, Task, Workflow, WorkflowVersion}
    alerting = {Channel, Rule, Alert, Delivery}
    assert declared == definitions | alerting | {
        Batch,
        NodeRun,
        Attempt,
        Event,
        Fire,
        DailyOutcome,
        ApiToken,
        AuditEntry,
    }
    for model in (Node, Edge, Schedule, User):
        with pytest.raises(LookupError, match="has no team scope"):
            scoped(None, model)


@pytest.mark.django_db
def test_each_declared_path_leads_a_row_to_its_team_and_back(monkeypatch):
    monkeypatch.setattr(dispatch, "backend", DispatchRecorder())
    platform, rivals = Team.objects.create(name="platform"), Team.objects.create(name="rivals")
    viewer, outsider = member("victor", platform, Role.VIEWER), member("mallory", rivals, Role.ADMIN)
    workflow = workflow_save_definition(document=definition(), actor=machine()).workflow
    ping = {"team": "platform", "name": "ping", "kind": "shell", "config": {"script": "true"}}
    task = task_save(document=ping, actor=machine())
    rows: list = [lifecycle.batch_start(workflow=workflow, actor=machine())]
    rows += [lifecycle.task_run_start(task=task, actor=machine())]
    rows += [run for batch in rows for run in batch.node_runs.all()] + list(Event.objects.all())
    rows += [platform, viewer.memberships.get(), task, workflow, workflow.current_version, *AuditEntry.objects.all()]
    rows += [DailyOutcome.objects.create(team=platform, workflow=workflow, day=date(2026, 1, 1), status="failed")]
    for row in rows:
        model = type(row)
        assert team_of(row) == platform, row
        assert scoped(viewer, model, Role.VIEWER).filter(pk=row.pk).exists(), row
        assert not scoped(outsider, model).filter(pk=row.pk).exists(), row
