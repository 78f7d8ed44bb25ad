"""Alert channels and rules through the API: roles, sealed and masked secrets, the test action, the delivery log."""

from __future__ import annotations

import pytest

from access.models import AuditEntry
from alerts.models import Channel
from tests.alerts.receiver import local_receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook(settings):
    settings.BATON_HTTP_ALLOWED_NETWORKS = ("127.0.0.1/32",)
    with local_receiver() as server:
        yield server


def _channel(url: str, secret: str = "t0p-secret") -> dict:
    return {"team": "platform", "name": "ops-hook", "kind": "webhook", "config": {"url": url, "secret": secret}}


def test_an_editor_creates_a_channel_whose_secret_is_sealed_and_masked(client_for, alice, hook):
    response = client_for(alice).post("/api/v1/alert-channels/", _channel(hook.url), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["config"] == {"url": hook.url, "secret": {"secret": "***"}}
    stored = Channel.objects.get(name="ops-hook").config
    assert set(stored["secret"]) == {"sealed"} and "t0p-secret" not in str(stored)
    assert AuditEntry.objects.filter(action="alert_channel.create").count() == 1


def test_a_kept_secret_must_be_typed_again_when_the_url_moves(client_for, alice, hook):
    client = client_for(alice)
    pk = client.post("/api/v1/alert-channels/", _channel(hook.url), format="json").json()["id"]
    moved = {"config": {"url": "https://elsewhere.example.com/x", "secret": "***"}}
    response = client.patch(f"/api/v1/alert-channels/{pk}/", moved, format="json")
    assert response.status_code == 400 and "enter this secret again" in response.content.decode()


def test_a_viewer_cannot_create_a_channel_and_an_operator_can_test_one(client_for, alice, bob, carol, hook):
    url = hook.url
    response = client_for(carol).post("/api/v1/alert-channels/", _channel(url), format="json")
    assert response.status_code == 403
    pk = client_for(alice).post("/api/v1/alert-channels/", _channel(url), format="json").json()["id"]
    assert client_for(carol).post(f"/api/v1/alert-channels/{pk}/test/").status_code == 403
    response = client_for(bob).post(f"/api/v1/alert-channels/{pk}/test/")
    assert response.json() == {"ok": True, "error": None} and len(hook.received) == 1
    assert b"Test message" in hook.received[0][1]


def test_testing_a_private_address_answers_the_guards_reason(client_for, alice):
    body = _channel("http://192.168.1.20/hook")
    pk = client_for(alice).post("/api/v1/alert-channels/", body, format="json").json()["id"]
    result = client_for(alice).post(f"/api/v1/alert-channels/{pk}/test/").json()
    assert result["ok"] is False and result["error"].startswith("refused: 192.168.1.20 (private)")


def test_bad_channels_and_rules_get_clear_errors(client_for, alice, hook):
    client = client_for(alice)
    wrong = [
        ({**_channel(hook.url), "kind": "pager"}, "kind"),
        ({**_channel(hook.url), "config": {"url": hook.url}}, "config.secret"),
        ({**_channel(hook.url), "language": "fr"}, "language"),
        ({"team": "platform", "name": "m", "kind": "email", "config": {"to": "not-an-address"}}, "config.to"),
    ]
    for body, field in wrong:
        response = client.post("/api/v1/alert-channels/", body, format="json")
        assert response.status_code == 400 and field in {e["field"] for e in response.json()["errors"]}, body
    rule = {"team": "platform", "triggers": ["exploded"], "channels": ["nope"]}
    response = client.post("/api/v1/alert-rules/", rule, format="json")
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"triggers", "channels"}


def test_a_rule_names_its_channels_and_the_delivery_log_lists_nothing_yet(client_for, alice, hook):
    client = client_for(alice)
    client.post("/api/v1/alert-channels/", _channel(hook.url), format="json")
    rule = {"team": "platform", "triggers": ["failed", "recovered"], "channels": ["ops-hook"]}
    response = client.post("/api/v1/alert-rules/", rule, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["channels"] == ["ops-hook"] and response.json()["workflow"] is None
    assert client.get("/api/v1/alert-deliveries/").json()["results"] == []


def test_running_long_needs_a_limit_and_a_rule_of_its_own(client_for, alice):
    client = client_for(alice)
    cases = [
        ({"triggers": ["running_long"]}, {"running_longer_than"}),
        ({"triggers": ["running_long", "failed"], "running_longer_than": 60}, {"triggers"}),
        ({"triggers": ["failed"], "running_longer_than": 60}, {"running_longer_than"}),
    ]
    for body, fields in cases:
        response = client.post("/api/v1/alert-rules/", {"team": "platform", **body}, format="json")
        assert response.status_code == 400 and {e["field"] for e in response.json()["errors"]} == fields, body
    body = {"team": "platform", "triggers": ["running_long"], "running_longer_than": 3600}
    response = client.post("/api/v1/alert-rules/", body, format="json")
    assert response.status_code == 201 and response.json()["running_longer_than"] == 3600


def test_the_clock_rules_fields_are_checked_with_clear_errors(client_for, alice):
    client = client_for(alice)
    cases = [
        ({"triggers": ["not_succeeded_by"]}, {"deadline"}),
        ({"triggers": ["not_succeeded_by"], "deadline": "25:00"}, {"deadline"}),
        ({"triggers": ["not_succeeded_by"], "deadline": "7pm"}, {"deadline"}),
        ({"triggers": ["not_started_within"]}, {"start_within"}),
        ({"triggers": ["not_started_within"], "start_within": 0}, {"start_within"}),
        ({"triggers": ["not_started_within", "missed"], "start_within": 5}, {"triggers"}),
        ({"triggers": ["failed"], "deadline": "06:00"}, {"deadline"}),
        ({"triggers": ["running_long"], "running_longer_than": 60, "running_long_factor": 2}, {"running_longer_than"}),
        ({"triggers": ["running_long"], "running_long_factor": 0.5}, {"running_long_factor"}),
        (
            {"triggers": ["running_long"], "running_longer_than": 60, "running_long_history": 5},
            {"running_long_history"},
        ),
    ]
    for body, fields in cases:
        response = client.post("/api/v1/alert-rules/", {"team": "platform", **body}, format="json")
        assert response.status_code == 400, body
        assert {e["field"] for e in response.json()["errors"]} == fields, (body, response.json())


def test_deadline_and_fire_rules_are_saved_with_their_owner(client_for, alice):
    client = client_for(alice)
    body = {"team": "platform", "triggers": ["not_succeeded_by"], "deadline": "06:30"}
    response = client.post("/api/v1/alert-rules/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["deadline"] == "06:30" and response.json()["owner"] == alice.username
    body = {"team": "platform", "triggers": ["missed", "skipped", "stopped"]}
    assert client.post("/api/v1/alert-rules/", body, format="json").status_code == 201
    body = {"team": "platform", "triggers": ["running_long"], "running_long_factor": 1.5, "running_long_history": 30}
    response = client.post("/api/v1/alert-rules/", body, format="json")
    assert response.status_code == 201 and response.json()["running_long_factor"] == 1.5
