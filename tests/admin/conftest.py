"""Personas for the admin: every role of team platform, a superuser and a member of another team.

root is a superuser; ada the admin of platform; eddie an editor with the shell permission;
dave an editor without it; olga an operator; victor a viewer; mallory the admin of rivals.
Work is recorded instead of dispatched; `recorder.drain()` runs it in this process.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from executions import dispatch
from tests.conftest import example, machine
from tests.executions.conftest import Recorder
from workflows.models import Membership, Role, Team, Workflow
from workflows.services import workflow_save_definition

ROLES = {"ada": Role.ADMIN, "eddie": Role.EDITOR, "dave": Role.EDITOR, "olga": Role.OPERATOR, "victor": Role.VIEWER}


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    fake = Recorder()
    monkeypatch.setattr(dispatch, "backend", fake)
    return fake


@pytest.fixture(autouse=True)
def _no_broker(recorder) -> None:
    """Nothing in these tests reaches a broker."""


@pytest.fixture
def platform(db) -> Team:
    return Team.objects.create(name="platform")


@pytest.fixture
def rivals(db) -> Team:
    return Team.objects.create(name="rivals")


@pytest.fixture
def people(platform, rivals) -> dict[str, User]:
    """Every persona by name."""
    shell = Permission.objects.get(codename="define_shell_task")
    users = {"root": User.objects.create_superuser("root", "", "pw")}
    for name, role in ROLES.items():
        users[name] = User.objects.create_user(name, is_staff=True)
        Membership.objects.create(user=users[name], team=platform, role=role)
    users["mallory"] = User.objects.create_user("mallory", is_staff=True)
    Membership.objects.create(user=users["mallory"], team=rivals, role=Role.ADMIN)
    for name in ("ada", "eddie", "mallory"):
        users[name].user_permissions.add(shell)
    return {name: User.objects.get(pk=user.pk) for name, user in users.items()}


@pytest.fixture
def as_user(people):
    """Return a test client logged in as the named persona."""

    def client(name: str) -> Client:
        browser = Client()
        browser.force_login(people[name])
        return browser

    return client


def release(**changes: Any) -> dict[str, Any]:
    """The release pipeline example in team platform, with top-level changes."""
    return {**copy.deepcopy(example("release-pipeline.json")), **changes}


@pytest.fixture
def workflow(platform) -> Workflow:
    return workflow_save_definition(document=release(), actor=machine()).workflow


def messages_of(response) -> list[str]:
    """Return the texts of the messages a response (followed to its end) shows."""
    return [str(m) for m in response.context["messages"]] if response.context else []
