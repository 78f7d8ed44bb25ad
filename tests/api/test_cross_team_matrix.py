"""Every /api/v1/ endpoint, generated from the URL conf, tried by mallory with another team's ids.

Path ids, filter ids and body references of team "platform" must be invisible to a member
of team "rivals": 404 for paths, 400 for filters and bodies, no platform data in any response,
and no platform row changed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.forms.models import model_to_dict

from access.api import ScopedModelChoiceFilter
from access.models import AuditEntry
from alerts.models import Alert, Channel, Delivery, Rule
from alerts.services import channel_save, rule_save
from config.api import v1
from executions import lifecycle
from executions.models import Batch, Event, NodeRun
from tests.api.conftest import definition
from tests.conftest import acting
from workflows.models import Node, Schedule, Task, Workflow, WorkflowVersion

pytestmark = pytest.mark.django_db

SECRET = "zebra"  # every platform name contains it; nothing mallory sends does
METHODS = ("get", "post", "put", "patch", "delete")
PREFIX_MODEL = {
    "workflows": Workflow,
    "tasks": Task,
    "batches": Batch,
    "node-runs": NodeRun,
    "audit": AuditEntry,
    "alert-channels": Channel,
    "alert-rules": Rule,
    "alerts": Alert,
    "alert-deliveries": Delivery,
}
WATCHED = (Workflow, Task, Node, WorkflowVersion, Batch, NodeRun, Event, Schedule, Channel, Rule, Alert, Delivery)


@pytest.fixture
def platform_rows(platform, alice, client_for):
    """Platform owns a workflow, a standalone task, a batch with node runs and an audit entry."""
    client = client_for(alice)
    document = definition(SECRET, "platform", trigger={"type": "cron", "expression": "0 0 2 * * ?", "timezone": "UTC"})
    workflow = Workflow.objects.get(pk=client.post("/api/v1/workflows/", document, format="json").json()["id"])
    task_body = {"team": "platform", "name": f"{SECRET}-solo", "kind": "python", "config": {"callable": "baton.echo"}}
    task = Task.objects.get(pk=client.post("/api/v1/tasks/", task_body, format="json").json()["id"])
    batch = lifecycle.batch_start(workflow=workflow, actor=acting(alice))
    NodeRun.objects.filter(batch=batch).update(output=f"{SECRET} classified output")
    finished = lifecycle.batch_start(workflow=workflow, actor=acting(alice))
    lifecycle.batch_stop(batch_id=finished.pk, actor=acting(alice))
    hook = {"url": "https://hooks.example.com/x", "secret": f"{SECRET}-key"}
    channel_document = {"team": "platform", "name": f"{SECRET}-hook", "kind": "webhook", "config": hook}
    channel = channel_save(document=channel_document, actor=acting(alice))
    rule_document = {"team": "platform", "workflow": SECRET, "triggers": ["stopped"], "channels": [channel.name]}
    rule = rule_save(document=rule_document, actor=acting(alice))
    alert = Alert.objects.create(
        team=platform,
        rule=rule,
        batch_id=finished.pk,
        workflow=workflow,
        trigger="stopped",
        created_at=finished.created_at,
    )
    delivery = Delivery.objects.create(alert=alert, channel=channel, due_at=finished.created_at, last_error=SECRET)
    return {
        Channel: channel.pk,
        Rule: rule.pk,
        Alert: alert.pk,
        Delivery: delivery.pk,
        Workflow: workflow.pk,
        Task: task.pk,
        Batch: batch.pk,
        NodeRun: NodeRun.objects.filter(batch=batch).first().pk,
        AuditEntry: AuditEntry.objects.filter(team=platform).first().pk,
        "finished_batch": finished.pk,
    }


def fingerprint() -> dict[str, Any]:
    return {
        model.__name__: sorted(json.dumps(model_to_dict(o), default=str, sort_keys=True) for o in model.objects.all())
        for model in WATCHED
    }


def endpoints() -> list[tuple[str, Any]]:
    """Return (regex, callback) of every /api/v1/ route."""
    return [(str(p.pattern), p.callback) for p in v1]


def fill(regex: str, values: dict[str, str]) -> str:
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m.group(1)], regex.lstrip("^").rstrip("$"))
    return "/api/v1/" + path.replace("\\", "")


def foreign_path_values(regex: str, rows: dict[Any, Any]) -> dict[str, str]:
    prefix = regex.lstrip("^").split("/")[0]
    assert prefix in PREFIX_MODEL or "(?P<" not in regex, f"new endpoint {regex!r}: add its model to the matrix"
    model = PREFIX_MODEL.get(prefix)
    return {"pk": str(rows.get(model, "")), "number": "1"}


def bodies(regex: str) -> list[Any]:
    """Bodies that name platform's objects from mallory's side."""
    own = definition("heist2", "rivals")
    own["nodes"][0]["task"] = f"{SECRET}-solo"  # platform's standalone task, by name
    return [
        definition("heist3", "platform"),
        own,
        {"team": "platform", "name": "heist-task", "kind": "python", "config": {"callable": "baton.echo"}},
        {},
    ]


def assert_no_leak(response, sent: Any = None) -> None:
    """Fail on a 5xx or on platform data in the response (beyond echoes of what mallory sent herself)."""
    assert response.status_code < 500, (response.request, response.content[:500])
    content = response.content.decode("utf-8", "replace")
    for echoed in re.findall(rf"[\w.-]*{SECRET}[\w.-]*", json.dumps(sent)) if sent is not None else []:
        content = content.replace(echoed, "")
    assert SECRET not in content, (response.request, response.content[:500])


def test_every_endpoint_hides_another_teams_objects(client_for, mallory, rival_workflow, platform_rows, platform):
    client = client_for(mallory)
    before = fingerprint()
    denied_before = AuditEntry.objects.filter(action="denied", team=platform).count()
    tried = 0
    for regex, _callback in endpoints():
        if "(?P<" not in regex:
            continue
        url = fill(regex, foreign_path_values(regex, platform_rows))
        cache.clear()  # the trigger throttle (60 a minute) would answer 429 before the lookup is tried
        for method in METHODS:
            for body in bodies(regex) if method in ("post", "put", "patch") else [None]:
                response = (
                    getattr(client, method)(url, body, format="json")
                    if body is not None
                    else getattr(client, method)(url)
                )
                assert response.status_code in (404, 405), (method, url, response.status_code, response.content[:300])
                assert_no_leak(response, body)
                tried += 1
    assert tried > 50
    assert fingerprint() == before, "a platform row changed"
    assert AuditEntry.objects.filter(action="denied", team=platform).count() > denied_before


def test_bulk_actions_on_foreign_batches_say_not_found_and_change_nothing(
    client_for, mallory, rival_workflow, platform_rows
):
    client = client_for(mallory)
    before = fingerprint()
    for action in ("stop", "rerun", "resume"):
        foreign = [platform_rows["finished_batch"], platform_rows[Batch]]
        response = client.post("/api/v1/batches/bulk/", {"action": action, "batches": foreign}, format="json")
        assert response.status_code == 200, response.content[:300]
        results = response.json()["results"]
        assert [r["ok"] for r in results] == [False, False] and all(r["status"] is None for r in results), results
        assert_no_leak(response)
    assert fingerprint() == before


def test_finished_foreign_batch_cannot_be_rerun_or_resumed(client_for, mallory, rival_workflow, platform_rows):
    client = client_for(mallory)
    before = fingerprint()
    for action in ("rerun", "resume", "stop", "rerun-plan"):
        method = client.get if action == "rerun-plan" else client.post
        response = method(f"/api/v1/batches/{platform_rows['finished_batch']}/{action}/")
        assert response.status_code == 404
        assert_no_leak(response)
    assert fingerprint() == before


def test_every_list_refuses_foreign_ids_in_filters_and_shows_no_foreign_rows(
    client_for, mallory, rival_workflow, platform_rows, platform
):
    client = client_for(mallory)
    foreign = {**platform_rows, "Team": platform.pk}
    checked = 0
    for regex, callback in endpoints():
        if "(?P<" in regex:
            continue
        url = fill(regex, {})
        view = getattr(callback, "cls", None)
        filterset = getattr(view, "filterset_class", None)
        if "get" not in getattr(callback, "actions", {"get": None}):
            continue  # a POST-only route of a list (bulk actions): its body is checked below
        plain = client.get(url, {"expression": "0 0 2 * * ?"} if "cron" in url else {})
        assert plain.status_code == 200, (url, plain.content[:300])
        assert_no_leak(plain)
        for name, flt in filterset.base_filters.items() if filterset else []:
            if isinstance(flt, ScopedModelChoiceFilter):
                value = foreign[flt.scope_model] if flt.scope_model in foreign else foreign["Team"]
                response = client.get(url, {name: value})
                assert response.status_code == 400, (url, name, response.content[:300])
                assert_no_leak(response)
                checked += 1
        # Free-text filters that take another team's batch id just match nothing.
        response = client.get(url, {"batch": platform_rows[Batch], "id": platform_rows[Batch]})
        assert_no_leak(response)
    assert checked >= 5


def test_bodies_naming_foreign_objects_are_refused_and_change_nothing(
    client_for, mallory, rival_workflow, platform_rows
):
    client = client_for(mallory)
    before = fingerprint()
    alert_bodies = [
        {"team": "platform", "name": "heist", "kind": "email", "config": {"to": ["x@example.com"]}},
        {"team": "rivals", "triggers": ["failed"], "channels": [f"{SECRET}-hook"]},
        {"team": "rivals", "triggers": ["failed"], "workflow": SECRET},
    ]
    for url in ("/api/v1/workflows/", "/api/v1/tasks/", "/api/v1/alert-channels/", "/api/v1/alert-rules/"):
        for body in bodies(url) + (alert_bodies if "alert" in url else []):
            response = client.post(url, body, format="json")
            assert response.status_code in (400, 403), (url, body, response.content[:300])
            assert_no_leak(response, body)
    own = definition("heist", "rivals")
    own["nodes"][0]["task"] = f"{SECRET}-solo"
    response = client.put(f"/api/v1/workflows/{rival_workflow.pk}/", own, format="json")
    assert response.status_code == 400
    assert fingerprint() == before
