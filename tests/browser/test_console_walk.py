"""The console walked as its two readerships use it, in Chromium: English and Chinese browsers.

Run a workflow from its page, read the failure's exit status on the batch page without a click,
find the batch again from the workflow's execution records (filtered by status, searched by a
part of its id), and open it from there. With BATON_SCREENSHOTS=1 the main pages are saved to
docs/console-*.{en,zh-hans}.png. (Building a workflow with the forms and seeing a cron's next
fires before saving is tests/browser/test_workflow_forms.py, in both languages too.)
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import batch_settled, screenshot
from tests.browser.test_chinese import english_in
from tests.browser.test_workflow_forms import speaker  # noqa: F401 (a fixture: en-US and zh-CN)
from tests.conftest import machine
from workflows.models import Team
from workflows.services import workflow_save_definition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WORDS = {
    "en": {"failed": "failed", "exit": "exit status 3", "records": "Execution records"},
    "zh-hans": {"failed": "失败", "exit": "退出码 3", "records": "执行记录"},
}


def one_shell_node(name: str, script: str, trigger: dict | None = None):
    """Save a workflow of team platform whose one node, `load`, runs `script` (with `trigger`, if given)."""
    Team.objects.create(name="platform")
    task = {"name": "load", "kind": "shell", "config": {"script": script}}
    document = {
        "name": name,
        "team": "platform",
        "nodes": [{"key": "load", "type": "task", "task": task}],
        "edges": [{"from": "start", "to": "load"}],
    }
    if trigger is not None:
        document["trigger"] = trigger
    return workflow_save_definition(document=document, actor=machine()).workflow


def test_run_read_a_failure_and_find_it_again_from_the_execution_records(speaker, worker):  # noqa: F811
    page, words = speaker, WORDS[speaker.language]
    workflow = one_shell_node("nightly-load", "echo loading rows; echo table locked >&2; exit 3")
    screenshot(page, f"console-home.{page.language}.png")

    # Run it from its page; the batch page says how the node ended and shows its last lines.
    page.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    page.click("#run-once")
    page.wait_for_url("**/executions/batch/*/change/")
    batch_id = page.url.rstrip("/").split("/")[-2]
    batch_settled(page, "failed")
    failure = page.inner_text("#batch-failures")
    assert words["failed"] in failure and words["exit"] in failure, failure
    assert "table locked" in failure and "loading rows" in failure
    screenshot(page, f"console-batch.{page.language}.png", "#content")
    if page.language == "zh-hans":
        assert not english_in(page.inner_text("#batch-failures h3")), failure

    # Find it again: the workflow's execution records, failed ones, by a part of the id.
    page.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    records = page.locator("#execution-records")
    assert words["records"] in records.locator("h2").inner_text()
    page.select_option("#records-status", "failed")
    page.fill("#records-q", batch_id[2:6])
    with page.expect_navigation(url="**records_status=failed**", timeout=45_000):  # a loaded 2-core machine is slow
        page.click("#records-filter button[type=submit]")
    rows = page.eval_on_selector_all("#execution-records tr.record", "rs => rs.map(r => r.dataset.batch)")
    assert rows == [batch_id], rows
    screenshot(page, f"console-records.{page.language}.png", "#execution-records")
    page.click(f'#execution-records tr.record[data-batch="{batch_id}"] a')
    page.wait_for_url(f"**/executions/batch/{batch_id}/change/**")
    batch_settled(page, "failed")
    assert words["exit"] in page.inner_text("#batch-failures")

    # The workflow page with its settings form, as people edit it every day.
    page.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    page.wait_for_selector("#id_trigger_type")
    screenshot(page, f"console-workflow.{page.language}.png", "#content")


def test_nothing_below_the_editor_moves_when_the_validator_answers(speaker):  # noqa: F811
    """A click aimed at the execution records lands where it was aimed.

    The editor's check of the definition answers after the page has loaded; its verdict line
    used to appear then and push everything below it down a line, so a click on a record (or
    the filter's button) made just before hit the line above it (seen as a flaky walk on a
    loaded machine).
    """
    workflow = one_shell_node("steady", "true")
    records_stay_put(
        speaker,
        workflow,
        held="**/validate/**",
        asked="#dag-editor[data-state=pending]",
        answered="#dag-editor[data-state=valid]",
    )


def test_nothing_below_the_trigger_moves_when_its_next_fire_times_answer(speaker):  # noqa: F811
    """The trigger's next fire times fill room the page held for them from its first paint.

    The settings form asks the server for a cron's next fire times after the page has loaded;
    their list used to appear then and push the versions and the execution records down by its
    height, under a click aimed at them.
    """
    workflow = one_shell_node("nightly", "true", {"type": "cron", "expression": "0 0 2 ? * *", "timezone": "UTC"})
    records_stay_put(
        speaker,
        workflow,
        held="**/triggers/preview/**",
        asked="#trigger-preview[data-state=pending]",
        answered="#trigger-preview[data-state=ready]",
    )
    assert speaker.locator("#trigger-next-fires li").count() == 5


def records_stay_put(page, workflow, *, held: str, asked: str, answered: str) -> None:
    """Open the workflow's page holding the requests to `held` until the records' position has been read.

    `asked` is there once the page asked (the held request), `answered` once the answer is shown:
    the records must be where they were before it.
    """
    requests = []
    page.route(held, lambda route: requests.append(route))
    page.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    page.wait_for_selector(asked, state="attached")
    where = "document.getElementById('execution-records').getBoundingClientRect().top + window.scrollY"
    before = page.evaluate(where)
    assert requests, f"the page asked nothing of {held}"
    for route in requests:
        route.continue_()
    page.wait_for_selector(answered, state="attached")
    assert page.evaluate(where) == before
