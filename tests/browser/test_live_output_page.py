"""The batch page follows a running node's output: each line shows within two seconds of its printing."""

from __future__ import annotations

import time

import pytest

from executions.lifecycle import batch_start
from tests.browser.conftest import batch_settled
from tests.conftest import machine
from workflows.services import workflow_save_definition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_running_nodes_output_shows_line_by_line(page, worker):
    script = 'sleep 1; for i in 1 2 3 4; do echo "line $i $(date +%s.%N)"; sleep 1; done'
    document = {
        "name": "ticker",
        "team": "platform",
        "nodes": [
            {"key": "tick", "type": "task", "task": {"name": "tick", "kind": "shell", "config": {"script": script}}}
        ],
        "edges": [{"from": "start", "to": "tick"}],
    }
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    batch = batch_start(workflow=workflow, actor=machine())
    page.goto(f"{page.base}/admin/executions/batch/{batch.pk}/change/#node=tick")
    page.wait_for_selector("#node-output-text")
    delays = {}
    for number in ("1", "2", "3", "4"):
        shown = f"() => (document.getElementById('node-output-text') || {{}}).textContent?.includes('line {number} ')"
        page.wait_for_function(shown, timeout=15_000)
        seen = time.time()
        line = next(
            text for text in page.inner_text("#node-output-text").splitlines() if text.startswith(f"line {number} ")
        )
        delays[number] = seen - float(line.split()[2])
    assert all(delay < 2.0 for delay in delays.values()), delays
    batch_settled(page, "succeeded")
