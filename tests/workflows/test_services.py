"""Saving definitions: atomic, versioned, with standalone tasks and sealed secrets."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import example
from workflows.definition import DefinitionError
from workflows.models import Node, Task, Team, Workflow, WorkflowVersion
from workflows.services import workflow_delete, workflow_export, workflow_save_definition

pytestmark = pytest.mark.django_db


def save(document):
    return workflow_save_definition(document=copy.deepcopy(document))


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


def test_masked_secret_without_a_stored_value_is_refused():
    document = example("release-pipeline.json")
    document["nodes"][0]["task"]["config"]["env"] = {"TOKEN": {"secret": "***"}}
    with pytest.raises(DefinitionError, match=r"env\.TOKEN.*no secret is stored"):
        save(document)


def test_delete_hides_the_workflow_and_releases_its_tasks():
    workflow = save(example("release-pipeline.json")).workflow
    workflow_delete(workflow=workflow)
    assert not Workflow.objects.alive().exists()
    assert Task.objects.filter(node__isnull=True).count() == 7
    save(example("release-pipeline.json"))  # the name is free again
