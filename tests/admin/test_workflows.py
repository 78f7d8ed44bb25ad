"""Workflows in the admin as every role sees them: buttons, the read-only definition, delete."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry
from executions.lifecycle import batch_start
from executions.models import Batch, Fire
from tests.admin.conftest import messages_of, release
from tests.conftest import machine
from workflows.models import Role, Task, Workflow
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db

# What each persona finds on a workflow's page: Run once, Enable/Disable, Save (the editor), Delete.
BUTTONS = {
    "root": {"run-once", "enable", "save", "delete"},
    "ada": {"run-once", "enable", "save", "delete"},
    "eddie": {"run-once", "enable", "save", "delete"},
    "olga": {"run-once", "enable"},
    "victor": set(),
}
MARKERS = {"run-once": 'id="run-once"', "enable": 'id="enable-workflow"', "save": 'name="_save"', "delete": "/delete/"}


def change_url(workflow: Workflow) -> str:
    return reverse("admin:workflows_workflow_change", args=[workflow.pk])


@pytest.mark.parametrize("name", list(BUTTONS))
def test_buttons_follow_the_role(as_user, workflow, name):
    page = as_user(name).get(change_url(workflow)).content.decode()
    assert {button for button, marker in MARKERS.items() if marker in page} == BUTTONS[name]


def test_another_teams_workflow_is_not_found(as_user, workflow):
    response = as_user("mallory").get(change_url(workflow))
    assert response.status_code == 302 and response.url == reverse("admin:index")


@pytest.mark.parametrize("name", ["olga", "victor"])
def test_viewers_and_operators_read_the_definition(as_user, platform, name):
    document = release(enabled=True)
    document["nodes"][0]["task"]["config"]["env"] = {"TOKEN": {"secret": "t0p-secret"}}
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    page = as_user(name).get(change_url(workflow)).content.decode()
    assert "None" not in page.split('id="content-main"')[1].split("</form>")[0]
    assert "cron 0 0 2 ? * MON-FRI (Asia/Shanghai)" in page  # the trigger
    assert "600 s" in page and "fire_once_now" in page and "skip" in page  # timeout and policies
    assert page.count("<li>20") >= 5 and "baton-next-fires" in page  # the next fire times
    assert "echo pulling; sleep 0.5" in page and "shop-rolling-deploy" in page  # each task's script
    assert "***" in page and "t0p-secret" not in page and "sealed" not in page


def test_a_viewers_run_once_and_enable_say_which_role_they_need(as_user, workflow):
    client = as_user("victor")
    run = client.post(reverse("admin:workflows_workflow_run", args=[workflow.pk]), follow=True)
    assert "Running release-pipeline needs the operator role in team platform." in messages_of(run)
    enable = client.post(reverse("admin:workflows_workflow_enable", args=[workflow.pk]), follow=True)
    assert "Enabling release-pipeline needs the operator role in team platform." in messages_of(enable)
    workflow.refresh_from_db()
    assert not Batch.objects.exists() and workflow.enabled is False


def test_an_operator_runs_enables_and_disables_from_the_page(as_user, workflow):
    client = as_user("olga")
    run = client.post(reverse("admin:workflows_workflow_run", args=[workflow.pk]))
    assert run.url == reverse("admin:executions_batch_change", args=[Batch.objects.get().pk])
    client.post(reverse("admin:workflows_workflow_enable", args=[workflow.pk]))
    workflow.refresh_from_db()
    assert workflow.enabled and 'id="disable-workflow"' in client.get(change_url(workflow)).content.decode()
    disabled = client.post(reverse("admin:workflows_workflow_disable", args=[workflow.pk]), follow=True)
    workflow.refresh_from_db()
    assert not workflow.enabled and any("Disabled release-pipeline" in m for m in messages_of(disabled))
    assert AuditEntry.objects.filter(action__in=["workflow.enable", "workflow.disable"], via="admin").count() == 2


def one_task(name: str, team: str) -> dict:
    """A workflow of one python task."""
    task = {"name": f"{name}-a", "kind": "python", "config": {"callable": "baton.noop"}}
    return {
        "name": name,
        "team": team,
        "nodes": [{"key": "a", "type": "task", "task": task}],
        "edges": [{"from": "start", "to": "a"}],
    }


def with_history(workflow: Workflow) -> Batch:
    """Give the workflow what made the admin's delete refuse: a batch, a re-run of it, a fire record."""
    batch = batch_start(workflow=workflow, actor=machine())
    Batch.objects.filter(pk=batch.pk).update(status="failed", finished_at=timezone.now())
    Fire.objects.create(workflow=workflow, scheduled_for=timezone.now(), outcome="started", batch=batch)
    return batch


def test_superuser_deletes_a_workflow_with_batches_from_its_page(as_user, workflow):
    batch = with_history(workflow)
    client = as_user("root")
    url = reverse("admin:workflows_workflow_delete", args=[workflow.pk])
    page = client.get(url).content.decode()
    assert "disables and hides it" in page and "Cannot delete" not in page and "batch" in page
    assert 'name="post"' in page
    response = client.post(url, {"post": "yes"}, follow=True)
    assert response.redirect_chain == [(reverse("admin:workflows_workflow_changelist"), 302)]
    workflow.refresh_from_db()
    assert workflow.deleted_at is not None and workflow.enabled is False
    assert Batch.objects.filter(pk=batch.pk).exists() and workflow.versions.count() == 1 and Fire.objects.exists()
    assert Task.objects.filter(name="shop-pull", node__isnull=True).exists()  # its tasks are standalone now
    assert AuditEntry.objects.filter(action="workflow.delete", via="admin").exists()
    assert client.get(reverse("admin:workflows_workflow_changelist")).content.decode().count("release-pipeline") == 0


def test_the_delete_action_deletes_the_selected_workflows(as_user, workflow):
    other = workflow_save_definition(document=one_task("hotfix", "platform"), actor=machine()).workflow
    with_history(workflow)
    with_history(other)
    client = as_user("eddie")
    listing = reverse("admin:workflows_workflow_changelist")
    chosen = {"action": "delete_selected", "_selected_action": [workflow.pk, other.pk]}
    confirm = client.post(listing, chosen).content.decode()
    assert "disables and hides it" in confirm and "release-pipeline" in confirm and "hotfix" in confirm
    done = client.post(listing, {**chosen, "post": "yes"}, follow=True)
    assert done.status_code == 200
    assert Workflow.objects.filter(deleted_at__isnull=False).count() == 2 and Batch.objects.count() == 2


def test_the_delete_action_refuses_a_workflow_the_user_only_views(as_user, workflow, people, rivals):
    from workflows.models import Membership

    rival = workflow_save_definition(document=one_task("heist", "rivals"), actor=machine()).workflow
    Membership.objects.create(user=people["eddie"], team=rivals, role=Role.VIEWER)
    client = as_user("eddie")
    chosen = {"action": "delete_selected", "_selected_action": [workflow.pk, rival.pk], "post": "yes"}
    page = client.post(reverse("admin:workflows_workflow_changelist"), chosen).content.decode()
    assert "needs the editor role in team rivals" in page
    assert not Workflow.objects.filter(deleted_at__isnull=False).exists()


@pytest.mark.parametrize("name", ["olga", "victor"])
def test_opening_the_delete_url_without_the_role_says_which_role_it_needs(as_user, workflow, name):
    response = as_user(name).get(reverse("admin:workflows_workflow_delete", args=[workflow.pk]), follow=True)
    assert response.status_code == 200
    assert "Deleting release-pipeline needs the editor role in team platform." in messages_of(response)
    workflow.refresh_from_db()
    assert workflow.deleted_at is None


def test_run_once_asks_for_the_declared_parameters_and_starts_with_them(as_user, platform):
    document = release(params={"target": {"type": "string", "default": "staging", "description": "where to"}})
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    url = reverse("admin:workflows_workflow_run", args=[workflow.pk])
    form = as_user("olga").post(url).content.decode()  # the page's button: the form, nothing started yet
    assert 'name="target"' in form and 'value="staging"' in form and not Batch.objects.exists()
    refused = as_user("olga").post(url, {"params_form": "1", "target": "x" * 5000}).content.decode()
    assert "must be at most 4096 characters" in refused and not Batch.objects.exists()
    response = as_user("olga").post(url, {"params_form": "1", "target": "prod"})
    batch = Batch.objects.get()
    assert response.status_code == 302 and batch.context["params"] == {"target": "prod"}
    page = as_user("olga").get(reverse("admin:executions_batch_change", args=[batch.pk])).content.decode()
    assert "params.target = &quot;prod&quot;" in page


def test_the_rerun_form_shows_the_originals_values_and_starts_with_the_edited_ones(as_user, platform, recorder):
    document = release(params={"target": {"type": "string", "default": "staging"}, "dry": {"type": "boolean"}})
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    original = batch_start(workflow=workflow, actor=machine(), values={"target": "prod", "dry": True})
    Batch.objects.filter(pk=original.pk).update(status="failed")
    url = reverse("admin:executions_batch_rerun", args=[original.pk])
    form = as_user("olga").get(url).content.decode()
    assert 'id="rerun-params"' in form and 'value="prod"' in form
    as_user("olga").post(url, {"resume": "0", "target": "eu", "dry": "true"})
    rerun = Batch.objects.exclude(pk=original.pk).get()
    assert rerun.context["params"] == {"target": "eu", "dry": True}
    assert 'id="rerun-params"' not in as_user("olga").get(url + "?resume=1").content.decode()


def test_the_list_action_run_once_asks_a_workflow_with_parameters_for_them(as_user, platform):
    asking = workflow_save_definition(
        document=release(params={"target": {"type": "string", "default": "staging"}}), actor=machine()
    ).workflow
    task = {"name": "plain-a", "kind": "python", "config": {"callable": "baton.noop"}}
    plain_document = {
        "name": "plain-pipeline",
        "team": "platform",
        "nodes": [{"key": "a", "type": "task", "task": task}],
        "edges": [{"from": "start", "to": "a"}],
    }
    plain = workflow_save_definition(document=plain_document, actor=machine()).workflow
    changelist = reverse("admin:workflows_workflow_changelist")
    # One workflow that declares parameters: the action opens its form and starts nothing.
    response = as_user("olga").post(changelist, {"action": "run_once", "_selected_action": [asking.pk]})
    assert response.status_code == 302 and response.url == reverse("admin:workflows_workflow_run", args=[asking.pk])
    form = as_user("olga").get(response.url).content.decode()
    assert 'name="target"' in form and not Batch.objects.exists()
    # Several: the plain one starts; the one with parameters is named, with a link to its form.
    response = as_user("olga").post(
        changelist, {"action": "run_once", "_selected_action": [asking.pk, plain.pk]}, follow=True
    )
    assert list(Batch.objects.values_list("workflow__name", flat=True)) == ["plain-pipeline"]
    said = " ".join(messages_of(response))
    assert "release-pipeline declares parameters and was not started" in said
    assert reverse("admin:workflows_workflow_run", args=[asking.pk]) in response.content.decode()
