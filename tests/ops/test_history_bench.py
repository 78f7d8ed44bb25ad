"""`make bench-history`'s generator writes history the product reads, and its tick measurement ticks (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from benchmarks import history
from executions.models import Attempt, Batch, Event, NodeRun

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the generator is set-based PostgreSQL SQL"),
]


def test_the_generated_history_reads_back_and_the_whole_tick_starts_every_due_fire(monkeypatch):
    monkeypatch.setattr(history, "TEAMS", 2)
    monkeypatch.setattr(history, "WORKFLOWS_PER_TEAM", 2)
    monkeypatch.setattr(history, "_log", lambda message: None)
    defs = history._definitions()
    history._generate(400)

    assert Batch.objects.count() == 400
    # Five node runs a workflow batch, one a standalone task's (every 20th or so), as the product writes them.
    tasks = Batch.objects.filter(task__isnull=False).count()
    assert NodeRun.objects.count() == 5 * (400 - tasks) + tasks and 0 < tasks < 100
    assert Attempt.objects.count() == NodeRun.objects.exclude(status="skipped").count()
    assert Event.objects.count() == 400 + 4 * NodeRun.objects.count()
    # Every row is one the models accept and the pages show.
    for batch in Batch.objects.order_by("?")[:20]:
        batch.full_clean()
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-editor"))
    page = client.get("/admin/executions/batch/", secure=True)
    assert page.status_code == 200 and "wf-01-01" in page.content.decode()

    ticks = history._ticks(defs, 1)
    assert ticks["median"] > 0
    old = history._tick_with_old_indexes(defs, 1)  # today's indexes dropped, the old built, all rolled back
    assert old["tick_ms"]["median"] > 0 and old["tick_insert_ms"]["median"] > 0
    assert Batch.objects.count() == 400  # the ticks' batches were rolled back
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname = ANY(%s)", [history.NEW_INDEXES])
        assert cursor.fetchone()[0] == len(history.NEW_INDEXES)
