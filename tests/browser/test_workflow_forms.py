"""The workflow page's forms in a real headless Chromium, in English and in Chinese, with a real Celery worker.

Build a workflow with the settings form: the team from a select, a cron trigger whose next fire
times show (in the workflow's zone, with its offset; UTC on hover) while it is typed and whose
mistake shows on its field; save it and run it.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from tests.browser.conftest import batch_settled
from tests.browser.test_editor_and_batch import node, wait_state
from workflows.models import Task, Team, Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(params=["en-US", "zh-CN"])
def speaker(request, browser, live_server):
    """A superuser's page in a browser that asks for English or Chinese."""
    get_user_model().objects.create_superuser("lin", "", "pw-lin-12345")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=request.param)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "lin")
    page.fill("#id_password", "pw-lin-12345")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.base = live_server.url
    page.language = "zh-hans" if request.param == "zh-CN" else "en"
    assert page.get_attribute("html", "lang") == page.language
    yield page
    context.close()


def definition(page) -> dict:
    return json.loads(page.input_value("#id_definition"))


def task_config(page, key: str) -> dict:
    return next(n for n in definition(page)["nodes"] if n["key"] == key)["task"]["config"]


def next_fires(page) -> list[str]:
    page.wait_for_selector('#trigger-preview[data-state="ready"]')
    return page.eval_on_selector_all("#trigger-next-fires time", "ts => ts.map(t => t.textContent)")


def test_build_a_cron_workflow_with_the_forms_see_its_fires_save_and_run_it(speaker, worker):
    page = speaker
    Team.objects.create(name="platform")
    Team.objects.create(name="finance")
    page.goto(f"{page.base}/admin/workflows/workflow/add/")
    wait_state(page, "valid")
    page.fill("#wf-name", "nightly-report")

    # The team: a select of the user's teams.
    assert page.eval_on_selector_all("#id_team option", "os => os.map(o => o.value)") == ["", "finance", "platform"]
    page.select_option("#id_team", "platform")

    # A cron trigger: the next fire times show while typing, in the zone, with its offset; UTC on hover.
    page.select_option("#id_trigger_type", "cron")
    assert page.is_visible("#id_cron_expression") and not page.is_visible("#id_every")
    page.fill("#id_trigger_timezone", "Asia/Shanghai")
    assert page.eval_on_selector("#baton-zone-names", "list => list.options.length") > 400  # the IANA names
    page.fill("#id_cron_expression", "0 30 2 ? * MON-FRI")
    page.wait_for_function(
        "document.querySelectorAll('#trigger-next-fires time').length === 5 && "
        "document.querySelector('#trigger-next-fires time').textContent.includes('02:30:00')"
    )
    fires = next_fires(page)
    assert len(fires) == 5 and all(fire.endswith(" 02:30:00 +0800") for fire in fires), fires
    assert page.get_attribute("#trigger-next-fires time", "title").endswith(" 18:30:00 +0000")
    assert "Asia/Shanghai" in page.inner_text("#trigger-preview") and "+0800" in page.inner_text("#trigger-preview")

    # A mistake shows on the field, in the page's language, before anything is saved.
    page.fill("#id_cron_expression", "0 30 25 ? * MON-FRI")
    page.wait_for_selector("#live-error-cron_expression")
    message = page.inner_text("#live-error-cron_expression")
    assert bool(CJK.search(message)) == (page.language == "zh-hans"), message
    page.fill("#id_cron_expression", "0 30 2 ? * MON-FRI")
    page.wait_for_selector('#trigger-preview[data-state="ready"]')
    assert page.locator("#live-error-cron_expression").count() == 0

    # The JSON view is the same definition.
    page.fill("#id_timeout_seconds", "600")
    page.select_option("#id_overlap_policy", "queue")
    page.wait_for_function("JSON.parse(document.querySelector('#id_definition').value).timeout_seconds === 600")
    shown = definition(page)
    assert shown["team"] == "platform" and shown["overlap_policy"] == "queue"
    assert shown["trigger"] == {"type": "cron", "expression": "0 30 2 ? * MON-FRI", "timezone": "Asia/Shanghai"}
    wait_state(page, "valid")

    # The task: the shell form's script editor (line numbers) and env table (a secret switch per value).
    node(page, "hello").locator(".shape").click()
    page.fill("#task-script", 'echo "greeting=$GREETING"\necho done')
    assert page.inner_text(".task-script-lines").split() == ["1", "2"]
    page.click("#task-env-add")
    page.fill("#task-env .pair-key >> nth=0", "GREETING")
    page.fill("#task-env .pair-value >> nth=0", "hi-from-the-form")
    page.click("#task-env-add")

    page.fill("#task-env .pair-key >> nth=1", "TOKEN")
    page.fill("#task-env .pair-value >> nth=1", "s3cret-value")
    page.check("#task-env .pair-secret >> nth=1")
    assert page.get_attribute("#task-env .pair-value >> nth=1", "type") == "password"
    config = task_config(page, "hello")
    assert config == {
        "script": 'echo "greeting=$GREETING"\necho done',
        "env": {"GREETING": "hi-from-the-form", "TOKEN": {"secret": "s3cret-value"}},
    }

    # Another kind: its own form; the validator's problem shows on its field, in the page's language.
    page.select_option("#task-kind", "http")
    page.fill("#task-url", "ftp://example.com/")
    page.wait_for_selector('#task-form .task-field-error[data-field="url"]:not([hidden])')
    url_problem = page.inner_text('#task-form .task-field-error[data-field="url"]')
    assert "ftp" in url_problem and bool(CJK.search(url_problem)) == (page.language == "zh-hans"), url_problem
    page.select_option("#task-method", "POST")
    page.fill("#task-expected-status", "200, 201")
    assert task_config(page, "hello") == {"method": "POST", "url": "ftp://example.com/", "expected_status": [200, 201]}
    page.select_option("#task-kind", "shell")
    page.fill("#task-script", 'echo "greeting=$GREETING"')
    page.click("#task-env-add")
    page.fill("#task-env .pair-key >> nth=0", "GREETING")
    page.fill("#task-env .pair-value >> nth=0", "hi-from-the-form")
    wait_state(page, "valid")

    page.click("input[name=_continue]")
    page.wait_for_url("**/change/")
    workflow = Workflow.objects.get(name="nightly-report")
    saved = workflow.current_version.definition
    assert workflow.team.name == "platform"
    assert saved["trigger"] == {"type": "cron", "expression": "0 30 2 ? * MON-FRI", "timezone": "Asia/Shanghai"}
    assert saved["timeout_seconds"] == 600 and saved["overlap_policy"] == "queue"
    assert saved["enabled"] is True and workflow.schedule.next_fire_at is not None  # the format's default
    assert page.input_value("#id_cron_expression") == "0 30 2 ? * MON-FRI"  # the saved settings, read back
    assert len(next_fires(page)) == 5

    # Run it.
    wait_state(page, "valid")
    page.click("#run-once")
    page.wait_for_url("**/executions/batch/*/change/")
    batch_settled(page, "succeeded")
    node(page, "hello").locator(".shape").click()
    page.wait_for_selector("#node-output-text")
    assert "greeting=hi-from-the-form" in page.inner_text("#node-output-text")


def new_task(page, name: str, kind: str) -> None:
    """Open the add-task page for team platform and fill the name and kind."""
    Team.objects.create(name="platform")
    page.goto(f"{page.base}/admin/workflows/task/add/")
    page.select_option("#id_team", "platform")
    page.fill("#id_name", name)
    page.select_option("#id_kind", kind)


def test_a_standalone_tasks_config_is_the_form_of_its_kind(speaker):
    page = speaker
    new_task(page, "ping", "http")
    page.fill("#task-url", "https://example.com/health")
    page.click("#task-headers-add")
    page.fill("#task-headers .pair-key >> nth=0", "Authorization")
    page.fill("#task-headers .pair-value >> nth=0", "Bearer abc")
    page.check("#task-headers .pair-secret >> nth=0")
    page.fill("#task-expected-status", "200")
    assert json.loads(page.input_value("#id_config")) == {
        "method": "GET",
        "url": "https://example.com/health",
        "expected_status": [200],
        "headers": {"Authorization": {"secret": "Bearer abc"}},
    }
    # Its trigger as fields too, with the next fires while typing (a period from an anchor, in the zone).
    page.select_option("#id_trigger_type", "periodic")
    page.fill("#id_every", "90")
    page.select_option("#id_unit", "minutes")
    page.fill("#id_start", "2026-01-01T00:00:00")
    page.fill("#id_trigger_timezone", "Europe/Berlin")
    page.wait_for_function("document.querySelectorAll('#trigger-next-fires time').length === 5")
    assert all(fire.endswith(("+0100", "+0200")) for fire in next_fires(page))
    assert json.loads(page.input_value("#id_trigger")) == {
        "type": "periodic",
        "every": 90,
        "unit": "minutes",
        "start": "2026-01-01T00:00:00",
        "timezone": "Europe/Berlin",
    }
    page.click("input[name=_continue]")
    page.wait_for_url("**/change/")
    task = Task.objects.get(name="ping")
    assert task.trigger["type"] == "periodic" and task.schedule.next_fire_at is not None
    assert task.config["url"] == "https://example.com/health" and "Bearer abc" not in json.dumps(task.config)
    # Read back: the stored secret shows as *** behind the switch, and is kept while left so.
    assert page.get_attribute("#task-headers .pair-value >> nth=0", "type") == "password"
    assert page.input_value("#task-headers .pair-value >> nth=0") == "***"


def test_a_shell_command_is_edited_one_argument_per_line_and_reads_back(speaker):
    """argv (no shell) in the form: one argument per line; switching from a script carries its words over."""
    page = speaker
    new_task(page, "copy", "shell")
    page.fill("#task-script", "cp -a /srv/in")
    page.select_option("#task-shell-mode", "argv")
    assert page.input_value("#task-argv") == "cp\n-a\n/srv/in"
    page.fill("#task-argv", "cp\n-a\n/srv/in dir\n/srv/out\n")  # a space inside an argument; a final newline
    assert json.loads(page.input_value("#id_config")) == {"argv": ["cp", "-a", "/srv/in dir", "/srv/out"]}
    page.click("input[name=_continue]")
    page.wait_for_url("**/change/")
    assert Task.objects.get(name="copy").config == {"argv": ["cp", "-a", "/srv/in dir", "/srv/out"]}
    assert page.input_value("#task-shell-mode") == "argv"  # read back as a command
    assert page.input_value("#task-argv") == "cp\n-a\n/srv/in dir\n/srv/out"
    page.select_option("#task-shell-mode", "script")
    assert json.loads(page.input_value("#id_config")) == {"script": "cp -a /srv/in dir /srv/out"}
