"""A team admin adds members by exact username or e-mail and never sees another team's users (issue 10, item 12)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from workflows.models import Membership, Role, Team

pytestmark = pytest.mark.django_db


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def members_form(team: Team, new_user: Any, role: str = Role.VIEWER) -> dict[str, Any]:
    """The team's change form with its current rows unchanged and one new row for `new_user`."""
    members = list(team.memberships.order_by("pk"))
    data: dict[str, Any] = {
        "name": team.name,
        "description": "",
        "memberships-TOTAL_FORMS": len(members) + 1,
        "memberships-INITIAL_FORMS": len(members),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    for i, m in enumerate(members):
        data.update({f"memberships-{i}-id": m.pk, f"memberships-{i}-team": team.pk, f"memberships-{i}-role": m.role})
    n = len(members)
    data.update({f"memberships-{n}-team": team.pk, f"memberships-{n}-user": new_user, f"memberships-{n}-role": role})
    return data


def test_a_raw_user_id_never_reveals_another_teams_user(alice, mallory, platform):
    response = browser(alice).post(f"/admin/workflows/team/{platform.pk}/change/", members_form(platform, mallory.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "No such user" in page and "mallory" not in page
    assert not Membership.objects.filter(user=mallory, team=platform).exists()


def test_a_team_admin_adds_a_member_by_exact_username_or_email(alice, platform):
    newcomer = User.objects.create_user("nina", email="Nina@example.com", is_staff=True)
    client = browser(alice)
    url = f"/admin/workflows/team/{platform.pk}/change/"
    assert client.post(url, members_form(platform, "nin")).status_code == 200  # no prefix search
    response = client.post(url, members_form(platform, "nina@EXAMPLE.com", Role.OPERATOR))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Membership.objects.get(user=newcomer, team=platform).role == Role.OPERATOR
    page = client.get(url).content.decode()
    assert 'value="nina"' in page and "admin-autocomplete" not in page


def test_the_team_page_and_its_picker_work_for_a_team_admin(alice, carol, mallory, platform):
    page = browser(alice).get(f"/admin/workflows/team/{platform.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="memberships-__prefix__-user"' in html and "exact username or e-mail" in html
    assert "carol" in html and "mallory" not in html


def test_a_members_user_cannot_be_swapped_for_another(alice, carol, mallory, platform):
    data = members_form(platform, "")
    data["memberships-TOTAL_FORMS"] -= 1
    index = next(i for i, m in enumerate(platform.memberships.order_by("pk")) if m.user_id == carol.pk)
    data[f"memberships-{index}-user"] = "mallory"
    response = browser(alice).post(f"/admin/workflows/team/{platform.pk}/change/", data)
    assert response.status_code == 302
    assert not Membership.objects.filter(user=mallory, team=platform).exists()
    assert Membership.objects.filter(user=carol, team=platform).exists()


def test_superusers_keep_the_user_picker(platform, mallory):
    root = User.objects.create_superuser("root")
    client = browser(root)
    assert "admin-autocomplete" in client.get(f"/admin/workflows/team/{platform.pk}/change/").content.decode()
    picked = client.get(
        "/admin/autocomplete/",
        {"app_label": "workflows", "model_name": "membership", "field_name": "user", "term": "mal"},
    )
    assert picked.status_code == 200 and "mallory" in picked.content.decode()
