"""A million batches (issue 16): the team stored on batches and node runs, and page views that never count a whole table."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.admin import RecentValuesFilter
from access.http import CappedCountPaginator
from access.models import AuditEntry
from executions import lifecycle
from executions.admin import AdminCappedCountPaginator
from executions.models import Attempt, Batch, Event, Fire, NodeRun
from tests.conftest import acting, machine
from workflows.services import task_save

pytestmark = pytest.mark.django_db

COUNT = re.compile(r"\bCOUNT\(", re.IGNORECASE)


def whole_table_counts(queries) -> list[str]:
    """The captured statements that count rows without a LIMIT inside (a count of everything that matches)."""
    return [q["sql"] for q in queries if COUNT.search(q["sql"]) and " LIMIT " not in q["sql"].upper()]


@pytest.fixture
def three(workflow, alice) -> list[Batch]:
    return [lifecycle.batch_start(workflow=workflow, actor=acting(alice)) for _ in range(3)]


def test_a_batch_and_its_node_runs_store_the_team_they_ran_under(workflow, alice, platform):
    batch = lifecycle.batch_start(workflow=workflow, actor=acting(alice))
    assert Batch.objects.get(pk=batch.pk).team_id == platform.pk
    assert set(NodeRun.objects.filter(batch=batch).values_list("team_id", flat=True)) == {platform.pk}


def test_a_standalone_task_run_stores_the_task_team(platform, alice):
    task = task_save(
        document={"team": platform.name, "name": "ping", "kind": "python", "config": {"callable": "baton.noop"}},
        actor=machine(),
    )
    batch = lifecycle.task_run_start(task=task, actor=acting(alice))
    assert Batch.objects.get(pk=batch.pk).team_id == platform.pk
    assert list(NodeRun.objects.filter(batch=batch).values_list("team_id", flat=True)) == [platform.pk]


def test_scoping_reads_the_team_stored_on_the_rows(client_for, carol, mallory, three, rivals):
    """The lists filter on the stored column, not on the workflow's team: move one row and it changes sides."""
    moved = three[0]
    Batch.objects.filter(pk=moved.pk).update(team=rivals)
    NodeRun.objects.filter(batch=moved).update(team=rivals)
    carols = {b["id"] for b in client_for(carol).get("/api/v1/batches/").json()["results"]}
    mallorys = {b["id"] for b in client_for(mallory).get("/api/v1/batches/").json()["results"]}
    assert carols == {b.pk for b in three[1:]} and mallorys == {moved.pk}
    runs = {r["batch"] for r in client_for(mallory).get("/api/v1/node-runs/").json()["results"]}
    assert runs == {moved.pk}
    assert client_for(carol).get(f"/api/v1/batches/{moved.pk}/").status_code == 404


def test_events_and_attempts_are_scoped_through_the_stored_team():
    assert Event.team_paths == ("batch__team",) and Attempt.team_paths == ("node_run__team",)
    assert Batch.team_paths == ("team",) and NodeRun.team_paths == ("team",)


def test_the_api_list_counts_at_most_its_cap_and_still_pages_on(client_for, carol, three, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 1)
    client = client_for(carol)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/batches/", {"page_size": 1})
    body = response.json()
    assert whole_table_counts(queries.captured_queries) == []
    assert body["count"] == 1 and response["Baton-Count-Capped"] == "true" and body["next"]
    second = client.get("/api/v1/batches/", {"page_size": 1, "page": 2})
    third = client.get("/api/v1/batches/", {"page_size": 1, "page": 3}).json()
    assert second.status_code == 200 and third["next"] is None
    seen = [body["results"][0]["id"], second.json()["results"][0]["id"], third["results"][0]["id"]]
    assert sorted(seen) == sorted(b.pk for b in three)
    assert client.get("/api/v1/batches/", {"page_size": 1, "page": 4}).status_code == 404


def test_the_api_count_is_exact_under_the_cap(client_for, carol, three):
    response = client_for(carol).get("/api/v1/batches/")
    assert response.json()["count"] == 3 and not response.has_header("Baton-Count-Capped")


def test_the_node_run_list_never_counts_the_whole_table(client_for, carol, three):
    with CaptureQueriesContext(connection) as queries:
        response = client_for(carol).get("/api/v1/node-runs/")
    assert response.status_code == 200 and response.json()["count"] == 6  # two nodes a batch
    assert whole_table_counts(queries.captured_queries) == []


@pytest.mark.parametrize("who", ["carol", "superuser"])
def test_the_admin_batch_list_never_counts_or_scans_the_whole_table(who, carol, three, monkeypatch, django_user_model):
    monkeypatch.setattr(AdminCappedCountPaginator, "count_cap", 2)
    user = carol if who == "carol" else django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(user)
    for query in ("", "?status__exact=running", f"?q={three[0].pk[1:5].lower()}"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/admin/executions/batch/{query}", secure=True)
        assert response.status_code == 200
        statements = [q["sql"] for q in queries.captured_queries]
        assert whole_table_counts(queries.captured_queries) == []
        # No date hierarchy: no MIN/MAX of created_at, no DISTINCT years.
        assert not [s for s in statements if "MIN(" in s.upper() or "MAX(" in s.upper() or "DISTINCT" in s.upper()]
    page = client.get("/admin/executions/batch/", secure=True).content.decode()
    assert "more than 2 batches" in page
    assert three[0].pk in client.get(f"/admin/executions/batch/?q={three[0].pk[1:5]}", secure=True).content.decode()


@pytest.mark.parametrize("page", ["/admin/executions/fire/", "/admin/access/auditentry/"])
def test_the_fire_and_audit_lists_never_count_the_whole_table_nor_read_its_years(
    page, workflow, three, monkeypatch, django_user_model
):
    """The other lists that only grow (a fire per scheduled time, an entry per action) page as the batch list does."""
    old = AuditEntry.objects.create(actor_label="old", action="ancient.action", via="cli")
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=400))
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 2)
    for minute in range(3):
        Fire.objects.create(
            workflow=workflow, scheduled_for=timezone.now() - timedelta(minutes=minute), outcome="started"
        )
    assert AuditEntry.objects.count() > 2  # the three starts were audited
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))
    since = "2000-01-01+00:00:00%2B00:00"
    for query in ("", f"?at__gte={since}" if "audit" in page else f"?scheduled_for__gte={since}"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(page + query, secure=True)
        assert response.status_code == 200
        statements = [q["sql"].upper() for q in queries.captured_queries]
        assert whole_table_counts(queries.captured_queries) == []
        assert not [s for s in statements if "MIN(" in s or "MAX(" in s]
        # A sidebar's values come from the newest rows only (a LIMIT inside), never from all of them.
        assert not [s for s in statements if "DISTINCT" in s and " LIMIT " not in s]
        assert re.search(r"more than 2 (fires|audit entries)", response.content.decode())
    if "audit" in page:
        monkeypatch.setattr(RecentValuesFilter, "sample", 1)  # the oldest entry's action is no longer offered
        assert "?action=ancient.action" not in client.get(page, secure=True).content.decode()
        monkeypatch.setattr(RecentValuesFilter, "sample", 5000)
        assert "?action=ancient.action" in client.get(page, secure=True).content.decode()
        filtered = client.get(page + "?action=ancient.action", secure=True)
        assert filtered.status_code == 200 and "1 audit entry" in filtered.content.decode()


@pytest.mark.parametrize(
    "model", ["executions.batch", "executions.fire", "access.auditentry", "alerts.alert", "alerts.delivery"]
)
def test_every_list_that_grows_with_history_pages_with_a_capped_count(model):
    from django.contrib import admin

    model_admin = next(a for m, a in admin.site._registry.items() if m._meta.label_lower == model)
    assert issubclass(model_admin.paginator, CappedCountPaginator)
    assert model_admin.show_full_result_count is False and model_admin.date_hierarchy is None


def test_the_status_filters_select_no_distinct_rows(client_for, carol, three):
    """A filter on the batch's own column repeats no row: no SELECT DISTINCT sorting every match."""
    with CaptureQueriesContext(connection) as queries:
        batches = client_for(carol).get("/api/v1/batches/", {"status": ["running", "failed"], "trigger": "manual"})
        runs = client_for(carol).get("/api/v1/node-runs/", {"status": ["queued", "pending"]})
    assert batches.json()["count"] == 3 and runs.json()["count"] == 6
    assert not [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]
