"""Standalone tasks in the admin: the one validator, editable config, shell rights, run once, delete."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from executions.lifecycle import task_run_start
from executions.models import Batch, Fire
from tests.admin.conftest import messages_of
from tests.conftest import machine
from workflows import secrets
from workflows.models import Schedule, Task
from workflows.services import task_save

pytestmark = pytest.mark.django_db
ADD = reverse("admin:workflows_task_add")


def form(team, **fields: Any) -> dict[str, Any]:
    """The add form as a browser posts it (config and trigger as JSON text)."""
    values = {
        "team": team.pk,
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


def api_document(fields: dict[str, Any]) -> dict[str, Any]:
    """The same task as the API takes it."""
    document = {
        "team": "platform",
        "name": "ping",
        "kind": "python",
        "config": {"callable": "baton.noop"},
        "timeout_seconds": 60,
        **fields,
    }
    return document


REFUSED = {
    "an http task with config {}": ({"kind": "http", "config": {}}, "config", "url: is required"),
    "a shell task with no script": ({"kind": "shell", "config": {}}, "config", "exactly one of 'script' or 'argv'"),
    "a name with a tab": ({"name": "deploy\tnow"}, "name", "found '\\t'"),
    "a 2·10⁹-second timeout": ({"timeout_seconds": 2 * 10**9}, "timeout_seconds", "between 1 and 604800"),
    "10⁶ retries": ({"retries": 10**6}, "retries", "between 0 and 100"),
    "a cron trigger Quartz rejects": (
        {"trigger": {"type": "cron", "expression": "0 0 25 * * ?", "timezone": "UTC"}},
        "trigger",
        "expression: hours",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_add_task_refuses_what_the_api_refuses_on_the_fields(as_user, people, platform, case):
    fields, field, expected = REFUSED[case]
    response = as_user("eddie").post(ADD, form(platform, **fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field] and expected in " ".join(errors[field]), errors
    assert not Task.objects.exists()
    api = APIClient()
    api.force_authenticate(people["eddie"])
    refused = api.post("/api/v1/tasks/", api_document(fields), format="json")
    assert refused.status_code == 400
    api_messages = {f"{e['field']}: {e['message']}" for e in refused.json()["errors"]}
    admin_messages = {
        f"{field}.{m}" if ": " in m and field in ("config", "trigger") else f"{field}: {m}" for m in errors[field]
    }
    assert admin_messages == api_messages


def test_every_problem_is_shown_at_once(as_user, platform):
    response = as_user("eddie").post(
        ADD, form(platform, name="a b", kind="http", config={"url": 3}, retries=-1, timeout_seconds=0)
    )
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"name", "config", "retries", "timeout_seconds"}, errors


def test_bad_json_in_config_is_a_field_error_not_a_500(as_user, platform):
    data = form(platform)
    data["config"] = '{"callable": '
    response = as_user("eddie").post(ADD, data)
    assert response.status_code == 200
    assert "config" in response.context["adminform"].form.errors


def test_an_existing_name_is_refused_on_add(as_user, platform):
    task_save(
        document={"team": platform.name, "name": "ping", "kind": "python", "config": {"callable": "baton.noop"}},
        actor=machine(),
    )
    response = as_user("eddie").post(ADD, form(platform, description="a second ping"))
    assert "already has a task named" in " ".join(response.context["adminform"].form.errors["name"])
    assert Task.objects.get().description == ""


def test_add_an_http_task_with_its_config_and_trigger_then_run_it(as_user, platform, recorder):
    config = {"url": "https://deploy.internal/hook", "method": "POST", "headers": {"Authorization": {"secret": "s3"}}}
    trigger = {"type": "cron", "expression": "0 0 2 * * ?", "timezone": "UTC"}
    client = as_user("eddie")
    response = client.post(ADD, form(platform, kind="http", config=config, trigger=trigger))
    assert response.status_code == 302, response.context["adminform"].form.errors
    task = Task.objects.get()
    assert task.config["url"] == "https://deploy.internal/hook" and "sealed" in task.config["headers"]["Authorization"]
    assert Schedule.objects.get(task=task).next_fire_at.hour == 2
    change = client.get(reverse("admin:workflows_task_change", args=[task.pk]))
    assert json.loads(change.context["adminform"].form.initial["config"])["headers"] == {
        "Authorization": {"secret": "***"}
    }
    assert "s3" not in change.content.decode() and "sealed" not in change.content.decode()
    operator = as_user("olga")
    run = operator.post(reverse("admin:workflows_task_run", args=[task.pk]))
    batch = Batch.objects.get(task=task)
    assert run.url == reverse("admin:executions_batch_change", args=[batch.pk])


def test_edit_keeps_masked_secrets_and_changes_the_rest(as_user, platform):
    document = {"name": "tidy", "kind": "shell", "config": {"script": "echo old", "env": {"TOKEN": {"secret": "t0p"}}}}
    task = task_save(document={**document, "team": platform.name}, actor=machine())
    url = reverse("admin:workflows_task_change", args=[task.pk])
    client = as_user("eddie")
    initial = client.get(url).context["adminform"].form.initial
    shown = json.loads(initial["config"])
    assert shown == {"script": "echo old", "env": {"TOKEN": {"secret": "***"}}}
    shown["script"] = "echo new"
    data = {k: v for k, v in initial.items()}
    data.update(config=json.dumps(shown), retry_backoff="", description="tidied")
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    task.refresh_from_db()
    plain, _ = secrets.unseal(task.config)
    assert plain == {"script": "echo new", "env": {"TOKEN": "t0p"}} and task.description == "tidied"


def test_shell_tasks_need_the_permission_but_an_unchanged_one_can_be_edited(as_user, platform):
    response = as_user("dave").post(ADD, form(platform, kind="shell", config={"script": "id"}))
    assert "define_shell_task" in " ".join(response.context["adminform"].form.errors["kind"])
    assert not Task.objects.exists()
    task = task_save(
        document={"team": platform.name, "name": "tidy", "kind": "shell", "config": {"script": "echo"}}, actor=machine()
    )
    url = reverse("admin:workflows_task_change", args=[task.pk])
    client = as_user("dave")
    data = dict(client.get(url).context["adminform"].form.initial, retry_backoff="")
    assert client.post(url, {**data, "config": json.dumps({"script": "id"})}).status_code == 200
    assert client.post(url, {**data, "description": "only this"}).status_code == 302
    task.refresh_from_db()
    assert task.config == {"script": "echo"} and task.description == "only this"


def test_viewer_reads_the_task_masked_and_has_no_buttons(as_user, platform):
    document = {"name": "tidy", "kind": "shell", "config": {"script": "echo", "env": {"TOKEN": {"secret": "t0p"}}}}
    task = task_save(document={**document, "team": platform.name}, actor=machine())
    page = as_user("victor").get(reverse("admin:workflows_task_change", args=[task.pk])).content.decode()
    assert "echo" in page and "***" in page and "t0p" not in page and "sealed" not in page
    assert 'id="run-once"' not in page and 'name="_save"' not in page and "/delete/" not in page
    operator = as_user("olga").get(reverse("admin:workflows_task_change", args=[task.pk])).content.decode()
    assert 'id="run-once"' in operator and 'name="_save"' not in operator
    for name, actions in (("victor", set()), ("olga", {"run_once"}), ("eddie", {"run_once", "delete_selected"})):
        listing = as_user(name).get(reverse("admin:workflows_task_changelist"))
        action_form = listing.context["action_form"]  # None when no action is offered
        offered = {value for value, _ in action_form.fields["action"].choices if value} if action_form else set()
        assert offered == actions, name


def test_a_viewers_run_once_is_refused_with_the_role_it_needs(as_user, platform):
    task = task_save(
        document={"team": platform.name, "name": "ping", "kind": "python", "config": {"callable": "baton.noop"}},
        actor=machine(),
    )
    response = as_user("victor").post(reverse("admin:workflows_task_run", args=[task.pk]), follow=True)
    assert not Batch.objects.exists()
    assert "Running ping needs the operator role in team platform." in messages_of(response)


def test_a_task_with_runs_is_not_deleted_and_the_page_says_why(as_user, platform):
    task = task_save(
        document={"team": platform.name, "name": "ping", "kind": "python", "config": {"callable": "baton.noop"}},
        actor=machine(),
    )
    task_run_start(task=task, actor=machine())
    client = as_user("eddie")
    url = reverse("admin:workflows_task_delete", args=[task.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "has 1 run; its record stays" in page.content.decode() and 'name="post"' not in page.content.decode()
    assert client.post(url, {"post": "yes"}).status_code == 200
    listing = reverse("admin:workflows_task_changelist")
    action = client.post(listing, {"action": "delete_selected", "_selected_action": [task.pk], "post": "yes"})
    assert "has 1 run" in action.content.decode()
    assert Task.objects.filter(pk=task.pk).exists()


def test_a_task_that_never_ran_is_deleted_with_its_fire_log(as_user, platform):
    from django.utils import timezone

    task = task_save(
        document={
            "team": platform.name,
            "name": "ping",
            "kind": "python",
            "config": {"callable": "baton.noop"},
            "trigger": {"type": "cron", "expression": "0 0 2 * * ?"},
        },
        actor=machine(),
    )
    Fire.objects.create(task=task, scheduled_for=timezone.now(), outcome="missed", missed_count=3)
    client = as_user("eddie")
    url = reverse("admin:workflows_task_delete", args=[task.pk])
    assert "never run" in client.get(url).content.decode()
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Task.objects.exists() and not Fire.objects.exists() and not Schedule.objects.exists()


def test_a_task_of_a_workflow_is_not_deleted_here(as_user, workflow):
    task = Task.objects.get(name="shop-pull")
    page = as_user("root").get(reverse("admin:workflows_task_delete", args=[task.pk])).content.decode()
    assert "belongs to workflow release-pipeline" in page and 'name="post"' not in page


def test_a_viewer_opening_the_delete_url_is_told_the_role_it_needs(as_user, platform):
    task = task_save(
        document={"team": platform.name, "name": "ping", "kind": "python", "config": {"callable": "baton.noop"}},
        actor=machine(),
    )
    response = as_user("victor").get(reverse("admin:workflows_task_delete", args=[task.pk]), follow=True)
    assert response.status_code == 200
    assert "Deleting ping needs the editor role in team platform." in messages_of(response)
    assert Task.objects.filter(pk=task.pk).exists()
