"""The workflow page's settings fields: written into the definition, checked by the one validator, errors on fields."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import translation

from tests.admin.conftest import release
from tests.admin.test_workflows import one_task
from workflows.admin_settings import apply_settings, settings_initial
from workflows.models import Task, Workflow

pytestmark = pytest.mark.django_db

ADD = reverse("admin:workflows_workflow_add")
PREVIEW = reverse("baton_trigger_preview")


def settings_post(document: dict, **fields) -> dict:
    """The add/change form's POST: the JSON, the settings marker and the settings fields."""
    posted = {
        "definition": json.dumps(document),
        "settings_form": "1",
        "trigger_type": "none",
        "trigger_timezone": "UTC",
        "timeout_seconds": "3600",
        "overlap_policy": "skip",
        "misfire_policy": "fire_once_now",
        "enabled": "on",
        "_save": "Save",
    }
    return {**posted, **fields}


def test_the_fields_write_the_trigger_and_settings_into_the_saved_definition(as_user, platform):
    document = one_task("nightly", "my-team")  # the JSON's team is replaced by the select's
    response = as_user("eddie").post(
        ADD,
        settings_post(
            document,
            team="platform",
            trigger_type="cron",
            cron_expression="0 30 2 ? * MON-FRI",
            trigger_timezone="Asia/Shanghai",
            timeout_seconds="900",
            overlap_policy="queue",
            misfire_policy="skip",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    workflow = Workflow.objects.get(name="nightly")
    saved = workflow.current_version.definition
    assert workflow.team.name == "platform"
    assert saved["trigger"] == {"type": "cron", "expression": "0 30 2 ? * MON-FRI", "timezone": "Asia/Shanghai"}
    assert (saved["timeout_seconds"], saved["overlap_policy"], saved["misfire_policy"]) == (900, "queue", "skip")
    assert workflow.schedule.next_fire_at is not None


def test_a_bad_cron_expression_is_shown_on_its_field_in_the_active_language(as_user, platform):
    client = as_user("eddie")
    posted = settings_post(
        one_task("nightly", "platform"), team="platform", trigger_type="cron", cron_expression="0 0 25 * * ?"
    )
    english = client.post(ADD, posted)
    assert english.status_code == 200
    errors = english.context["adminform"].form.errors
    assert "cron_expression" in errors and "definition" not in errors
    assert "hour" in errors["cron_expression"][0].lower() or "25" in errors["cron_expression"][0]
    chinese = client.post(ADD, posted, HTTP_ACCEPT_LANGUAGE="zh-CN")
    message = chinese.context["adminform"].form.errors["cron_expression"][0]
    assert message != errors["cron_expression"][0] and any("\u4e00" <= ch <= "\u9fff" for ch in message)
    assert not Workflow.objects.exists()


def test_a_bad_zone_and_a_periodic_without_anchor_land_on_their_fields(as_user, platform):
    posted = settings_post(
        one_task("nightly", "platform"),
        team="platform",
        trigger_type="periodic",
        every="90",
        unit="minutes",
        start="",
        trigger_timezone="Mars/Olympus",
    )
    errors = as_user("eddie").post(ADD, posted).context["adminform"].form.errors
    assert {"trigger_timezone", "start"} <= set(errors) and "definition" not in errors


def test_the_team_select_offers_only_teams_where_the_user_may_edit(as_user, platform, rivals):
    page = as_user("eddie").get(ADD).content.decode()
    assert '<option value="platform">platform</option>' in page and "rivals" not in page
    assert 'name="team"' not in as_user("olga").get(ADD).content.decode()  # an operator may not add at all
    refused = as_user("eddie").post(ADD, settings_post(one_task("nightly", "rivals"), team="rivals"))
    assert "team" in refused.context["adminform"].form.errors and not Workflow.objects.exists()


def test_the_change_page_shows_the_saved_settings_and_keeps_the_team(as_user, workflow):
    client = as_user("eddie")
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    form = client.get(url).context["adminform"].form
    assert "team" not in form.fields
    assert form["cron_expression"].value() == "0 0 2 ? * MON-FRI"
    assert form["trigger_timezone"].value() == "Asia/Shanghai"
    document = release()
    posted = settings_post(document, trigger_type="periodic", every="2", unit="hours", start="2026-01-01T00:00:00")
    response = client.post(url, posted)
    assert response.status_code == 302
    workflow.refresh_from_db()
    assert workflow.current_version.number == 2
    assert workflow.current_version.definition["trigger"] == {
        "type": "periodic",
        "every": 2,
        "unit": "hours",
        "start": "2026-01-01T00:00:00",
        "timezone": "UTC",
    }


def test_a_post_of_the_json_alone_keeps_the_jsons_settings(as_user, workflow):
    """Without the settings marker (a page without the fields) the JSON is the whole definition."""
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    document = release(timeout_seconds=1234)
    response = as_user("eddie").post(url, {"definition": json.dumps(document), "_save": "Save"})
    assert response.status_code == 302
    workflow.refresh_from_db()
    assert workflow.current_version.definition["timeout_seconds"] == 1234
    assert workflow.current_version.definition["trigger"]["type"] == "cron"


def test_settings_read_back_from_the_document_they_write():
    document = release()
    initial = settings_initial(document)
    cleaned = {**initial, "team": None}
    assert apply_settings(document, cleaned) == document
    assert initial["enabled"] is False and settings_initial({"name": "x"})["enabled"] is True  # the format's default


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_preview_lists_next_fires_in_the_zone_with_its_offset(as_user, platform, language):
    client = as_user("eddie")
    answer = client.get(
        PREVIEW,
        {"type": "cron", "expression": "0 0 2 ? * *", "timezone": "Asia/Shanghai"},
        HTTP_ACCEPT_LANGUAGE=language,
    ).json()
    assert answer["ok"] and answer["zone"] == "Asia/Shanghai" and answer["offset"] == "+0800"
    assert len(answer["fires"]) == 5
    assert all(
        fire["text"].endswith(" 02:00:00 +0800") and fire["utc"].endswith(" 18:00:00 +0000") for fire in answer["fires"]
    )
    bad = client.get(
        PREVIEW, {"type": "cron", "expression": "0 0 2 ? *", "timezone": "UTC"}, HTTP_ACCEPT_LANGUAGE=language
    ).json()
    assert not bad["ok"] and bad["problems"][0]["field"] == "cron_expression"
    with translation.override(language):
        assert bad["problems"][0]["message"]


def test_the_preview_answers_periodic_and_once_and_refuses_a_bad_zone(as_user, platform):
    client = as_user("victor")  # reading fire times needs no role: nothing is saved
    periodic = client.get(
        PREVIEW, {"type": "periodic", "every": "90", "unit": "minutes", "start": "2026-01-01T00:00:00"}
    ).json()
    assert periodic["ok"] and len(periodic["fires"]) == 5 and periodic["zone"] == "UTC"
    once = client.get(PREVIEW, {"type": "once", "at": "2099-01-01T00:00:00", "timezone": "Europe/Berlin"}).json()
    assert once["ok"] and once["fires"][0]["text"] == "2099-01-01 00:00:00 +0100"
    zone = client.get(PREVIEW, {"type": "cron", "expression": "0 0 2 * * ?", "timezone": "Nowhere/City"}).json()
    assert zone["problems"][0]["field"] == "trigger_timezone"
    assert client.get(PREVIEW, {"type": "none"}).json() == {"ok": True, "zone": "UTC", "offset": "+0000", "fires": []}


def test_a_setting_edited_in_the_json_alone_is_kept_and_a_changed_field_wins(as_user, workflow):
    """Without the page's script the fields and the JSON can differ: whichever the user changed counts."""
    client = as_user("eddie")
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    form = client.get(url).context["adminform"].form
    shown = {name: form[name].value() for name in form.fields if name != "definition"}
    as_posted = {k: ("on" if v is True else v) for k, v in shown.items() if v not in (None, False)}
    document = release(timeout_seconds=1234, enabled=True)
    response = client.post(
        url, {**as_posted, "definition": json.dumps(document), "settings_form": "1", "_save": "Save"}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    workflow.refresh_from_db()
    saved = workflow.current_version.definition
    assert saved["timeout_seconds"] == 1234 and saved["trigger"]["expression"] == "0 0 2 ? * MON-FRI"
    assert saved["enabled"] is True  # switched on in the JSON; the checkbox was left as shown

    changed = {**as_posted, "trigger_type": "none", "timeout_seconds": "700"}
    response = client.post(url, {**changed, "definition": json.dumps(document), "settings_form": "1", "_save": "Save"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    workflow.refresh_from_db()
    saved = workflow.current_version.definition
    assert saved["trigger"] == {"type": "none"} and saved["timeout_seconds"] == 700  # the changed fields win


def test_a_standalone_tasks_trigger_from_its_fields_and_its_problem_on_its_field(as_user, platform):
    client = as_user("eddie")
    url = reverse("admin:workflows_task_add")
    posted = {
        "team": platform.pk,
        "name": "ping",
        "kind": "python",
        "config": json.dumps({"callable": "baton.noop"}),
        "timeout_seconds": "60",
        "retries": "0",
        "retry_interval_seconds": "0",
        "queue": "default",
        "trigger": json.dumps({"type": "none"}),
        "settings_form": "1",
        "trigger_type": "cron",
        "cron_expression": "0 0 25 * * ?",
        "trigger_timezone": "Europe/Berlin",
        "_save": "Save",
    }
    errors = client.post(url, posted).context["adminform"].form.errors
    assert "cron_expression" in errors and "trigger" not in errors
    response = client.post(url, {**posted, "cron_expression": "0 0 6 * * ?"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    task = Task.objects.get(name="ping")
    assert task.trigger == {"type": "cron", "expression": "0 0 6 * * ?", "timezone": "Europe/Berlin"}
    assert task.schedule.next_fire_at is not None
