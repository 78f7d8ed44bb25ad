"""The rule form in the admin: the clock triggers' fields are checked by the service, the owner is recorded."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, Rule
from executions.models import Fire
from workflows.models import Team, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("alice", "", "pw-alice-123")
    client.force_login(user)
    return client, user


def _form(team: Team, triggers: list[str], **fields: str) -> dict:
    return {"team": team.pk, "triggers": triggers, "enabled": "on", **fields}


def test_a_deadline_rule_without_its_time_is_refused_on_the_field_and_nothing_is_saved(staff):
    client, _ = staff
    team = Team.objects.create(name="ops")
    url = reverse("admin:alerts_rule_add")
    response = client.post(url, _form(team, ["not_succeeded_by"]))
    assert response.status_code == 200 and not Rule.objects.exists()
    errors = response.context["adminform"].form.errors
    assert "the not_succeeded_by trigger needs a deadline (HH:MM)" in str(errors["deadline"])
    response = client.post(url, _form(team, ["not_started_within", "failed"], start_within="5"))
    assert "cannot share a rule with other triggers" in str(response.context["adminform"].form.errors["triggers"])
    assert not Rule.objects.exists()


def test_a_deadline_rule_is_saved_with_its_owner(staff):
    client, user = staff
    team = Team.objects.create(name="ops")
    response = client.post(reverse("admin:alerts_rule_add"), _form(team, ["not_succeeded_by"], deadline="06:30"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    rule = Rule.objects.get()
    assert (rule.deadline.strftime("%H:%M"), rule.created_by, rule.triggers) == ("06:30", user, ["not_succeeded_by"])
    page = client.get(reverse("admin:alerts_rule_change", args=[rule.pk])).content.decode()
    assert "06:30" in page and "alice" in page


def test_the_alert_log_lists_an_alert_about_a_fire_without_a_batch(staff):
    client, _ = staff
    team = Team.objects.create(name="ops")
    workflow = Workflow.objects.create(name="nightly", team=team)
    rule = Rule.objects.create(team=team, triggers=["missed"])
    fire = Fire.objects.create(workflow=workflow, scheduled_for=timezone.now(), outcome="missed", missed_count=3)
    Alert.objects.create(
        team=team, rule=rule, fire=fire, workflow=workflow, trigger="missed", created_at=timezone.now()
    )
    page = client.get(reverse("admin:alerts_alert_changelist")).content.decode()
    assert "nightly @" in page and "missed" in page
