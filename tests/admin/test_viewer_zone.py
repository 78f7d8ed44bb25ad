"""Times operators can read: the viewer's zone (chosen in the header, else the workflow's), offset shown, UTC on hover."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from access.preferences import SESSION_KEY
from executions.admin import duration_text
from executions.lifecycle import batch_start
from tests.admin.conftest import messages_of
from tests.conftest import machine

pytestmark = pytest.mark.django_db

SET_ZONE = reverse("baton_set_time_zone")
TIME = re.compile(
    r'<time datetime="[^"]+" title="UTC: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})</time>'
)


def shown_times(page: str) -> list[str]:
    return TIME.findall(page)


def test_the_workflow_page_shows_times_in_the_workflows_zone_by_default(as_user, workflow):
    """The release pipeline's cron runs in Asia/Shanghai: its version times read +0800, UTC on hover."""
    page = as_user("eddie").get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()
    times = shown_times(page)
    assert times and all(t.endswith("+0800") for t in times), times
    assert 'id="zone-choice"' in page and 'value=""' in page.split('id="zone-choice"')[1].split(">")[0]


def test_a_chosen_zone_applies_to_every_page_and_empty_goes_back_to_the_default(as_user, workflow):
    client = as_user("eddie")
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    response = client.post(SET_ZONE, {"zone": "Europe/Berlin", "next": url})
    assert response.status_code == 302 and response.url == url
    assert client.session[SESSION_KEY] == "Europe/Berlin"
    times = shown_times(client.get(url).content.decode())
    assert times and all(t.endswith("+0100") for t in times), times
    assert 'value="Europe/Berlin"' in client.get(reverse("admin:index")).content.decode()
    client.post(SET_ZONE, {"zone": "", "next": url})
    assert SESSION_KEY not in client.session
    assert all(t.endswith("+0800") for t in shown_times(client.get(url).content.decode()))


def test_an_unknown_zone_is_refused_with_a_message_and_a_foreign_next_is_ignored(as_user, workflow):
    client = as_user("eddie")
    response = client.post(SET_ZONE, {"zone": "Mars/Olympus", "next": "https://evil.example/"}, follow=True)
    assert response.redirect_chain[0][0] == "/admin/"
    assert any("Mars/Olympus" in message for message in messages_of(response))
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4234, "0.42 s"),
        (12.34, "12.3 s"),
        (185, "3 min 05 s"),
        (7620, "2 h 07 min"),
        (3 * 86400 + 4 * 3600, "3 d 04 h"),
    ],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert duration_text(seconds) == text


def test_the_batch_page_shows_its_times_in_the_workflows_zone_with_utc_on_hover(as_user, workflow):
    batch = batch_start(workflow=workflow, actor=machine())
    page = as_user("eddie").get(reverse("admin:executions_batch_change", args=[batch.pk])).content.decode()
    created = page.split("field-created_when")[1]
    assert shown_times(created) and shown_times(created)[0].endswith("+0800")
    listing = as_user("eddie").get(reverse("admin:executions_batch_changelist")).content.decode()
    assert shown_times(listing) and shown_times(listing)[0].endswith("+0000")  # no workflow page: UTC


def test_the_tables_of_runs_events_fires_and_the_audit_trail_show_utc_on_hover(as_user, workflow):
    from executions.models import Event, Fire, FireOutcome

    batch = batch_start(workflow=workflow, actor=machine())
    page = as_user("root").get(reverse("admin:executions_batch_change", args=[batch.pk])).content.decode()
    events = page.split('id="events-group"')[1]
    assert Event.objects.filter(batch=batch).exists() and shown_times(events.split("field-at_when")[1])
    assert 'class="field-started_when"' in page and 'class="field-finished_when"' in page  # node runs
    audit = as_user("root").get(reverse("admin:access_auditentry_changelist")).content.decode()
    assert shown_times(audit.split("field-at_when")[1])
    Fire.objects.create(workflow=workflow, scheduled_for=batch.created_at, outcome=FireOutcome.MISSED)
    fires = as_user("root").get(reverse("admin:executions_fire_changelist")).content.decode()
    assert "column-scheduled_when" in fires and len(shown_times(fires.split("column-recorded_when")[1])) >= 2
