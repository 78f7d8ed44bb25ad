"""Personas and builders for API tests: alice (admin of platform), bob (operator), carol (viewer), mallory (other team)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.test import APIClient

from access.models import ApiToken, token_generate, token_hash
from executions import dispatch
from tests.conftest import acting
from workflows.models import Membership, Role, Team, Workflow
from workflows.services import workflow_save_definition


class DispatchRecorder:
    """Records (node-run id, queue) dispatches instead of putting them on a broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    def __call__(self, runs: list[tuple[int, str]], countdown: float | None) -> None:
        self.sent.extend(runs)


@pytest.fixture(autouse=True)
def dispatched(monkeypatch) -> DispatchRecorder:
    recorder = DispatchRecorder()
    monkeypatch.setattr(dispatch, "backend", recorder)
    return recorder


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def definition(name: str = "release", team: str = "platform", *, kind: str = "python", **extra: Any) -> dict[str, Any]:
    """A two-task chain (python tasks unless `kind` says otherwise)."""
    if kind == "shell":
        config: dict[str, Any] = {"script": "echo hi"}
    elif kind == "http":
        config = {"method": "GET", "url": "https://example.invalid/"}
    else:
        config = {"callable": "baton.echo", "kwargs": {}}
    return {
        "name": name,
        "team": team,
        "trigger": {"type": "none"},
        "nodes": [
            {"key": "a", "type": "task", "task": {"name": f"{name}-a", "kind": kind, "config": config}},
            {"key": "b", "type": "task", "task": {"name": f"{name}-b", "kind": kind, "config": config}},
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b", "on": "success"}],
        **extra,
    }


def member(username: str, team: Team, role: str, *, staff: bool = False) -> User:
    user = User.objects.create_user(username, is_staff=staff)
    Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def platform(db) -> Team:
    return Team.objects.create(name="platform")


@pytest.fixture
def rivals(db) -> Team:
    return Team.objects.create(name="rivals")


@pytest.fixture
def alice(platform) -> User:
    user = member("alice", platform, Role.ADMIN, staff=True)
    user.user_permissions.add(Permission.objects.get(codename="define_shell_task"))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def bob(platform) -> User:
    return member("bob", platform, Role.OPERATOR, staff=True)


@pytest.fixture
def carol(platform) -> User:
    return member("carol", platform, Role.VIEWER, staff=True)


@pytest.fixture
def dave(platform) -> User:
    """An editor without the shell permission."""
    return member("dave", platform, Role.EDITOR, staff=True)


@pytest.fixture
def mallory(rivals) -> User:
    user = member("mallory", rivals, Role.ADMIN, staff=True)
    user.user_permissions.add(Permission.objects.get(codename="define_shell_task"))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    def make(user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def workflow(platform, alice) -> Workflow:
    return workflow_save_definition(document=definition(), actor=acting(alice)).workflow


@pytest.fixture
def rival_workflow(rivals, mallory) -> Workflow:
    return workflow_save_definition(document=definition("heist", "rivals"), actor=acting(mallory)).workflow


def make_token(
    team: Team, role: str = Role.OPERATOR, name: str = "ci", *, created_by: User | None = None, **extra: Any
) -> str:
    """Store a token made by `created_by` (default: a superuser, so the token's own flags are its rights)."""
    if created_by is None:
        created_by = User.objects.filter(username="root").first() or User.objects.create_superuser("root")
    raw = token_generate()
    ApiToken.objects.create(
        team=team, name=name, role=role, key_hash=token_hash(raw), prefix=raw[:12], created_by=created_by, **extra
    )
    return raw


def token_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def post_json(client: APIClient, url: str, body: Any = None, **kwargs: Any):
    return client.post(
        url, data=json.dumps(body) if body is not None else None, content_type="application/json", **kwargs
    )
