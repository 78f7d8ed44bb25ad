"""A token's rights are bounded by its creator's: when it is made and on every request after (issue 10, item 1)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from access.authentication import TokenAuthentication
from access.models import ApiToken
from tests.api.conftest import definition, make_token, member, post_json, token_client
from workflows.models import Membership, Role, Workflow

pytestmark = pytest.mark.django_db


def admin_page(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def create_token(user: User, team, **fields) -> tuple[int, str | None]:
    """Post the admin's token form; return the status and the secret it showed (if any)."""
    data = {"team": team.pk, "name": "deployer", "role": "editor", **fields}
    response = admin_page(user).post("/admin/access/apitoken/add/", data, follow=True)
    shown = [str(m) for m in response.context["messages"]] if response.context else []
    raw = next((word for m in shown for word in m.split() if word.startswith("baton_")), None)
    return response.status_code, raw


def test_a_team_admin_cannot_grant_shell_rights_they_do_not_hold(platform):
    adam = member("adam", platform, Role.ADMIN, staff=True)  # admin of the team, deliberately without shell rights
    status, raw = create_token(adam, platform, can_define_shell="on")
    assert status == 200 and raw is None
    assert not ApiToken.objects.exists()
    page = admin_page(adam).post(
        "/admin/access/apitoken/add/", {"team": platform.pk, "name": "x", "role": "editor", "can_define_shell": "on"}
    )
    assert "do not hold the permission to define shell tasks" in page.content.decode()
    # Without the flag the same admin makes an editor token, and it cannot define shell tasks.
    _status, raw = create_token(adam, platform)
    assert raw is not None
    assert post_json(token_client(raw), "/api/v1/workflows/", definition(kind="shell")).status_code == 403
    assert not Workflow.objects.exists()


def test_a_token_may_carry_rights_its_creator_holds(alice, platform):
    _status, raw = create_token(alice, platform, can_define_shell="on")
    assert raw is not None
    token = ApiToken.objects.get()
    assert token.created_by == alice and token.can_define_shell
    assert post_json(token_client(raw), "/api/v1/workflows/", definition(kind="shell")).status_code == 201


def test_a_token_acts_within_its_creators_current_rights(alice, platform):
    raw = make_token(platform, Role.EDITOR, name="deployer", created_by=alice, can_define_shell=True)
    client = token_client(raw)
    alice.user_permissions.remove(Permission.objects.get(codename="define_shell_task"))
    assert post_json(client, "/api/v1/workflows/", definition("one", kind="shell")).status_code == 403
    assert post_json(client, "/api/v1/workflows/", definition("two")).status_code == 201
    Membership.objects.filter(user=alice).update(role=Role.VIEWER)
    assert post_json(client, "/api/v1/workflows/", definition("three")).status_code == 403
    assert client.get("/api/v1/workflows/").status_code == 200


@pytest.mark.parametrize("leaves", ["removed", "deactivated", "deleted"])
def test_a_token_stops_when_its_creator_leaves(alice, platform, leaves):
    raw = make_token(platform, Role.OPERATOR, created_by=alice)
    assert token_client(raw).get("/api/v1/workflows/").status_code == 200
    if leaves == "removed":
        Membership.objects.filter(user=alice).delete()
    elif leaves == "deactivated":
        User.objects.filter(pk=alice.pk).update(is_active=False)
    else:
        alice.delete()
    response = token_client(raw).get("/api/v1/workflows/")
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "no longer works" in detail and "create a new one" in detail
    assert {"removed": "no longer a member of team platform", "deactivated": "deactivated", "deleted": "deleted"}[
        leaves
    ] in detail


def test_a_superusers_token_keeps_its_own_rights(platform):
    root = User.objects.create_superuser("root2")
    raw = make_token(platform, Role.EDITOR, created_by=root, can_define_shell=True)
    assert post_json(token_client(raw), "/api/v1/workflows/", definition(kind="shell")).status_code == 201


def test_the_admin_list_shows_orphaned_tokens(alice, bob, platform):
    make_token(platform, Role.OPERATOR, name="kept", created_by=alice)
    make_token(platform, Role.OPERATOR, name="left", created_by=bob)
    Membership.objects.filter(user=bob).delete()
    page = admin_page(alice).get("/admin/access/apitoken/").content.decode()
    assert "orphaned: its creator is no longer a member of team platform; replace it" in page
    assert page.count("orphaned") == 1 and ">active<" in page


def test_token_authentication_costs_one_query(alice, platform, django_assert_num_queries):
    raw = make_token(platform, Role.EDITOR, created_by=alice, can_define_shell=True)
    ApiToken.objects.update(last_used_at=timezone.now())
    request = Request(APIRequestFactory().get("/api/v1/workflows/", HTTP_AUTHORIZATION=f"Bearer {raw}"))
    with django_assert_num_queries(1):
        user, _token = TokenAuthentication().authenticate(request)
        assert user.role == Role.EDITOR and user.has_perm("workflows.define_shell_task")
