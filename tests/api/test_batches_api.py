"""Batches, node runs and cron preview over the API: search, filters, ordering, stop, re-run, resume."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from access.models import AuditEntry
from executions import lifecycle
from executions.models import Batch, Event, NodeRun
from tests.api.conftest import post_json
from tests.conftest import acting

pytestmark = pytest.mark.django_db

URL = "/api/v1/batches/"


@pytest.fixture
def batches(workflow, alice):
    """Three batches of the workflow: one stopped, one failed, one running."""
    stopped = lifecycle.batch_start(workflow=workflow, actor=acting(alice))
    lifecycle.batch_stop(batch_id=stopped.pk, actor=acting(alice))
    failed = lifecycle.batch_start(workflow=workflow, actor=acting(alice))
    Batch.objects.filter(pk=failed.pk).update(status="failed", finished_at=timezone.now())
    NodeRun.objects.filter(batch=failed, node_key="a").update(status="succeeded")
    NodeRun.objects.filter(batch=failed, node_key="b").update(status="failed")
    running = lifecycle.batch_start(workflow=workflow, actor=acting(alice))
    return {"stopped": Batch.objects.get(pk=stopped.pk), "failed": Batch.objects.get(pk=failed.pk), "running": running}


def test_list_pages_newest_first(client_for, carol, batches):
    body = client_for(carol).get(URL, {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert body["results"][0]["id"] == batches["running"].pk
    assert body["results"][0]["workflow"]["name"] == "release"


def test_partial_id_search_is_typed_loosely(client_for, carol, batches):
    target = batches["failed"].pk
    fragment = target[2:6].lower()
    ids = [b["id"] for b in client_for(carol).get(URL, {"id": fragment}).json()["results"]]
    assert target in ids


def test_filters_by_status_trigger_workflow_and_time(client_for, carol, batches, workflow):
    client = client_for(carol)

    def ids(**query):
        response = client.get(URL, query)
        assert response.status_code == 200, response.json()
        return {b["id"] for b in response.json()["results"]}

    assert ids(status="failed") == {batches["failed"].pk}
    assert ids(status=["failed", "stopped"]) == {batches["failed"].pk, batches["stopped"].pk}
    assert len(ids(trigger="manual", workflow=workflow.pk)) == 3
    assert ids(trigger="rerun") == set()
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert ids(created_after=future) == set()
    assert len(ids(created_before=future)) == 3
    ordered = client.get(URL, {"ordering": "created_at"}).json()["results"]
    assert ordered[0]["id"] == batches["stopped"].pk


def test_bad_filter_values_are_400_with_field_detail(client_for, carol, batches):
    response = client_for(carol).get(URL, {"status": "nope", "created_after": "yesterday"})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"status", "created_after"}


def test_detail_has_node_runs_and_accepts_a_lower_case_id(client_for, carol, batches):
    batch = batches["failed"]
    body = client_for(carol).get(f"{URL}{batch.pk.lower()}/").json()
    assert body["id"] == batch.pk
    assert {r["node_key"]: r["status"] for r in body["node_runs"]} == {"a": "succeeded", "b": "failed"}


def test_stop_a_running_batch_then_stop_again_is_409(client_for, bob, batches):
    client = client_for(bob)
    batch = batches["running"]
    response = post_json(client, f"{URL}{batch.pk}/stop/")
    assert response.status_code == 200, response.json()
    assert response.json()["stop_requested_at"]
    again = post_json(client, f"{URL}{batch.pk}/stop/")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert AuditEntry.objects.filter(action="batch.stop", object_id=batch.pk).count() == 1


def test_rerun_creates_a_linked_batch_and_running_ones_conflict(client_for, bob, batches):
    client = client_for(bob)
    response = post_json(client, f"{URL}{batches['stopped'].pk}/rerun/")
    assert response.status_code == 201, response.json()
    assert response.json()["rerun_of"] == batches["stopped"].pk and response.json()["trigger"] == "rerun"
    assert post_json(client, f"{URL}{batches['running'].pk}/rerun/").status_code == 409


def test_resume_keeps_succeeded_nodes(client_for, bob, batches):
    client = client_for(bob)
    plan = client.get(f"{URL}{batches['failed'].pk}/rerun-plan/", {"resume": "true"}).json()
    assert (plan["kept"], plan["will_run"], plan["will_skip"]) == (["a"], ["b"], [])
    assert plan["allowed"] and plan["action"] == "resume" and plan["version_choice"] == "original"
    response = post_json(client, f"{URL}{batches['failed'].pk}/resume/")
    assert response.status_code == 201
    runs = {r["node_key"]: r["status"] for r in response.json()["node_runs"]}
    assert runs["a"] == "succeeded" and response.json()["trigger"] == "resume"


def test_rerun_of_a_deleted_workflows_batch_is_a_conflict(client_for, alice, bob, batches, workflow):
    assert client_for(alice).delete(f"/api/v1/workflows/{workflow.pk}/").status_code == 204
    client = client_for(bob)
    for action in ("rerun", "resume"):
        response = post_json(client, f"{URL}{batches['failed'].pk}/{action}/")
        assert response.status_code == 409 and "is deleted" in response.json()["detail"], response.json()
    assert Batch.objects.count() == 3


def test_viewer_cannot_stop_or_rerun(client_for, carol, batches):
    client = client_for(carol)
    assert post_json(client, f"{URL}{batches['running'].pk}/stop/").status_code == 403
    assert post_json(client, f"{URL}{batches['failed'].pk}/rerun/").status_code == 403


def test_node_run_detail_has_output_attempts_and_events(client_for, carol, batches):
    run = NodeRun.objects.get(batch=batches["stopped"], node_key="a")
    NodeRun.objects.filter(pk=run.pk).update(output="hello\n")
    body = client_for(carol).get(f"/api/v1/node-runs/{run.pk}/").json()
    assert body["output"] == "hello\n" and body["batch"] == batches["stopped"].pk
    assert [e["to_status"] for e in body["events"]] == list(
        Event.objects.filter(node_run=run).order_by("at", "id").values_list("to_status", flat=True)
    )
    listed = client_for(carol).get("/api/v1/node-runs/", {"batch": batches["stopped"].pk.lower()}).json()
    assert {r["node_key"] for r in listed["results"]} == {"a", "b"}


def test_triggering_endpoints_are_throttled(client_for, bob, workflow, settings):
    from access.http import TriggerThrottle

    TriggerThrottle.THROTTLE_RATES = {"trigger": "3/minute"}
    try:
        client = client_for(bob)
        codes = [post_json(client, f"/api/v1/workflows/{workflow.pk}/run/").status_code for _ in range(4)]
    finally:
        TriggerThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert codes == [201, 201, 201, 429]


def test_cron_preview_lists_next_fire_times(client_for, carol):
    query = {"expression": "0 0 2 ? * MON-FRI", "timezone": "Asia/Shanghai", "after": "2026-03-06T12:00:00", "count": 3}
    body = client_for(carol).get("/api/v1/cron-preview/", query).json()
    assert body["fire_times"] == ["2026-03-09T02:00:00+08:00", "2026-03-10T02:00:00+08:00", "2026-03-11T02:00:00+08:00"]


def test_cron_preview_explains_a_bad_expression_and_zone(client_for, carol):
    client = client_for(carol)
    bad = client.get("/api/v1/cron-preview/", {"expression": "0 0 2 * * MON"}).json()
    assert bad["status"] == 400 and bad["errors"][0]["field"] == "expression"
    zone = client.get("/api/v1/cron-preview/", {"expression": "0 0 2 ? * MON", "timezone": "Mars/Base"}).json()
    assert zone["errors"][0]["field"] == "timezone"
    never = client.get("/api/v1/cron-preview/", {"expression": "0 0 0 30 2 ?"}).json()
    assert never["fire_times"] == []


def test_a_trigger_without_its_shared_cache_is_refused_with_503(client_for, bob, workflow, monkeypatch):
    from access.cache import SharedRedisCache
    from access.http import TriggerThrottle

    unreachable = SharedRedisCache("redis://127.0.0.1:1/0", {"KEY_PREFIX": "baton-cache"})
    monkeypatch.setattr(TriggerThrottle, "cache", unreachable)
    response = post_json(client_for(bob), f"/api/v1/workflows/{workflow.pk}/run/")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable" and response["Retry-After"] == "5"
    assert Batch.objects.count() == 0
