"""Every audited action is audited from every interface that offers it: the admin, the API and the CLI.

Each case performs one action through one interface and finds exactly one new audit row, naming
the actor, the interface and the object. The services write it in the action's own transaction:
a refused action leaves none, and a row that cannot be written undoes the action. Baton's own
acts (the scheduler's fires, the sweep's timeouts) are in the fire log and the events instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from access import actors
from access.models import ApiToken, AuditEntry
from access.services import membership_change, token_revoke
from executions import dispatch, lifecycle
from executions.models import Batch, Fire
from executions.scheduler import tick
from executions.states import BatchStatus
from tests.api.conftest import definition, make_token, member, post_json, token_client
from tests.conftest import machine
from tests.executions.conftest import Recorder
from workflows.models import Membership, Role, Schedule, Task, Team, Workflow
from workflows.services import task_save, workflow_delete, workflow_save_definition, workflow_set_enabled

pytestmark = pytest.mark.django_db
PING = {"team": "platform", "name": "ping", "kind": "python", "config": {"callable": "baton.noop"}}


@pytest.fixture(autouse=True)
def recorder(monkeypatch) -> Recorder:
    fake = Recorder()
    monkeypatch.setattr(dispatch, "backend", fake)
    return fake


@pytest.fixture
def world(tmp_path) -> SimpleNamespace:
    """Team platform (alice its admin, carol a viewer), a workflow, a standalone task, a running and a stopped batch."""
    platform = Team.objects.create(name="platform")
    alice = member("alice", platform, Role.ADMIN, staff=True)
    alice.user_permissions.add(Permission.objects.get(codename="define_shell_task"))
    carol = member("carol", platform, Role.VIEWER, staff=True)
    User.objects.create_user("dan")
    workflow = workflow_save_definition(document=definition(), actor=machine()).workflow
    task = task_save(document=PING, actor=machine())
    running = lifecycle.batch_start(workflow=workflow, actor=machine())
    stopped = lifecycle.batch_start(workflow=workflow, actor=machine())
    lifecycle.batch_stop(batch_id=stopped.pk, actor=machine())
    make_token(platform, Role.OPERATOR, created_by=alice)
    return SimpleNamespace(
        platform=platform,
        alice=User.objects.get(pk=alice.pk),
        carol=carol,
        workflow=workflow,
        task=task,
        running=running,
        stopped=stopped,
        token=ApiToken.objects.get(),
        files=tmp_path,
        baseline=AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
    )


def new_rows(w: SimpleNamespace) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(pk__gt=w.baseline).order_by("pk"))


# --- the interfaces -----------------------------------------------------------------------------


def browser(w: SimpleNamespace) -> Client:
    client = Client()
    client.force_login(w.alice)
    return client


def admin_post(w: SimpleNamespace, url: str, data: dict[str, Any] | None = None) -> None:
    response = browser(w).post(url, data or {})
    assert response.status_code == 302, response.content.decode()[:3000]
    errors = [m.message for m in response.wsgi_request._messages if m.level_tag == "error"]
    assert not errors, errors


def admin_url(model: type[models.Model], pk: Any, suffix: str = "change") -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{suffix}", args=[pk])


def task_form(**fields: Any) -> dict[str, Any]:
    values = {
        "name": "ping",
        "kind": "python",
        "config": {"callable": "baton.noop"},
        "description": "",
        "timeout_seconds": 60,
        "retries": 0,
        "retry_interval_seconds": 0,
        "queue": "default",
        "trigger": {"type": "none"},
        **fields,
    }
    return {k: json.dumps(v) if k in ("config", "trigger") else v for k, v in values.items()}


def members_form(
    w: SimpleNamespace, *, change: dict[int, str] | None = None, delete: int | None = None, add: str | None = None
) -> dict[str, Any]:
    """The team page's members as the browser posts them, with one row changed, deleted or added."""
    rows = list(w.platform.memberships.select_related("user").order_by("pk"))
    data: dict[str, Any] = {
        "name": "platform",
        "description": "",
        "memberships-INITIAL_FORMS": len(rows),
        "memberships-TOTAL_FORMS": len(rows) + bool(add),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    for i, row in enumerate(rows):
        role = (change or {}).get(row.pk, row.role)
        prefix = f"memberships-{i}-"
        data |= {f"{prefix}id": row.pk, f"{prefix}team": w.platform.pk, f"{prefix}user": row.user.username}
        data |= {f"{prefix}role": role} | ({f"{prefix}DELETE": "on"} if row.pk == delete else {})
    if add:
        prefix = f"memberships-{len(rows)}-"
        data |= {f"{prefix}team": w.platform.pk, f"{prefix}user": add, f"{prefix}role": Role.OPERATOR}
    return data


def api(w: SimpleNamespace) -> APIClient:
    client = APIClient()
    client.force_authenticate(w.alice)
    return client


def api_ok(response) -> None:
    assert response.status_code in (200, 201, 204), response.content.decode()[:3000]


def cli(w: SimpleNamespace, *args: str) -> None:
    call_command(*args, "--as", "alice", stdout=StringIO(), stderr=StringIO())


def definition_file(w: SimpleNamespace, document: dict[str, Any]) -> str:
    path = Path(w.files) / "definition.json"
    path.write_text(json.dumps(document))
    return str(path)


def carols_membership(w: SimpleNamespace) -> Membership:
    return w.carol.memberships.get()


Perform = Callable[[SimpleNamespace], Any]  # does the action; returns the object its audit row must name
CASES: dict[tuple[str, str], Perform] = {}


def case(via: str, action: str) -> Callable[[Perform], Perform]:
    def register(perform: Perform) -> Perform:
        CASES[via, action] = perform
        return perform

    return register


@case("admin", "workflow.create")
def _(w):
    admin_post(w, reverse("admin:workflows_workflow_add"), {"definition": json.dumps(definition("fresh"))})
    return Workflow.objects.get(name="fresh")


@case("admin", "workflow.update")
def _(w):
    admin_post(w, admin_url(Workflow, w.workflow.pk), {"definition": json.dumps(definition(description="2"))})
    return w.workflow


@case("admin", "workflow.delete")
def _(w):
    admin_post(w, admin_url(Workflow, w.workflow.pk, "delete"), {"post": "yes"})
    return w.workflow


@case("admin", "workflow.disable")
def _(w):
    admin_post(w, admin_url(Workflow, w.workflow.pk, "disable"))
    return w.workflow


@case("admin", "workflow.run")
def _(w):
    admin_post(w, admin_url(Workflow, w.workflow.pk, "run"))
    return w.workflow


@case("admin", "task.create")
def _(w):
    admin_post(w, reverse("admin:workflows_task_add"), {**task_form(name="pong"), "team": w.platform.pk})
    return Task.objects.get(name="pong")


@case("admin", "task.update")
def _(w):
    admin_post(w, admin_url(Task, w.task.pk), task_form(description="2"))
    return w.task


@case("admin", "task.delete")
def _(w):
    admin_post(w, admin_url(Task, w.task.pk, "delete"), {"post": "yes"})
    return w.task


@case("admin", "task.run")
def _(w):
    admin_post(w, admin_url(Task, w.task.pk, "run"))
    return w.task


@case("admin", "batch.stop")
def _(w):
    admin_post(w, reverse("admin:executions_batch_stop", args=[w.running.pk]))
    return w.running


@case("admin", "batch.rerun")
def _(w):
    admin_post(w, reverse("admin:executions_batch_rerun", args=[w.stopped.pk]))
    return w.stopped


@case("admin", "batch.resume")
def _(w):
    admin_post(w, reverse("admin:executions_batch_rerun", args=[w.stopped.pk]), {"resume": "1"})
    return w.stopped


@case("admin", "token.create")
def _(w):
    token = {"team": w.platform.pk, "name": "deploys", "role": "viewer"}
    admin_post(w, reverse("admin:access_apitoken_add"), token)
    return ApiToken.objects.get(name="deploys")


@case("admin", "token.revoke")
def _(w):
    revoke = {"action": "revoke", "_selected_action": [w.token.pk]}
    admin_post(w, reverse("admin:access_apitoken_changelist"), revoke)
    return w.token


@case("admin", "membership.add")
def _(w):
    admin_post(w, admin_url(Team, w.platform.pk), members_form(w, add="dan"))
    return Membership.objects.get(user__username="dan")


@case("admin", "membership.change")
def _(w):
    membership = carols_membership(w)
    admin_post(w, admin_url(Team, w.platform.pk), members_form(w, change={membership.pk: Role.OPERATOR}))
    return membership


@case("admin", "membership.remove")
def _(w):
    membership = carols_membership(w)
    admin_post(w, admin_url(Team, w.platform.pk), members_form(w, delete=membership.pk))
    return membership


@case("api", "workflow.create")
def _(w):
    api_ok(post_json(api(w), "/api/v1/workflows/", definition("fresh")))
    return Workflow.objects.get(name="fresh")


@case("api", "workflow.update")
def _(w):
    api_ok(api(w).put(f"/api/v1/workflows/{w.workflow.pk}/", definition(description="2"), format="json"))
    return w.workflow


@case("api", "workflow.delete")
def _(w):
    api_ok(api(w).delete(f"/api/v1/workflows/{w.workflow.pk}/"))
    return w.workflow


@case("api", "workflow.disable")
def _(w):
    api_ok(post_json(api(w), f"/api/v1/workflows/{w.workflow.pk}/disable/"))
    return w.workflow


@case("api", "workflow.run")
def _(w):
    api_ok(post_json(api(w), f"/api/v1/workflows/{w.workflow.pk}/run/"))
    return w.workflow


@case("api", "task.create")
def _(w):
    api_ok(post_json(api(w), "/api/v1/tasks/", {**PING, "name": "pong"}))
    return Task.objects.get(name="pong")


@case("api", "task.update")
def _(w):
    api_ok(api(w).put(f"/api/v1/tasks/{w.task.pk}/", {**PING, "description": "2"}, format="json"))
    return w.task


@case("api", "task.delete")
def _(w):
    api_ok(api(w).delete(f"/api/v1/tasks/{w.task.pk}/"))
    return w.task


@case("api", "task.run")
def _(w):
    api_ok(post_json(api(w), f"/api/v1/tasks/{w.task.pk}/run/"))
    return w.task


@case("api", "batch.stop")
def _(w):
    api_ok(post_json(api(w), f"/api/v1/batches/{w.running.pk}/stop/"))
    return w.running


@case("api", "batch.rerun")
def _(w):
    api_ok(post_json(api(w), f"/api/v1/batches/{w.stopped.pk}/rerun/"))
    return w.stopped


@case("api", "batch.resume")
def _(w):
    api_ok(post_json(api(w), f"/api/v1/batches/{w.stopped.pk}/resume/"))
    return w.stopped


@case("cli", "workflow.create")
def _(w):
    cli(w, "import_workflow", definition_file(w, definition("fresh")))
    return Workflow.objects.get(name="fresh")


@case("cli", "workflow.update")
def _(w):
    cli(w, "import_workflow", definition_file(w, definition(description="2")))
    return w.workflow


@case("cli", "workflow.run")
def _(w):
    cli(w, "run_workflow", "release", "--team", "platform")
    return w.workflow


@case("cli", "batch.stop")
def _(w):
    cli(w, "stop_batch", w.running.pk)
    return w.running


@case("cli", "batch.rerun")
def _(w):
    cli(w, "rerun_batch", w.stopped.pk)
    return w.stopped


@case("cli", "batch.resume")
def _(w):
    cli(w, "rerun_batch", w.stopped.pk, "--resume")
    return w.stopped


@pytest.mark.parametrize(("via", "action"), list(CASES), ids=[f"{via}-{action}" for via, action in CASES])
def test_every_audited_action_is_audited_once_from_every_interface(world, via, action):
    subject = CASES[via, action](world)
    (row,) = new_rows(world)
    assert (row.action, row.via, row.actor_label, row.actor) == (action, via, "alice", world.alice)
    object_type = "membership" if action.startswith("membership.") else subject._meta.model_name
    assert (row.object_type, row.object_id, row.team) == (object_type, str(subject.pk), world.platform)
    assert row.source_address == (None if via == "cli" else "127.0.0.1")


def test_a_token_is_audited_under_its_name_and_id(world):
    raw = make_token(world.platform, Role.OPERATOR, name="deployer", created_by=world.alice)
    api_ok(post_json(token_client(raw), f"/api/v1/workflows/{world.workflow.pk}/run/"))
    (row,) = new_rows(world)
    token = ApiToken.objects.get(name="deployer")
    assert (row.action, row.via, row.actor_label, row.actor) == (
        "workflow.run",
        "api",
        f"token:deployer#{token.pk}",
        None,
    )


# --- the command line's actor -------------------------------------------------------------------


def test_the_cli_acts_as_the_os_users_account_else_as_the_machine(world, monkeypatch):
    monkeypatch.setattr(actors.getpass, "getuser", lambda: "ops")
    call_command("stop_batch", world.running.pk, stdout=StringIO())
    (row,) = new_rows(world)
    assert (row.action, row.via, row.actor_label, row.actor) == ("batch.stop", "cli", "cli:ops", None)
    ops = User.objects.create_user("ops")
    Membership.objects.create(team=world.platform, user=ops, role=Role.OPERATOR)
    call_command("rerun_batch", world.stopped.pk, stdout=StringIO())
    assert (new_rows(world)[-1].actor_label, new_rows(world)[-1].actor) == ("ops", ops)


def test_the_cli_refuses_an_unknown_as_and_a_role_the_user_lacks(world):
    with pytest.raises(CommandError, match="--as: no active user named 'nobody'"):
        call_command("run_workflow", "release", "--as", "nobody", stdout=StringIO())
    with pytest.raises(CommandError, match="Running release needs the operator role in team platform"):
        call_command("run_workflow", "release", "--as", "carol", stdout=StringIO())
    with pytest.raises(CommandError, match=r"Stopping batch \w+ needs the operator role"):
        call_command("stop_batch", world.running.pk, "--as", "carol", stdout=StringIO())
    assert Batch.objects.count() == 2 and not new_rows(world)
    assert Batch.objects.get(pk=world.running.pk).stop_requested_at is None


# --- one transaction ------------------------------------------------------------------------------


def test_a_refused_action_leaves_no_row(world):
    viewer = APIClient()
    viewer.force_authenticate(world.carol)
    assert post_json(viewer, f"/api/v1/batches/{world.running.pk}/stop/").status_code == 403
    assert post_json(api(world), f"/api/v1/batches/{world.stopped.pk}/stop/").status_code == 409
    assert not new_rows(world)


UNDONE: dict[str, tuple[Callable[[SimpleNamespace], Any], Callable[[SimpleNamespace], Any]]] = {
    "workflow save": (
        lambda w: workflow_save_definition(document=definition(description="2"), actor=machine()),
        lambda w: Workflow.objects.get(pk=w.workflow.pk).description,
    ),
    "workflow disable": (
        lambda w: workflow_set_enabled(workflow=w.workflow, enabled=False, actor=machine()),
        lambda w: Workflow.objects.get(pk=w.workflow.pk).enabled,
    ),
    "workflow delete": (
        lambda w: workflow_delete(workflow=w.workflow, actor=machine()),
        lambda w: Workflow.objects.get(pk=w.workflow.pk).deleted_at,
    ),
    "task save": (
        lambda w: task_save(document={**PING, "description": "2"}, actor=machine()),
        lambda w: Task.objects.get(pk=w.task.pk).description,
    ),
    "run once": (
        lambda w: lifecycle.batch_start(workflow=w.workflow, actor=machine()),
        lambda w: Batch.objects.count(),
    ),
    "stop": (
        lambda w: lifecycle.batch_stop(batch_id=w.running.pk, actor=machine()),
        lambda w: Batch.objects.get(pk=w.running.pk).stop_requested_at,
    ),
    "re-run": (
        lambda w: lifecycle.batch_rerun(batch_id=w.stopped.pk, actor=machine()),
        lambda w: Batch.objects.count(),
    ),
    "token revoke": (
        lambda w: token_revoke(token=w.token, actor=actors.user_actor(w.alice, actors.ADMIN)),
        lambda w: ApiToken.objects.get(pk=w.token.pk).revoked_at,
    ),
    "membership change": (
        lambda w: membership_change(membership=carols_membership(w), role=Role.EDITOR, actor=machine()),
        lambda w: carols_membership(w).role,
    ),
}


@pytest.mark.parametrize("name", list(UNDONE))
def test_an_audit_row_that_cannot_be_written_undoes_the_action(world, monkeypatch, name):
    act, state = UNDONE[name]
    before = state(world)

    def refuse(**fields: Any) -> None:
        raise RuntimeError("the audit trail is unavailable")

    monkeypatch.setattr(AuditEntry.objects, "create", refuse)
    with pytest.raises(RuntimeError, match="audit trail is unavailable"):
        act(world)
    assert state(world) == before


# --- Baton's own acts -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_and_the_sweep_record_their_acts_in_the_fire_log_and_the_events(world, time_machine):
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    trigger = {"type": "periodic", "every": 1, "unit": "hours", "start": start.isoformat(), "timezone": "UTC"}
    save = workflow_save_definition(document=definition("hourly", trigger=trigger), actor=machine())
    baseline = AuditEntry.objects.order_by("-pk").first().pk
    fire_at = Schedule.objects.get(workflow=save.workflow).next_fire_at
    time_machine.move_to(fire_at + timedelta(seconds=0.5), tick=False)
    tick()
    batch = Batch.objects.get(workflow=save.workflow)
    assert Fire.objects.get(workflow=save.workflow).batch_id == batch.pk and batch.created_by is None
    time_machine.move_to(batch.deadline_at + timedelta(seconds=1), tick=False)
    lifecycle.recover()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.TIMED_OUT
    assert batch.events.filter(message__startswith="timeout reached").exists()
    assert not AuditEntry.objects.filter(pk__gt=baseline).exists()
