"""Authentication (session with CSRF, team-scoped tokens), the audit endpoint, and the admin's token page."""

from __future__ import annotations

import pytest
from django.test import Client

from access.models import ApiToken, AuditEntry, token_hash
from tests.api.conftest import definition, make_token, post_json, token_client
from workflows.models import Role

pytestmark = pytest.mark.django_db


def test_anonymous_requests_are_401_with_a_bearer_challenge(client_for):
    response = client_for(None).get("/api/v1/workflows/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


def test_a_token_acts_in_its_team_with_its_role(platform, rival_workflow, workflow):
    client = token_client(make_token(platform, Role.OPERATOR))
    names = [w["name"] for w in client.get("/api/v1/workflows/").json()["results"]]
    assert names == ["release"]
    assert client.get(f"/api/v1/workflows/{rival_workflow.pk}/").status_code == 404
    assert post_json(client, f"/api/v1/workflows/{workflow.pk}/run/").status_code == 201
    assert client.put(f"/api/v1/workflows/{workflow.pk}/", definition(), format="json").status_code == 403
    entry = AuditEntry.objects.get(action="workflow.run")
    assert entry.actor is None and entry.actor_label.startswith("token:ci")
    assert entry.source_address == "127.0.0.1"


def test_token_shell_permission_is_its_own_flag(platform):
    plain = token_client(make_token(platform, Role.EDITOR, name="plain"))
    shell = token_client(make_token(platform, Role.EDITOR, name="deployer", can_define_shell=True))
    assert post_json(plain, "/api/v1/workflows/", definition(kind="shell")).status_code == 403
    assert post_json(shell, "/api/v1/workflows/", definition(kind="shell")).status_code == 201


def test_revoked_and_unknown_tokens_are_refused(platform):
    raw = make_token(platform)
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert token_client(raw).get("/api/v1/workflows/").status_code == 401
    assert token_client("baton_nope").get("/api/v1/workflows/").status_code == 401


def test_only_a_hash_of_the_token_is_stored(platform):
    raw = make_token(platform)
    token = ApiToken.objects.get()
    assert token.key_hash == token_hash(raw) and raw not in str(ApiToken.objects.values().get())


def test_session_auth_needs_csrf_for_writes(alice, workflow):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get("/api/v1/workflows/").status_code == 200
    refused = browser.post(f"/api/v1/workflows/{workflow.pk}/disable/", content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    browser.get("/admin/")  # the page's logout form sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        f"/api/v1/workflows/{workflow.pk}/disable/", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 200


def test_admin_creates_a_token_shows_it_once_and_revokes_it(alice, platform):
    browser = Client()
    browser.force_login(alice)
    response = browser.post(
        "/admin/access/apitoken/add/", {"team": platform.pk, "name": "ci", "role": "operator"}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    raw = next(word for m in shown for word in m.split() if word.startswith("baton_"))
    assert token_client(raw).get("/api/v1/workflows/").status_code == 200
    token = ApiToken.objects.get()
    browser.post("/admin/access/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert token_client(raw).get("/api/v1/workflows/").status_code == 401
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == ["token.create", "token.revoke"]


def test_team_admin_cannot_make_tokens_for_another_team(alice, rivals):
    browser = Client()
    browser.force_login(alice)
    response = browser.post("/admin/access/apitoken/add/", {"team": rivals.pk, "name": "x", "role": "operator"})
    assert response.status_code == 200 and not ApiToken.objects.exists()  # the form refuses the choice


def test_audit_is_visible_to_team_admins_only_and_filterable(client_for, alice, bob, workflow):
    post_json(client_for(bob), f"/api/v1/workflows/{workflow.pk}/disable/")
    body = client_for(alice).get("/api/v1/audit/", {"action": "workflow.disable"}).json()
    assert body["count"] == 1
    entry = body["results"][0]
    assert entry["actor"] == "bob" and entry["team"] == "platform" and entry["before"] == {"enabled": True}
    assert client_for(bob).get("/api/v1/audit/").json()["count"] == 0


def test_membership_changes_in_the_admin_are_audited(alice, carol, platform):
    browser = Client()
    browser.force_login(alice)
    membership = carol.memberships.get()
    members = list(platform.memberships.order_by("pk"))
    data = {
        "name": "platform",
        "description": "",
        "memberships-TOTAL_FORMS": len(members),
        "memberships-INITIAL_FORMS": len(members),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    for i, m in enumerate(members):
        data.update(
            {
                f"memberships-{i}-id": m.pk,
                f"memberships-{i}-team": platform.pk,
                f"memberships-{i}-user": m.user_id,
                f"memberships-{i}-role": "operator" if m.pk == membership.pk else m.role,
            }
        )
    response = browser.post(f"/admin/workflows/team/{platform.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(action="membership.change")
    assert entry.before == {"user": "carol", "role": "viewer"} and entry.after == {"user": "carol", "role": "operator"}


def test_schema_and_docs_are_served_by_the_app_without_a_cdn(client_for):
    client = Client()
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/batches/" in schema.content
    for url in ("/api/docs/", "/api/redoc/"):
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "cdn" not in html.lower() and "https://" not in html.split("<body")[0], html[:2000]
        assert "/static/drf_spectacular_sidecar/" in html
