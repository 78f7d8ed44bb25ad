"""Alerts in the admin: channels and rules saved through the services, the test action, the delivery log."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from alerts.models import Channel, Rule
from tests.admin.conftest import messages_of

pytestmark = pytest.mark.django_db


def channel_form(team, **fields) -> dict:
    values = {"team": team.pk, "name": "ops-mail", "kind": "email", "language": "zh-hans", "enabled": "on"}
    values["config"] = json.dumps(fields.pop("config", {"to": ["ops@example.com"]}))
    return {**values, **fields}


def test_an_editor_adds_a_channel_and_a_default_rule(as_user, platform):
    browser = as_user("eddie")
    response = browser.post(reverse("admin:alerts_channel_add"), channel_form(platform))
    assert response.status_code == 302, response.content[:2000]
    channel = Channel.objects.get(name="ops-mail")
    assert channel.language == "zh-hans" and channel.config == {"to": ["ops@example.com"]}
    rule = {"team": platform.pk, "triggers": ["failed", "recovered"], "channels": [channel.pk]}
    response = browser.post(reverse("admin:alerts_rule_add"), rule)
    assert response.status_code == 302, response.content[:2000]
    saved = Rule.objects.get()
    assert saved.triggers == ["failed", "recovered"] and saved.workflow is None
    assert list(saved.channels.all()) == [channel]


def test_a_bad_config_is_shown_on_its_field_and_nothing_is_saved(as_user, platform):
    response = as_user("eddie").post(
        reverse("admin:alerts_channel_add"), channel_form(platform, kind="webhook", config={"url": "ftp://x"})
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "config.secret" in text and "config.url" in text
    assert not Channel.objects.exists()


def test_the_test_action_reports_the_reason(as_user, platform):
    as_user("eddie").post(
        reverse("admin:alerts_channel_add"),
        channel_form(platform, kind="webhook", config={"url": "http://10.9.8.7/x", "secret": "k"}, name="hook"),
    )
    channel = Channel.objects.get(name="hook")
    response = as_user("eddie").post(
        reverse("admin:alerts_channel_changelist"),
        {"action": "send_test_message", "_selected_action": [channel.pk]},
        follow=True,
    )
    assert any("refused: 10.9.8.7 (private)" in message for message in messages_of(response))


def test_the_delivery_log_and_alert_pages_open(as_user):
    for name in ("alerts_delivery_changelist", "alerts_alert_changelist", "alerts_rule_changelist"):
        assert as_user("eddie").get(reverse(f"admin:{name}")).status_code == 200
