"""The admin's recovery pages (Django's test client): the recover page's plan and confirm, pause and continue, bulk actions.

The same pages in Chromium on a real worker: tests/browser/test_recovery_pages.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import AuditEntry
from executions import lifecycle
from executions.models import Batch
from executions.states import BatchStatus
from tests.admin.conftest import messages_of
from tests.conftest import machine
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)


def three(platform, script_b: str = "exit 3", script_a: str = "echo a") -> Batch:
    """a, then b (fails unless told otherwise), then c, in team platform."""
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
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    return lifecycle.batch_start(workflow=workflow, actor=machine())


def recover_url(batch: Batch) -> str:
    return reverse("admin:executions_batch_recover", args=[batch.pk])


def test_the_recover_page_previews_the_plan_and_confirm_marks_the_node(as_user, platform, recorder):
    batch = three(platform)
    recorder.drain()
    client = as_user("olga")
    assert (
        'id="recover-batch"' in client.get(reverse("admin:executions_batch_change", args=[batch.pk])).content.decode()
    )
    page = client.get(recover_url(batch)).content.decode()
    assert 'id="preview"' in page and 'id="confirm"' not in page
    page = client.get(recover_url(batch), {"action": "mark_succeeded", "node": "b", "reason": ""}).content.decode()
    assert "give a reason" in page and 'id="confirm"' not in page
    chosen = {"action": "mark_succeeded", "node": "b", "reason": "done by hand", "version": "original"}
    page = client.get(recover_url(batch), chosen).content.decode()
    assert '<ul id="will-run"><li>c</li></ul>' in page and "<li>b (succeeded)</li>" in page and 'id="confirm"' in page
    response = client.post(recover_url(batch), chosen, follow=True)
    new = Batch.objects.exclude(pk=batch.pk).get()
    assert any(f"Started batch {new.pk}" in m for m in messages_of(response))
    recorder.drain()
    new.refresh_from_db()
    assert new.status == BatchStatus.SUCCEEDED and new.node_runs.get(node_key="b").set_by == "olga"
    assert AuditEntry.objects.get(action="node.mark_succeeded").via == "admin"
    page = client.get(reverse("admin:executions_batch_change", args=[new.pk])).content.decode()
    assert "set by olga: done by hand" in page


def test_the_recover_page_shows_a_refusal_and_no_confirm(as_user, platform, recorder):
    batch = three(platform)
    recorder.drain()
    chosen = {"action": "skip", "node": "c", "reason": "", "version": "original"}
    page = as_user("olga").get(recover_url(batch), chosen).content.decode()
    assert 'id="refusal"' in page and "only a node of a running or paused batch" in page and 'id="confirm"' not in page
    assert as_user("olga").post(recover_url(batch), chosen).status_code == 200  # the page again, nothing done
    assert not AuditEntry.objects.filter(action="node.skip").exists()


def test_a_viewer_gets_no_recover_page(as_user, platform, recorder):
    batch = three(platform)
    recorder.drain()
    response = as_user("victor").get(recover_url(batch), follow=True)
    assert any("needs the operator role" in m for m in messages_of(response))


def test_pause_and_continue_buttons(as_user, platform, recorder):
    batch = three(platform, script_b="echo b")
    client = as_user("olga")
    change = reverse("admin:executions_batch_change", args=[batch.pk])
    client.post(reverse("admin:executions_batch_pause", args=[batch.pk]))
    state = client.get(reverse("baton_batch_state", args=[batch.pk])).json()
    assert state["batch"]["paused"] and state["actions"]["continue"] and not state["actions"]["pause"]
    recorder.drain()
    assert Batch.objects.get(pk=batch.pk).status == BatchStatus.RUNNING
    response = client.post(reverse("admin:executions_batch_continue", args=[batch.pk]), follow=True)
    assert response.redirect_chain[-1][0] == change
    recorder.drain()
    assert Batch.objects.get(pk=batch.pk).status == BatchStatus.SUCCEEDED
    response = client.post(reverse("admin:executions_batch_continue", args=[batch.pk]), follow=True)
    assert any("not paused" in m for m in messages_of(response))


def test_bulk_actions_in_the_batch_list(as_user, platform, recorder):
    failed = three(platform)
    recorder.drain()
    running = three(platform, script_b="echo b")
    client = as_user("olga")
    changelist = reverse("admin:executions_batch_changelist")
    chosen = {"action": "bulk_resume", "_selected_action": [failed.pk, running.pk]}
    # First the confirmation: what the action takes, what it refuses and why; nothing happens yet.
    plan = client.post(changelist, chosen).content.decode()
    assert 'id="bulk-plan"' in plan and 'id="confirm-bulk"' in plan and "still running" in plan
    assert not Batch.objects.filter(rerun_of=failed).exists()
    response = client.post(changelist, {**chosen, "confirmed": "1"}, follow=True)
    texts = messages_of(response)
    assert any(f"Done: {failed.pk} → " in m for m in texts)
    assert any(f"Refused: {running.pk}: " in m and "still running" in m for m in texts)
    stop = {"action": "bulk_stop", "_selected_action": [running.pk]}
    assert 'id="confirm-bulk"' in client.post(changelist, stop).content.decode()
    assert not AuditEntry.objects.filter(action="batch.stop").exists()
    response = client.post(changelist, {**stop, "confirmed": "1"}, follow=True)
    assert any(f"Done: {running.pk}" in m for m in messages_of(response))
    assert AuditEntry.objects.filter(action="batch.stop", object_id=running.pk, via="admin").count() == 1
    assert AuditEntry.objects.filter(action="batch.resume", object_id=failed.pk, via="admin").count() == 1


def test_the_rerun_page_offers_the_current_version(as_user, platform, recorder):
    batch = three(platform, script_b="echo v1")
    recorder.drain()
    three(platform, script_b="echo v2")  # saves version 2 of the same workflow
    recorder.drain()
    client = as_user("olga")
    url = reverse("admin:executions_batch_rerun", args=[batch.pk])
    page = client.get(url).content.decode()
    assert "On the version it ran, v1 (original)." in page and "version=current" in page
    page = client.get(url, {"version": "current"}).content.decode()
    assert "current version, v2" in page and 'name="version" value="current"' in page
    client.post(url, {"resume": "0", "version": "current"})
    recorder.drain()
    new = Batch.objects.filter(rerun_of=batch).get()
    assert new.version.number == 2 and new.node_runs.get(node_key="b").output == "v2\n"
