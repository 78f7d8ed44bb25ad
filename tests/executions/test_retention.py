"""Retention: a year of history is archived to JSON Lines, read back whole, and deleted in chunks; the rest stays."""

from __future__ import annotations

import gzip
import importlib
import json
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from executions import lifecycle, retention
from executions.models import Attempt, Batch, DailyOutcome, Event, Fire, FireOutcome, NodeRun
from executions.retention import batch_records, history_archive, read_archive
from executions.states import BatchStatus
from tests.conftest import machine
from tests.executions.conftest import chain_document, python, shell, start
from workflows.models import Team

pytestmark = pytest.mark.django_db(transaction=True)

DAYS = 365


def aged_copies(template: Batch, days_ago: list[float], now) -> list[Batch]:
    """Copies of an ended batch, with its node runs, attempts and events, as if each had run `days_ago` days before now."""
    runs = list(NodeRun.objects.filter(batch=template).order_by("id").values())
    attempts = list(Attempt.objects.filter(node_run__batch=template).values())
    events = list(Event.objects.filter(batch=template).values())
    new_id = Batch._meta.get_field("id").default
    row = {f.attname: getattr(template, f.attname) for f in Batch._meta.concrete_fields}
    batches, shifts = [], []
    for days in days_ago:
        shift = (now - timedelta(days=days)) - template.created_at
        shifts.append(shift)
        batches.append(
            Batch(
                **{
                    **row,
                    "id": new_id(),
                    "created_at": row["created_at"] + shift,
                    "finished_at": row["finished_at"] + shift,
                }
            )
        )
    ages = [batch.created_at for batch in batches]
    Batch.objects.bulk_create(batches)
    # auto_now_add stamped the insert's clock (on the objects too): put the ages back.
    for batch, created_at in zip(batches, ages, strict=True):
        Batch.objects.filter(pk=batch.pk).update(created_at=created_at)
    moved = lambda value, shift: value + shift if value else value  # noqa: E731
    copies = [
        NodeRun(
            **{
                **run,
                "id": None,
                "batch_id": batch.pk,
                **{
                    name: moved(run[name], shift) for name in ("queued_at", "started_at", "finished_at", "heartbeat_at")
                },
            }
        )
        for batch, shift in zip(batches, shifts, strict=True)
        for run in runs
    ]
    NodeRun.objects.bulk_create(copies)
    run_of = {}
    for index, batch in enumerate(batches):
        for offset, run in enumerate(runs):
            run_of[(batch.pk, run["id"])] = copies[index * len(runs) + offset].pk
    Attempt.objects.bulk_create(
        Attempt(
            **{
                **a,
                "id": None,
                "node_run_id": run_of[(batch.pk, a["node_run_id"])],
                "started_at": a["started_at"] + shift,
                "finished_at": moved(a["finished_at"], shift),
            }
        )
        for batch, shift in zip(batches, shifts, strict=True)
        for a in attempts
    )
    Event.objects.bulk_create(
        Event(
            **{
                **e,
                "id": None,
                "batch_id": batch.pk,
                "node_run_id": run_of[(batch.pk, e["node_run_id"])] if e["node_run_id"] else None,
                "at": e["at"] + shift,
            }
        )
        for batch, shift in zip(batches, shifts, strict=True)
        for e in events
    )
    return list(Batch.objects.filter(pk__in=[b.pk for b in batches]))


def history(recorder, days: int, good_per_day: int):
    """`days` of history: `good_per_day` succeeded batches and one failed batch a day, the newest a day old."""
    now = timezone.now()
    good = start(chain_document("nightly", python("a", "baton.noop"), shell("b", "echo built")))
    recorder.drain()
    bad = start(chain_document("nightly", python("a", "baton.noop"), shell("b", "echo broken >&2; exit 3")))
    recorder.drain()
    good, bad = Batch.objects.get(pk=good.pk), Batch.objects.get(pk=bad.pk)
    assert (good.status, bad.status) == (BatchStatus.SUCCEEDED, BatchStatus.FAILED)
    made = aged_copies(good, [day + i / 10 for day in range(1, days + 1) for i in range(good_per_day)], now)
    made += aged_copies(bad, [day + 0.5 for day in range(1, days + 1)], now)
    Batch.objects.filter(pk__in=[good.pk, bad.pk]).delete()  # keep only the aged copies (and their rows)
    Fire.objects.bulk_create(
        Fire(workflow=b.workflow, scheduled_for=b.created_at, outcome=FireOutcome.STARTED, batch=b) for b in made[::30]
    )
    return now, made


@pytest.fixture
def year(recorder):
    """A year of history, three batches a day (two succeeded, one failed)."""
    return history(recorder, 365, 2)


@pytest.fixture
def months(recorder):
    """Four months of history, two batches a day."""
    return history(recorder, 120, 1)


def test_a_year_is_archived_read_back_whole_and_deleted_in_chunks(year, tmp_path, monkeypatch):
    now, made = year
    cutoff = now - timedelta(days=90)
    old = [b for b in made if b.finished_at < cutoff]
    young = [b for b in made if b.finished_at >= cutoff]
    assert len(old) > 800 and young
    expected = {
        record["batch"]["id"]: record for record in batch_records(Batch.objects.filter(pk__in=[b.pk for b in old]))
    }
    statuses = Counter(b.status for b in old)
    fires_old = list(Fire.objects.filter(scheduled_for__lt=cutoff).values_list("pk", flat=True))
    fires_young = list(Fire.objects.filter(scheduled_for__gte=cutoff).values_list("pk", flat=True))
    assert fires_old and fires_young
    chunks: list[int] = []
    real = retention._archive_chunk
    monkeypatch.setattr(retention, "_archive_chunk", lambda ids, *a: chunks.append(len(ids)) or real(ids, *a))

    report = history_archive(now=now, chunk=100, directory=tmp_path)

    assert report.archived == len(old) and report.finished and max(chunks) <= 100
    assert set(Batch.objects.values_list("pk", flat=True)) == {b.pk for b in young}
    gone = [b.pk for b in old]
    assert (
        not NodeRun.objects.filter(batch_id__in=gone).exists() and not Event.objects.filter(batch_id__in=gone).exists()
    )
    assert not Attempt.objects.filter(node_run__batch_id__in=gone).exists()
    assert NodeRun.objects.filter(batch_id__in=[b.pk for b in young]).count() == 2 * len(young)
    # The fire records of the batches that went, scheduled before the cutoff, went too; the young ones stay.
    assert not Fire.objects.filter(scheduled_for__lt=cutoff).exists()
    assert Fire.objects.filter(batch_id__in=[b.pk for b in young]).count() == len(fires_young)
    assert report.fires == len(fires_old)
    fire_files = {path for path in report.files if path.name.startswith("fires-")}
    archived_fires = []
    for path in sorted(fire_files):
        with gzip.open(path, "rt") as lines:
            archived_fires += [json.loads(line) for line in lines]
    assert sorted(r["fire"]["id"] for r in archived_fires) == sorted(fires_old)
    assert {r["workflow"] for r in archived_fires} == {"nightly"} and archived_fires[0]["fire"]["outcome"] == "started"
    # One file per day, holding exactly what the database held.
    batch_files = report.files - fire_files
    assert len(batch_files) == len({b.created_at.date() for b in old})
    assert all(path.name.startswith("batches-") and path.suffixes == [".jsonl", ".gz"] for path in batch_files)
    assert read_archive(sorted(report.files)) == expected  # the fire files among them are left out
    record = expected[old[0].pk]
    assert [run["node_key"] for run in record["node_runs"]] == ["n0", "n1"] and record["workflow"] == "nightly"
    assert record["node_runs"][1]["attempts"][0]["number"] == 1 and record["events"]
    # The counts outlive the rows.
    counted = {
        status: sum(DailyOutcome.objects.filter(status=status).values_list("count", flat=True)) for status in statuses
    }
    assert counted == dict(statuses) and DailyOutcome.objects.filter(seconds__gt=0).exists()
    # Nothing left to do: a second run archives nothing and writes nothing.
    again = history_archive(now=now, chunk=100, directory=tmp_path)
    assert again.archived == 0 and not again.files


def test_a_line_written_twice_by_a_crash_reads_back_once(months, tmp_path, monkeypatch):
    now, _ = months

    def crash(model):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(retention, "_count", crash)
    with pytest.raises(RuntimeError):
        history_archive(now=now, chunk=10, directory=tmp_path)
    written = read_archive(tmp_path.rglob("*.jsonl.gz"))
    assert len(written) == 10 and Batch.objects.filter(pk__in=written).count() == 10  # rolled back, still here
    monkeypatch.undo()
    report = history_archive(now=now, chunk=10, directory=tmp_path)
    archive = read_archive(tmp_path.rglob("*.jsonl.gz"))
    assert len(archive) == report.archived and not Batch.objects.filter(pk__in=archive).exists()


def test_a_running_batch_is_never_archived_and_goes_on(recorder, tmp_path):
    batch = start(chain_document("slow", python("a", "baton.noop"), python("b", "baton.noop")))
    Batch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timedelta(days=400))
    report = history_archive(now=timezone.now(), directory=tmp_path)
    assert report.archived == 0
    recorder.drain()
    assert Batch.objects.get(pk=batch.pk).status == BatchStatus.SUCCEEDED


def test_a_batch_a_kept_batch_re_ran_stays_until_that_one_goes(recorder, tmp_path):
    failed = start(chain_document("w", shell("a", "exit 1")))
    recorder.drain()
    rerun = lifecycle.batch_rerun(batch_id=failed.pk, actor=machine(), resume=False)
    recorder.drain()
    long_ago = timezone.now() - timedelta(days=200)
    Batch.objects.filter(pk=failed.pk).update(created_at=long_ago, finished_at=long_ago)
    report = history_archive(now=timezone.now(), directory=tmp_path)
    assert report.archived == 0 and report.kept_for_reruns == 1
    assert Batch.objects.filter(pk__in=[failed.pk, rerun.pk]).count() == 2
    Batch.objects.filter(pk=rerun.pk).update(created_at=long_ago, finished_at=long_ago)
    report = history_archive(now=timezone.now(), chunk=1, directory=tmp_path)
    assert report.archived == 2 and not Batch.objects.filter(pk__in=[failed.pk, rerun.pk]).exists()


def test_each_team_keeps_its_own_history(months, tmp_path, settings):
    now, made = months
    team = Team.objects.get()
    team.retention_days = 0
    team.save()
    assert history_archive(now=now, directory=tmp_path).archived == 0
    team.retention_days = 100
    team.save()
    settings.BATON_RETENTION_DAYS = 30  # the installation's default yields to the team's own
    report = history_archive(now=now, directory=tmp_path)
    assert report.archived == sum(b.finished_at < now - timedelta(days=100) for b in made) == 41


def test_a_run_stops_at_its_budget_and_the_next_goes_on(months, tmp_path):
    now, made = months
    first = history_archive(now=now, budget_seconds=0, directory=tmp_path)
    assert (first.archived, first.finished) == (0, False)
    assert history_archive(now=now, directory=tmp_path).archived == sum(
        b.finished_at < now - timedelta(days=90) for b in made
    )


def test_export_writes_a_range_and_deletes_nothing(months, tmp_path):
    now, made = months
    since, until = (now - timedelta(days=10)).date(), (now - timedelta(days=5)).date()
    target = tmp_path / "range.jsonl.gz"
    err = StringIO()
    call_command(
        "export_history",
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--output",
        str(target),
        stderr=err,
    )
    with gzip.open(target, "rt", encoding="utf-8") as stream:
        ids = {json.loads(line)["batch"]["id"] for line in stream}
    inside = {b.pk for b in made if since <= b.created_at.date() < until}
    assert ids == inside and len(inside) == 10 and f"exported {len(inside)} batches" in err.getvalue()
    assert Batch.objects.count() == len(made)
    out = StringIO()
    call_command(
        "export_history", "--since", since.isoformat(), "--until", until.isoformat(), "--team", "t", stdout=out
    )
    assert {json.loads(line)["batch"]["id"] for line in out.getvalue().splitlines()} == inside


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "yesterday", "--until", "2026-01-01"], "'yesterday' is not a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--since must come before --until"),
        (["--since", "2026-01-01", "--until", "2026-02-01", "--team", "nobody"], "no team named 'nobody'"),
    ],
)
def test_export_refuses_odd_arguments_by_name(db, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_history", *arguments)


def test_archive_history_counts_then_archives(months, tmp_path, settings):
    _, made = months
    settings.BATON_ARCHIVE_DIR = tmp_path
    out = StringIO()
    call_command("archive_history", "--dry-run", stdout=out)
    due = Batch.objects.filter(finished_at__lt=timezone.now() - timedelta(days=90)).count()
    assert out.getvalue().strip() == f"{due} batches would be archived" and Batch.objects.count() == len(made)
    out = StringIO()
    call_command("archive_history", stdout=out)
    assert out.getvalue().startswith(f"archived {due} batches into ") and Batch.objects.count() == len(made) - due


def test_beat_runs_retention_on_the_control_queue_within_its_budget(months, tmp_path, settings):
    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    from executions import tasks

    # The migration's entry (a transactional test before this one may have flushed the table).
    importlib.import_module("executions.migrations.0011_retention_schedule").create(apps, None)
    entry = PeriodicTask.objects.get(task="baton.retention")
    assert (entry.queue, entry.enabled, entry.interval.every, entry.interval.period) == (
        "baton-control",
        True,
        10,
        "minutes",
    )
    assert settings.CELERY_TASK_ROUTES["baton.retention"] == {"queue": "baton-control"}
    settings.BATON_ARCHIVE_DIR, settings.BATON_RETENTION_BUDGET_SECONDS = tmp_path, 0
    assert tasks.retention() == 0  # no time: nothing done, the next run goes on
    settings.BATON_RETENTION_BUDGET_SECONDS = 60
    _, made = months
    assert tasks.retention() == sum(b.finished_at < timezone.now() - timedelta(days=90) for b in made) > 0


def test_an_old_fire_record_goes_once_its_batch_has_gone_and_one_that_started_none_goes_at_once(recorder, tmp_path):
    running = start(chain_document("nightly", shell("a", "echo a")))  # not drained: it stays running
    long_ago = timezone.now() - timedelta(days=200)
    missed = Fire.objects.create(workflow=running.workflow, scheduled_for=long_ago, outcome=FireOutcome.MISSED)
    started = Fire.objects.create(
        workflow=running.workflow, scheduled_for=long_ago, outcome=FireOutcome.STARTED, batch=running
    )
    recent = Fire.objects.create(workflow=running.workflow, scheduled_for=timezone.now(), outcome=FireOutcome.MISSED)

    report = history_archive(directory=tmp_path)

    assert report.fires == 1 and set(Fire.objects.values_list("pk", flat=True)) == {started.pk, recent.pk}
    (path,) = report.files
    with gzip.open(path, "rt") as lines:
        (line,) = [json.loads(line) for line in lines]
    assert path.name == f"fires-{long_ago:%Y-%m-%d}.jsonl.gz" and line["fire"]["id"] == missed.pk
    assert line["fire"]["outcome"] == "missed" and line["workflow"] == "nightly"
