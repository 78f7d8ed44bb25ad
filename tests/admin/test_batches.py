"""The batch page as every role sees it: stop / re-run / resume, refusals, exit status, kept nodes."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from baton import errors
from executions import lifecycle
from executions.models import Batch
from executions.states import BatchStatus
from tests.admin.conftest import messages_of
from tests.conftest import machine
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)  # the recorder gets work on commit
BUTTONS = {"stop": 'id="stop-batch"', "rerun": 'id="rerun-batch"', "resume": 'id="resume-batch"'}


def chain(platform, marker, *, team: str = "platform") -> Batch:
    """Run `a` (echo) then `b`, which fails silently with exit status 3 unless the marker file exists."""
    document = {
        "name": "chain",
        "team": team,
        "nodes": [
            {"key": "a", "type": "task", "task": {"name": "a", "kind": "shell", "config": {"script": "echo a"}}},
            {
                "key": "b",
                "type": "task",
                "task": {"name": "b", "kind": "shell", "config": {"script": f"test -e {marker} || exit 3"}},
            },
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b", "on": "success"}],
    }
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    return lifecycle.batch_start(workflow=workflow, actor=machine())


@pytest.fixture
def failed(platform, recorder, tmp_path) -> Batch:
    batch = chain(platform, tmp_path / "fixed")
    recorder.drain()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED
    return batch


def batch_url(batch: Batch) -> str:
    return reverse("admin:executions_batch_change", args=[batch.pk])


def shown(page: str) -> set[str]:
    """Return the buttons a page shows (a hidden one is rendered but not displayed)."""
    visible = set()
    for name, marker in BUTTONS.items():
        if marker in page:
            opening = page[: page.index(marker)].rsplit("<li", 1)[1].split(">")[0]
            if "hidden" not in opening:
                visible.add(name)
    return visible


@pytest.mark.parametrize(
    ("name", "expected"),
    [("root", {"rerun", "resume"}), ("ada", {"rerun", "resume"}), ("olga", {"rerun", "resume"}), ("victor", set())],
)
def test_buttons_of_a_failed_batch_follow_the_role(as_user, failed, name, expected):
    page = as_user(name).get(batch_url(failed)).content.decode()
    assert shown(page) == expected
    if name == "victor":
        assert not any(marker in page for marker in BUTTONS.values())  # not even hidden


def test_a_running_batch_offers_stop_to_an_operator_only(as_user, platform, tmp_path):
    batch = chain(platform, tmp_path / "fixed")
    assert shown(as_user("olga").get(batch_url(batch)).content.decode()) == {"stop"}
    assert shown(as_user("victor").get(batch_url(batch)).content.decode()) == set()


def test_stop_asks_for_a_confirmation_that_says_what_a_stop_does(as_user, platform, tmp_path, failed):
    batch = chain(platform, tmp_path / "fixed")  # running: nothing drains the recorder
    url = reverse("admin:executions_batch_stop", args=[batch.pk])
    page = as_user("olga").get(url).content.decode()
    assert 'id="confirm-stop"' in page and "SIGTERM" in page and "<li>a</li>" in page  # what runs now
    assert Batch.objects.get(pk=batch.pk).stop_requested_at is None  # a GET stops nothing
    viewer = as_user("victor").get(url, follow=True)
    assert f"Stopping batch {batch.pk} needs the operator role in team platform." in messages_of(viewer)
    ended = as_user("olga").get(reverse("admin:executions_batch_stop", args=[failed.pk]), follow=True)
    assert 'id="confirm-stop"' not in ended.content.decode() and any("not running" in m for m in messages_of(ended))
    as_user("olga").post(url)
    assert Batch.objects.get(pk=batch.pk).stop_requested_at is not None


def test_a_viewer_opening_the_rerun_url_gets_a_message_not_a_confirmation(as_user, failed):
    client = as_user("victor")
    for query, verb in (("", "Re-running"), ("?resume=1", "Resuming")):
        url = reverse("admin:executions_batch_rerun", args=[failed.pk]) + query
        response = client.get(url, follow=True)
        assert response.redirect_chain == [(batch_url(failed), 302)]
        assert f"{verb} batch {failed.pk} needs the operator role in team platform." in messages_of(response)
        assert 'id="confirm"' not in response.content.decode()
        assert client.post(url, {"resume": "1" if query else "0"}).status_code == 302
    assert Batch.objects.count() == 1


def test_resume_is_refused_for_a_succeeded_batch_everywhere(as_user, platform, recorder, people, tmp_path):
    (tmp_path / "fixed").touch()
    batch = chain(platform, tmp_path / "fixed")
    recorder.drain()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED
    client = as_user("olga")
    assert shown(client.get(batch_url(batch)).content.decode()) == {"rerun"}
    state = client.get(reverse("baton_batch_state", args=[batch.pk])).json()
    assert state["actions"] == {
        "stop": False,
        "pause": False,
        "continue": False,
        "rerun": True,
        "resume": False,
        "recover": True,  # a re-run from a node
    }
    response = client.get(reverse("admin:executions_batch_rerun", args=[batch.pk]) + "?resume=1", follow=True)
    assert any("only a failed, timed-out or stopped batch can be resumed" in m for m in messages_of(response))
    assert client.post(reverse("admin:executions_batch_rerun", args=[batch.pk]), {"resume": "1"}).status_code == 302
    with pytest.raises(errors.TransitionNotPossible, match="succeeded: only a failed"):
        lifecycle.batch_rerun(batch_id=batch.pk, resume=True, actor=machine())
    api = APIClient()
    api.force_authenticate(people["olga"])
    assert api.post(f"/api/v1/batches/{batch.pk}/resume/").status_code == 409
    assert Batch.objects.count() == 1
    confirm = client.get(reverse("admin:executions_batch_rerun", args=[batch.pk]))
    assert confirm.status_code == 200 and 'id="confirm"' in confirm.content.decode()  # a plain re-run is fine


def test_resume_of_a_failed_batch_marks_the_kept_node(as_user, failed, recorder, tmp_path):
    client = as_user("olga")
    response = client.post(reverse("admin:executions_batch_rerun", args=[failed.pk]), {"resume": "1"})
    resumed = Batch.objects.exclude(pk=failed.pk).get()
    assert response.url == batch_url(resumed)
    state = client.get(reverse("baton_batch_state", args=[resumed.pk])).json()
    assert state["runs"]["a"]["kept_from"] == failed.pk and state["runs"]["b"]["kept_from"] is None
    assert f"kept from batch {failed.pk}" in client.get(batch_url(resumed)).content.decode()


def test_a_silent_shell_failure_shows_its_exit_status(as_user, failed):
    client = as_user("victor")
    node = client.get(reverse("baton_batch_node_output", args=[failed.pk, "b"])).json()
    assert node["status"] == "failed" and node["output"] == "" and node["outcome"] == "exit status 3"
    assert node["attempt_list"][0]["outcome"] == "exit status 3"
    assert client.get(reverse("baton_batch_state", args=[failed.pk])).json()["runs"]["b"]["outcome"] == "exit status 3"
    page = re.sub(r">\s+<", "><", client.get(batch_url(failed)).content.decode())
    row = page[page.index('<td class="field-node_key"><p>b</p>') :].split("</tr>")[0]
    assert "exit status 3" in row and "(no output)" in row


def test_a_python_failure_shows_its_error(as_user, platform, recorder):
    document = {
        "name": "oops",
        "team": "platform",
        "nodes": [
            {"key": "p", "type": "task", "task": {"name": "p", "kind": "python", "config": {"callable": "baton.fail"}}}
        ],
        "edges": [{"from": "start", "to": "p"}],
    }
    batch = lifecycle.batch_start(
        workflow=workflow_save_definition(document=document, actor=machine()).workflow, actor=machine()
    )
    recorder.drain()
    node = as_user("victor").get(reverse("baton_batch_node_output", args=[batch.pk, "p"])).json()
    assert node["status"] == "failed" and "failed on purpose" in node["outcome"]
    assert "failed on purpose" in as_user("victor").get(batch_url(batch)).content.decode()


def test_a_deleted_workflows_batch_offers_no_rerun_and_refuses_one(as_user, failed):
    from workflows.services import workflow_delete

    workflow_delete(workflow=failed.workflow, actor=machine())
    client = as_user("olga")
    assert shown(client.get(batch_url(failed)).content.decode()) == set()
    assert client.get(reverse("baton_batch_state", args=[failed.pk])).json()["actions"] == {
        "stop": False,
        "pause": False,
        "continue": False,
        "rerun": False,
        "resume": False,
        "recover": False,
    }
    response = client.get(reverse("admin:executions_batch_rerun", args=[failed.pk]), follow=True)
    assert any("'chain' is deleted; it starts no new batch" in m for m in messages_of(response))
    assert Batch.objects.count() == 1
