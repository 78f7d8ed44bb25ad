"""One validator: each rule of issue 10 gives the same message through the API, the CLI, the editor and the admin."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from tests.api.conftest import definition, post_json
from workflows.models import Task, Workflow

pytestmark = pytest.mark.django_db

MAX = 9223372036854775807


def changed(change: Callable[[dict[str, Any]], None], *, raw: tuple[str, str] | None = None) -> str:
    """Return the text of the conftest definition after `change`, with one raw JSON substitution (1e999)."""
    document = definition()
    change(document)
    text = json.dumps(document)
    return text.replace(*raw) if raw else text


def on_task(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document["nodes"][0]["task"].update(fields)


def on_node(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document["nodes"][0].update(fields)


def cron(expression: str, zone: str = "UTC") -> Callable[[dict[str, Any]], None]:
    return lambda document: document.update(trigger={"type": "cron", "expression": expression, "timezone": zone})


RULES = [
    pytest.param(
        changed(on_task(queue="baton-control")),
        "nodes[0].task.queue",
        "the queue 'baton-control' is reserved for Baton's scheduler and sweep (queues starting with 'baton-' are "
        "Baton's own); pick another queue",
        id="reserved-queue",
    ),
    pytest.param(
        changed(on_task(kind="http", config={"url": "http://0177.0.0.1/hook"})),
        "nodes[0].task.config.url",
        "host '0177.0.0.1' is an ambiguous numeric address: resolvers read octal, hexadecimal, zero-padded and short "
        "forms differently; write four decimal numbers without leading zeros (such as 127.0.0.1)",
        id="octal-host",
    ),
    pytest.param(
        changed(on_task(kind="http", config={"url": "https://１２７.０.０.１/hook"})),
        "nodes[0].task.config.url",
        "host '１２７.０.０.１' reads as the number '127.0.0.1' once Unicode is normalised, and resolvers disagree on "
        "such hosts; write the address in ASCII dotted decimal (such as 127.0.0.1) or use a host name",
        id="fullwidth-host",
    ),
    pytest.param(
        changed(cron("0 0 2 * * ?", "localtime")),
        "trigger.timezone",
        "must be an IANA time zone such as Europe/Berlin, not 'localtime'",
        id="localtime",
    ),
    pytest.param(
        changed(cron("0 0 0 ? * 0#1")),
        "trigger.expression",
        "day-of-week: 0 is out of range 1-7 (the day before '#' in '0#1')",
        id="quartz-0#1",
    ),
    pytest.param(
        changed(cron("0 0 0 ? * 8#1")),
        "trigger.expression",
        "day-of-week: 8 is out of range 1-7 (the day before '#' in '8#1')",
        id="quartz-8#1",
    ),
    pytest.param(
        changed(on_node(position={"x": 12345, "y": 0}), raw=("12345", "1e999")),
        "nodes[0].position.x",
        "must be a finite number, not inf",
        id="position-1e999",
    ),
    pytest.param(
        changed(on_node(position={"x": MAX + 1, "y": 0})),
        "nodes[0].position.x",
        f"is out of range (integers must lie between {-MAX - 1} and {MAX})",
        id="position-past-64-bits",
    ),
    pytest.param(
        changed(on_node(position={"x": 10**7, "y": 0})),
        "nodes[0].position",
        'must be {"x": number, "y": number}, each between -1000000 and 1000000',
        id="position-off-the-canvas",
    ),
    pytest.param(
        changed(on_task(config={"callable": "baton.echo", "kwargs": {"rows": [0] * 150_000}})),
        "",
        "the document has more than 100000 values (a YAML alias counts at each use)",
        id="too-many-values",
    ),
]


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw-root-123"))
    return client


def errors(response) -> list[tuple[str, str]]:
    """Return the API error's (field, message) pairs."""
    return [(e["field"], e["message"]) for e in response.json()["errors"]]


def shown(path: str, message: str) -> str:
    return f"{path}: {message}" if path else message


@pytest.mark.parametrize(("text", "path", "message"), RULES)
def test_the_api_refuses_it(client_for, alice, text, path, message):
    response = client_for(alice).post("/api/v1/workflows/", data=text, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert (path, message) in errors(response)
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(("text", "path", "message"), RULES)
def test_the_cli_refuses_it(tmp_path, platform, text, path, message):
    file = tmp_path / "definition.json"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        call_command("import_workflow", str(file), stdout=StringIO(), stderr=StringIO())
    assert f"  - {shown(path, message)}" in str(caught.value).splitlines()
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(("text", "path", "message"), RULES)
def test_the_editor_refuses_it(admin_client, platform, text, path, message):
    response = post_json(admin_client, reverse("baton_workflow_validate"), {"definition": text})
    assert response.status_code == 200
    assert shown(path, message) in [p["text"] for p in response.json()["problems"]]


@pytest.mark.parametrize(("text", "path", "message"), RULES)
def test_the_admin_refuses_it(admin_client, platform, text, path, message):
    response = admin_client.post(reverse("admin:workflows_workflow_add"), {"definition": text})
    assert response.status_code == 200
    assert shown(path, message) in html.unescape(response.content.decode())
    assert not Workflow.objects.exists()


# --------------------------------------------------------------------------- standalone tasks and PATCH


RESERVED = (
    "the queue 'baton-control' is reserved for Baton's scheduler and sweep (queues starting with 'baton-' are "
    "Baton's own); pick another queue"
)


def test_task_create_put_and_patch_refuse_a_reserved_queue(client_for, alice):
    client = client_for(alice)
    body = {"team": "platform", "name": "t", "kind": "python", "config": {"callable": "baton.echo"}}
    response = post_json(client, "/api/v1/tasks/", {**body, "queue": "baton-control"})
    assert response.status_code == 400 and ("queue", RESERVED) in errors(response)
    task = post_json(client, "/api/v1/tasks/", body).json()
    for method in (client.put, client.patch):
        response = method(f"/api/v1/tasks/{task['id']}/", {**body, "queue": "baton-control"}, format="json")
        assert response.status_code == 400 and ("queue", RESERVED) in errors(response)
    assert Task.objects.get().queue == "default"


def test_workflow_patch_refuses_a_reserved_queue(client_for, alice, workflow):
    nodes = definition()["nodes"]
    nodes[1]["task"]["queue"] = "baton-control"
    response = client_for(alice).patch(f"/api/v1/workflows/{workflow.pk}/", {"nodes": nodes}, format="json")
    assert response.status_code == 400
    assert ("nodes[1].task.queue", RESERVED) in errors(response)


# --------------------------------------------------------------------------- a kept secret and a new destination


MOVED = (
    "the destination changed from https://hooks.example:443 to https://attacker.example:443: enter this secret again"
)


def hook(url: str, token: dict[str, str]) -> dict[str, Any]:
    return {"method": "POST", "url": url, "headers": {"Authorization": token}}


def test_the_api_asks_again_for_a_secret_whose_destination_changed(client_for, alice):
    client = client_for(alice)
    body = {"team": "platform", "name": "notify", "kind": "http"}
    task = post_json(client, "/api/v1/tasks/", {**body, "config": hook("https://hooks.example/", {"secret": "s3"})})
    sealed = Task.objects.get().config["headers"]["Authorization"]
    moved = {**body, "config": hook("https://attacker.example/", {"secret": "***"})}
    for method in (client.put, client.patch):
        response = method(f"/api/v1/tasks/{task.json()['id']}/", moved, format="json")
        assert response.status_code == 400
        assert errors(response) == [("config.headers.Authorization", MOVED)]
    assert Task.objects.get().config["headers"]["Authorization"] == sealed


def test_the_cli_and_the_editor_ask_again_for_a_secret_whose_destination_changed(tmp_path, admin_client):
    document = definition(kind="http")
    document["nodes"][0]["task"]["config"] = hook("https://hooks.example/", {"secret": "s3"})
    file = tmp_path / "definition.json"
    file.write_text(json.dumps(document))
    call_command("import_workflow", str(file), stdout=StringIO(), stderr=StringIO())
    document["nodes"][0]["task"]["config"] = hook("https://attacker.example/", {"secret": "***"})
    file.write_text(json.dumps(document))
    with pytest.raises(CommandError) as caught:
        call_command("import_workflow", str(file), stdout=StringIO(), stderr=StringIO())
    assert f"  - nodes[0].task.config.headers.Authorization: {MOVED}" in str(caught.value).splitlines()
    edited = {"definition": document, "workflow": Workflow.objects.get().pk}
    response = post_json(admin_client, reverse("baton_workflow_validate"), edited)
    assert [p["text"] for p in response.json()["problems"]] == [f"nodes[0].task.config.headers.Authorization: {MOVED}"]


# --------------------------------------------------------------------------- cron preview near the year 9999


@pytest.mark.parametrize("after", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_cron_preview_refuses_an_after_outside_the_years_a_date_holds(client_for, carol, after):
    query = {"expression": "0 0 12 * * ?", "after": after}
    response = client_for(carol).get("/api/v1/cron-preview/", query)
    assert response.status_code == 400
    message = f"must lie between the years 1 and 9999 in UTC, not {after!r}"
    assert errors(response) == [("after", message)]
    with pytest.raises(CommandError) as caught:
        call_command("cron_preview", "0 0 12 * * ?", "--after", after, stdout=StringIO())
    assert str(caught.value) == f"--after: {message}"


# --------------------------------------------------------------------------- a YAML alias bomb


def test_an_alias_bomb_gets_the_same_quick_answer_from_the_admin_the_editor_and_the_cli(admin_client, tmp_path):
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"{n}: &{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in zip("abcdef", "bcdefg", strict=True)]
    bomb = "\n".join(levels) + "\n"
    message = "the document has more than 100000 values (a YAML alias counts at each use)"
    started = time.monotonic()
    page = admin_client.post(reverse("admin:workflows_workflow_add"), {"definition": bomb}).content.decode()
    assert message in page
    response = post_json(admin_client, reverse("baton_workflow_validate"), {"definition": bomb})
    assert [p["text"] for p in response.json()["problems"]] == [message]
    (tmp_path / "bomb.yaml").write_text(bomb)
    with pytest.raises(CommandError) as caught:
        call_command("import_workflow", str(tmp_path / "bomb.yaml"), stdout=StringIO(), stderr=StringIO())
    assert f"  - {message}" in str(caught.value).splitlines()
    assert time.monotonic() - started < 5  # a sanity bound: seven levels took 15 s and 590 MB
    assert not Workflow.objects.exists()


# --------------------------------------------------------------------------- who the document names


IDENTITY = "name and team identify the workflow ('release'): to rename or move it, import a new one and delete this one"


def test_name_and_team_identify_a_workflow_in_the_api_the_admin_and_the_editor(client_for, alice, workflow):
    renamed = definition(name="renamed")
    response = client_for(alice).put(f"/api/v1/workflows/{workflow.pk}/", renamed, format="json")
    assert response.status_code == 400 and errors(response) == [("name", IDENTITY)]
    browser = Client()
    browser.force_login(alice)
    page = browser.post(
        reverse("admin:workflows_workflow_change", args=[workflow.pk]), {"definition": json.dumps(renamed)}
    )
    assert page.status_code == 200 and html.escape(f"name: {IDENTITY}") in page.content.decode()
    checked = post_json(browser, reverse("baton_workflow_validate"), {"definition": renamed, "workflow": workflow.pk})
    assert [(p["path"], p["message"]) for p in checked.json()["problems"]] == [("name", IDENTITY)]
    assert Workflow.objects.get().name == "release" and workflow.versions.count() == 1


def test_the_admins_add_form_refuses_a_name_its_team_already_has_as_the_api_does(client_for, alice, workflow):
    taken = "team platform already has a workflow named 'release'"
    response = post_json(client_for(alice), "/api/v1/workflows/", definition(description="another"))
    assert response.status_code == 400 and errors(response) == [("name", taken)]
    browser = Client()
    browser.force_login(alice)
    page = browser.post(
        reverse("admin:workflows_workflow_add"), {"definition": json.dumps(definition(description="x"))}
    )
    assert page.status_code == 200 and html.escape(f"name: {taken}") in page.content.decode()
    checked = post_json(browser, reverse("baton_workflow_validate"), {"definition": definition(description="x")})
    assert [(p["path"], p["message"]) for p in checked.json()["problems"]] == [("name", taken)]
    assert workflow.versions.count() == 1 and Workflow.objects.get().description == ""
