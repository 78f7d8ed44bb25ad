"""The admin's recovery pages in Chromium on a real worker: preview the plan, confirm, watch the batch go on."""

from __future__ import annotations

import time

import pytest

from executions.lifecycle import batch_start
from executions.models import Batch
from tests.browser.conftest import batch_settled
from tests.conftest import machine
from workflows.services import workflow_save_definition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def three(script_a: str = "echo a", script_b: str = "echo b; exit 3"):
    """a, then b, then c, on success."""
    tasks = [("a", script_a), ("b", script_b), ("c", "echo c")]
    document = {
        "name": "three",
        "team": "platform",
        "nodes": [
            {
                "key": key,
                "type": "task",
                "task": {"name": f"three-{key}", "kind": "shell", "config": {"script": script}},
            }
            for key, script in tasks
        ],
        "edges": [
            {"from": "start", "to": "a"},
            {"from": "a", "to": "b", "on": "success"},
            {"from": "b", "to": "c", "on": "success"},
        ],
    }
    return workflow_save_definition(document=document, actor=machine()).workflow


def cells(page, field: str) -> list[str]:
    return page.eval_on_selector_all(f"#node_runs-group td.field-{field}", "tds => tds.map(td => td.innerText.trim())")


def node_states(batch_id: str) -> dict[str, str]:
    return dict(Batch.objects.get(pk=batch_id).node_runs.values_list("node_key", "status"))


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_mark_a_failed_node_succeeded_from_the_recover_page(page, worker):
    failed = batch_start(workflow=three(), actor=machine())
    page.goto(f"{page.base}/admin/executions/batch/{failed.pk}/change/")
    batch_settled(page, "failed", timeout=30_000)
    page.click("#recover-batch")
    page.check('input[name="action"][value="mark_succeeded"]')
    page.select_option("#id_node", "b")
    page.click("#preview")
    assert "give a reason" in page.inner_text("#recover-form") and page.locator("#confirm").count() == 0
    page.fill("#id_reason", "checked the ledger by hand")
    page.click("#preview")
    assert page.inner_text("#will-run") == "c"
    assert page.inner_text("#kept").split("\n") == ["a (succeeded)", "b (succeeded)"]
    assert "A new batch" in page.inner_text("#plan-where") and "v1 (original)" in page.inner_text("#plan-where")
    page.click("#confirm")
    page.wait_for_url(lambda url: failed.pk not in url)
    batch_settled(page, "succeeded", timeout=30_000)
    assert cells(page, "status_badge") == ["succeeded", "succeeded", "succeeded"]
    assert "set by alice: checked the ledger by hand" in cells(page, "outcome")[1]


def test_a_failed_node_in_the_drawing_offers_its_recovery(page, worker):
    """Click the failed node, then "Recover this node…": the recover page opens with that node chosen."""
    failed = batch_start(workflow=three(), actor=machine())
    page.goto(f"{page.base}/admin/executions/batch/{failed.pk}/change/")
    batch_settled(page, "failed", timeout=30_000)
    page.locator('#dag-canvas .dag-node[data-key="b"] .shape').click()
    page.click("#node-output-recover")
    page.wait_for_url("**/recover/?node=b")
    assert page.input_value("#id_node") == "b" and page.locator(".errorlist").count() == 0
    page.check('input[name="action"][value="rerun_from"]')
    page.click("#preview")
    assert page.inner_text("#will-run").split("\n") == ["b", "c"]


def test_pause_skip_and_continue_from_the_batch_page(page, worker, tmp_path):
    marker = tmp_path / "go"
    workflow = three(script_a=f"while [ ! -e {marker} ]; do sleep 0.05; done", script_b="echo b")
    batch = batch_start(workflow=workflow, actor=machine())
    wait_for(lambda: node_states(batch.pk)["a"] == "running")
    page.goto(f"{page.base}/admin/executions/batch/{batch.pk}/change/")
    page.click("#pause-batch")
    page.wait_for_selector("#continue-batch", state="visible")
    assert page.locator("#pause-batch").is_hidden() and "Paused" in page.inner_text("#batch-paused")
    page.click("#recover-batch")
    page.check('input[name="action"][value="skip"]')
    page.select_option("#id_node", "c")
    page.click("#preview")
    assert page.inner_text("#will-skip") == "c" and page.inner_text("#running") == "a"
    assert "This batch goes on." in page.inner_text("#plan-where")
    page.click("#confirm")
    page.wait_for_url(f"**/executions/batch/{batch.pk}/change/")
    marker.touch()
    wait_for(lambda: node_states(batch.pk)["a"] == "succeeded")
    assert node_states(batch.pk) == {"a": "succeeded", "b": "pending", "c": "skipped"}  # paused: b waits
    page.goto(f"{page.base}/admin/executions/batch/{batch.pk}/change/")
    page.click("#continue-batch")
    batch_settled(page, "succeeded", timeout=30_000)
    assert cells(page, "status_badge") == ["succeeded", "succeeded", "skipped"]


def test_rerun_from_a_node_on_the_current_version_from_the_recover_page(page, worker):
    workflow = three(script_b="echo v1")
    first = batch_start(workflow=workflow, actor=machine())
    wait_for(lambda: Batch.objects.get(pk=first.pk).status == "succeeded")
    three(script_b="echo v2")  # version 2
    page.goto(f"{page.base}/admin/executions/batch/{first.pk}/recover/")
    page.check('input[name="action"][value="rerun_from"]')
    page.select_option("#id_node", "b")
    page.check('input[name="version"][value="current"]')
    page.click("#preview")
    assert "v2 (current)" in page.inner_text("#plan-where")
    assert page.inner_text("#will-run").split("\n") == ["b", "c"] and page.inner_text("#kept") == "a (succeeded)"
    page.click("#confirm")
    page.wait_for_url(lambda url: first.pk not in url)
    batch_settled(page, "succeeded", timeout=30_000)
    new = Batch.objects.exclude(pk=first.pk).get()
    assert new.version.number == 2 and new.node_runs.get(node_key="b").output == "v2\n"


def test_a_pause_from_elsewhere_shows_on_an_open_batch_page_without_a_reload(page, worker, tmp_path):
    from executions.lifecycle.operate import batch_continue, batch_pause

    marker = tmp_path / "go"
    workflow = three(script_a=f"while [ ! -e {marker} ]; do sleep 0.05; done", script_b="echo b")
    batch = batch_start(workflow=workflow, actor=machine())
    wait_for(lambda: node_states(batch.pk)["a"] == "running")
    page.goto(f"{page.base}/admin/executions/batch/{batch.pk}/change/")
    assert page.locator("#batch-paused").is_hidden()
    batch_pause(batch_id=batch.pk, actor=machine())  # as the API or the CLI would
    page.wait_for_selector("#batch-paused", state="visible")
    page.wait_for_selector("#continue-batch", state="visible")
    batch_continue(batch_id=batch.pk, actor=machine())
    page.wait_for_selector("#batch-paused", state="hidden")
    marker.touch()
    batch_settled(page, "succeeded", timeout=30_000)
