"""The batch and workflow pages as people use them: a live run to its end, buttons by role, resume."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from executions import dispatch
from executions.lifecycle import batch_start
from executions.models import Batch
from tests.browser.conftest import batch_settled, login
from tests.conftest import machine
from workflows.models import Membership, Role
from workflows.services import workflow_save_definition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def chain(script_b: str = "echo b", name: str = "chain"):
    """A workflow of two shell tasks: `a` (echo, then 3 s: long enough to watch it run) then `b`."""
    document = {
        "name": name,
        "team": "platform",
        "nodes": [
            {
                "key": "a",
                "type": "task",
                "task": {"name": f"{name}-a", "kind": "shell", "config": {"script": "echo a-was-here; sleep 3"}},
            },
            {
                "key": "b",
                "type": "task",
                "task": {"name": f"{name}-b", "kind": "shell", "config": {"script": script_b}},
            },
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b", "on": "success"}],
    }
    return workflow_save_definition(document=document, actor=machine()).workflow


def cells(page, field: str, table: str = "node_runs") -> list[str]:
    """Return the texts of one column of the node-run (or events) table, the admin's inlines."""
    return page.eval_on_selector_all(f"#{table}-group td.field-{field}", "tds => tds.map(td => td.innerText.trim())")


def test_every_field_shows_the_final_state_after_a_live_run(page, worker):
    workflow = chain()
    page.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    page.click("#run-once")
    page.wait_for_url("**/executions/batch/*/change/")
    assert page.inner_text(".field-status_badge .readonly") == "running"
    assert page.is_visible("#batch-tables-note")
    page.locator('#dag-canvas .dag-node[data-key="a"] .shape').click()  # watch a node while it runs
    page.wait_for_selector("#node-output-status")
    # When the batch ends the page reloads once: the fields and tables drawn at load are final too.
    batch_settled(page, "succeeded", timeout=30_000)
    assert page.inner_text("#batch-status") == "succeeded"
    assert page.inner_text(".field-finished_when .readonly") not in ("", "-")
    assert cells(page, "status_badge") == ["succeeded", "succeeded"]
    assert all(text not in ("", "-") for text in cells(page, "finished_when"))
    assert "succeeded" in cells(page, "to_status_text", "events")  # the events (timeline table) include the batch's end
    assert not page.is_visible("#batch-tables-note")
    page.wait_for_selector("#node-output-text")  # the node watched before the reload is shown again
    assert "a-was-here" in page.inner_text("#node-output-text") and page.url.endswith("#node=a")
    assert (
        page.is_visible("#rerun-batch") and not page.is_visible("#resume-batch") and not page.is_visible("#stop-batch")
    )


def test_buttons_follow_the_role_and_a_refusal_explains_itself(browser, live_server, monkeypatch):
    monkeypatch.setattr(dispatch, "backend", lambda runs, countdown: None)  # nothing runs: only the pages matter
    workflow = chain()
    for name, role in (("victor", Role.VIEWER), ("olga", Role.OPERATOR)):
        user = get_user_model().objects.create_user(name, password=f"pw-{name}-123", is_staff=True)
        Membership.objects.create(team=workflow.team, user=user, role=role)
    batch = batch_start(workflow=workflow, actor=machine())

    viewer = login(browser, live_server.url, "victor", "pw-victor-123")
    viewer.goto(f"{live_server.url}/admin/workflows/workflow/{workflow.pk}/change/")
    viewer.wait_for_selector('#dag-drawing .dag-node[data-key="b"]')
    assert viewer.locator("#run-once, #enable-workflow, #disable-workflow, .deletelink").count() == 0
    assert "chain-a" in viewer.inner_text(".field-definition_readonly")  # the definition, read-only
    viewer.goto(f"{live_server.url}/admin/executions/batch/{batch.pk}/change/")
    viewer.wait_for_selector('#dag-canvas .dag-node[data-key="a"]')
    assert viewer.locator("#stop-batch, #rerun-batch, #resume-batch").count() == 0
    viewer.locator('#dag-canvas .dag-node[data-key="a"] .shape').click()  # a node's panel: no recovery for a viewer
    viewer.wait_for_selector("#node-output-status")
    assert viewer.locator("#node-output-recover").count() == 0
    viewer.goto(f"{live_server.url}/admin/executions/batch/{batch.pk}/rerun/")  # the URL typed by hand
    assert viewer.url.endswith(f"/admin/executions/batch/{batch.pk}/change/")
    assert "needs the operator role in team platform" in viewer.inner_text(".messagelist")
    viewer.context.close()

    operator = login(browser, live_server.url, "olga", "pw-olga-123")
    operator.goto(f"{live_server.url}/admin/workflows/workflow/{workflow.pk}/change/")
    assert operator.locator(".deletelink").count() == 0 and operator.locator("input[name=_save]").count() == 0
    operator.click("#disable-workflow")
    assert "Disabled chain" in operator.inner_text(".messagelist")
    operator.click("#enable-workflow")
    assert "Enabled chain." in operator.inner_text(".messagelist")
    operator.click("#run-once")
    operator.wait_for_url("**/executions/batch/*/change/")
    assert operator.is_visible("#stop-batch") and not operator.is_visible("#rerun-batch")
    operator.click("#stop-batch")
    operator.click("#confirm-stop")  # the confirmation page says what a stop does
    operator.wait_for_url("**/executions/batch/*/change/")
    batch_settled(operator, "stopped", timeout=15_000)
    assert operator.is_visible("#rerun-batch") and operator.is_visible("#resume-batch")
    operator.context.close()
    assert Batch.objects.count() == 2


def test_resume_is_offered_after_a_failure_only_and_draws_kept_nodes_as_kept(page, worker, tmp_path):
    marker = tmp_path / "fixed"
    workflow = chain(script_b=f"test -e {marker} || exit 3")
    failed = batch_start(workflow=workflow, actor=machine())
    page.goto(f"{page.base}/admin/executions/batch/{failed.pk}/change/")
    batch_settled(page, "failed", timeout=30_000)
    page.locator('#dag-canvas .dag-node[data-key="b"] .shape').click()
    page.wait_for_selector("#node-output-outcome")
    assert page.inner_text("#node-output-outcome") == "exit status 3"
    assert page.inner_text("#node-output-text") == "(no output) — exit status 3"
    page.click("#resume-batch")
    assert page.inner_text("#kept") == "a" and page.inner_text("#will-run") == "b"
    marker.touch()
    page.click("#confirm")
    page.wait_for_url(lambda url: failed.pk not in url)
    batch_settled(page, "succeeded", timeout=30_000)
    kept = page.locator('#batch-timeline .gantt-row[data-key="a"]')
    assert "gantt-kept" in kept.get_attribute("class") and kept.locator(".gantt-bar").count() == 0
    assert f"kept from {failed.pk}" in kept.inner_text()
    ran = page.locator('#batch-timeline .gantt-row[data-key="b"] .gantt-bar')
    assert ran.count() == 1 and float(ran.evaluate("b => parseFloat(b.style.width)")) < 100
    # A succeeded batch offers a re-run, never a resume.
    assert page.is_visible("#rerun-batch") and page.locator("#resume-batch").is_hidden()


LABEL_SIZES = """() => [...document.querySelectorAll('#dag-canvas .dag-node text, #dag-canvas .dag-edge text')]
    .map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)"""


def test_a_failure_shows_its_exit_status_and_last_lines_without_a_click(page, worker):
    workflow = chain(script_b="for i in $(seq 1 30); do echo line-$i; done; echo broken-pipe >&2; exit 3", name="fails")
    batch = batch_start(workflow=workflow, actor=machine())
    page.goto(f"{page.base}/admin/executions/batch/{batch.pk}/change/")
    batch_settled(page, "failed", timeout=30_000)
    box = page.locator("#batch-failures")
    assert box.is_visible()
    text = box.inner_text()
    assert "b" in page.inner_text("#batch-failures .failure-node") and "exit status 3" in text
    assert "broken-pipe" in text and "line-30" in text and "line-5\n" not in text  # the last lines only
    assert not page.is_visible("#node-output-text")  # nothing was clicked
    # The drawing is read at its default zoom: every label of nodes and edges is at least 12 px.
    sizes = page.evaluate(LABEL_SIZES)
    assert sizes and min(sizes) >= 11.99, sizes
    page.click("#batch-failures .failure-node")  # and the name opens the node's whole output
    page.wait_for_selector("#node-output-text")
    assert "line-1\n" in page.inner_text("#node-output-text")


def test_a_successful_batch_shows_no_failure_box(page, worker):
    batch = batch_start(workflow=chain(name="fine"), actor=machine())
    page.goto(f"{page.base}/admin/executions/batch/{batch.pk}/change/")
    batch_settled(page, "succeeded", timeout=30_000)
    assert not page.is_visible("#batch-failures")
