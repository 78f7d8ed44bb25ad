"""The task-kind registry: each kind declared once, and everything that knows kinds reads it from there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from access.scoping import kind_permission_refusal
from workflows import kinds
from workflows.definition import DefinitionError, parse_task
from workflows.kinds import TASK_KINDS
from workflows.kinds.declaration import CheckContext, Problems, TaskKind
from workflows.kinds.shell import PERMISSION
from workflows.models import Task, Team
from workflows.task_config import config_problems


def _sample_problems(config: Mapping[str, object], context: CheckContext) -> Problems:
    return [] if isinstance(config.get("text"), str) else [("config.text", "must be a string")]


SAMPLE = TaskKind(name="sample", fields=("text",), check=_sample_problems, editor_config={"text": "hello"})


@pytest.fixture
def sample_kind(monkeypatch) -> TaskKind:
    """Declare one more kind for the test, as a new module and its registry line would."""
    monkeypatch.setitem(TASK_KINDS, SAMPLE.name, SAMPLE)
    return SAMPLE


@pytest.mark.parametrize("kind", TASK_KINDS.values(), ids=list(TASK_KINDS))
def test_each_kind_is_registered_under_its_name_with_an_editor_config_of_its_own_fields(kind: TaskKind) -> None:
    assert TASK_KINDS[kind.name] is kind
    assert len(set(kind.fields)) == len(kind.fields)
    assert set(kind.editor_config) <= set(kind.fields)


def test_only_shell_needs_a_permission_and_the_task_model_declares_it() -> None:
    assert {name: kind.permission for name, kind in TASK_KINDS.items() if kind.permission} == {"shell": PERMISSION}
    assert PERMISSION.name == "workflows.define_shell_task"
    assert Task._meta.permissions == [("define_shell_task", "Can define shell tasks")]


@pytest.mark.parametrize("kind", ["ftp", "", None, 3, ["shell"], {"shell": 1}])
def test_a_kind_no_module_declares_is_refused_by_name_whatever_its_type(kind: object) -> None:
    assert config_problems(kind, {}) == [("kind", f"must be one of {', '.join(TASK_KINDS)}; got {kind!r}")]
    with pytest.raises(DefinitionError) as caught:
        parse_task({"name": "t", "kind": kind, "config": {}})
    assert [problem.path for problem in caught.value.problems] == ["kind"]


def test_a_declared_kind_is_checked_by_its_own_rules(sample_kind: TaskKind) -> None:
    assert config_problems("sample", {"text": "hi"}) == []
    assert config_problems("sample", {"text": 1, "script": "x"}) == [
        ("config.script", "unknown field for a sample task; allowed: text"),
        ("config.text", "must be a string"),
    ]
    spec, _ = parse_task({"name": "t", "kind": "sample", "config": {"text": "hi"}})
    assert (spec.kind, spec.config) == ("sample", {"text": "hi"})


def test_the_model_s_choices_and_the_editor_s_defaults_follow_the_registry(sample_kind: TaskKind) -> None:
    choices = list(Task._meta.get_field("kind").choices)
    assert choices[:3] == [("shell", "Shell"), ("http", "Http"), ("python", "Python")]
    assert choices[-1] == ("sample", "Sample") and len(choices) == len(TASK_KINDS)
    configs = kinds.editor_configs()
    assert list(configs) == list(TASK_KINDS) and configs["sample"] == {"text": "hello"}
    assert configs["shell"] == {"script": "echo hello"}
    assert configs["http"] == {"method": "GET", "url": "https://example.com/", "expected_status": [200]}


@pytest.mark.django_db
def test_migrations_match_the_models_so_a_new_kind_needs_none(sample_kind: TaskKind) -> None:
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


@pytest.mark.django_db
def test_defining_a_task_needs_the_permission_its_kind_declares(monkeypatch) -> None:
    team = Team.objects.create(name="t")
    editor = get_user_model().objects.create_user("ed")
    shell_task = {"name": "a", "kind": "shell", "config": {"script": "id"}}
    http_task = {"name": "b", "kind": "http", "config": {"url": "https://example.com/"}}
    assert kind_permission_refusal(editor, team, [shell_task]) == (
        "Defining shell tasks needs the workflows.define_shell_task permission."
    )
    assert kind_permission_refusal(editor, team, [http_task, {"kind": "ftp"}, "not a task"]) is None
    monkeypatch.setitem(TASK_KINDS, "http", replace(TASK_KINDS["http"], permission=PERMISSION))
    assert kind_permission_refusal(editor, team, [http_task]) == (
        "Defining http tasks needs the workflows.define_shell_task permission."
    )
    admin = get_user_model().objects.create_superuser("root")
    assert kind_permission_refusal(admin, team, [shell_task, http_task]) is None
