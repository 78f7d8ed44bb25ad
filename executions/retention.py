"""Retention: archive ended batches past their team's age to compressed JSON Lines, then delete them.

A year of history is millions of rows; nothing a user touches should pay for it. Each team
keeps its batches for `Team.retention_days` (empty: `BATON_RETENTION_DAYS`, 90 by default;
0 keeps everything). `history_archive` (the periodic task `baton.retention` and
`manage.py archive_history`) moves what is older, in chunks of `BATON_RETENTION_CHUNK` batches,
one short transaction each:

1. lock the chunk's batch rows (`SKIP LOCKED`: a row someone else holds waits for the next run);
   a batch that a newer, kept batch re-ran or resumed stays (its `rerun_of` still points at
   it) until that one goes too — chunks are taken newest first, so a re-run leaves before the
   batch it re-ran;
2. write each batch with its node runs, attempts and events as one JSON line to the file of
   its creation day (`<BATON_ARCHIVE_DIR>/YYYY/MM/batches-YYYY-MM-DD.jsonl.gz`; each run appends
   one gzip member, which gzip readers read as one stream), and fsync it;
3. add the chunk's counts to `DailyOutcome` (per workflow or task, day and status);
4. delete the events, attempts, node runs and the batches (the fire log's references to them
   are cleared), and commit.

Then the team's fire records (`Fire`: what the scheduler did with each scheduled time) that
are older than the same cutoff and whose batch is gone (or that started none) go the same way,
to `fires-YYYY-MM-DD.jsonl.gz` by their scheduled day: a minutely trigger writes half a million
a year. The alerts about them go with them, as with batches.

A crash between 2 and 4 leaves lines in the archive for batches that are still in the
database; the next run writes them again. Readers therefore take the last line of each batch id
(`read_archive` does). Only ended batches are archived; a running batch, however old, stays.
`history_export` writes any range as the same lines without deleting anything.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from executions import signals
from executions.models import Attempt, Batch, DailyOutcome, Event, Fire, NodeRun
from executions.states import BATCH_FINISHED
from workflows.models import Task, Team, Workflow

FORMAT = 1  # the archive line's `format`; bump it when a line's shape changes


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass
class ArchiveReport:
    """What one retention run did."""

    archived: int = 0
    fires: int = 0  # fire records archived and deleted
    kept_for_reruns: int = 0
    files: set[Path] = field(default_factory=set)
    finished: bool = True  # False when the time budget ended the run with work left


def team_cutoffs(now: datetime) -> dict[int, datetime]:
    """Return, per team whose history expires, the instant before which its ended batches go."""
    default = settings.BATON_RETENTION_DAYS
    cutoffs = {}
    for team_id, days in Team.objects.values_list("pk", "retention_days"):
        days = default if days is None else days
        if days > 0:
            cutoffs[team_id] = now - timedelta(days=days)
    return cutoffs


def expired(team_id: int, cutoff: datetime) -> Any:
    """The ended batches of one team that finished before `cutoff`."""
    # A batch created after the cutoff cannot have finished before it: the redundant bound lets
    # `batch_team_recent` (team, -created_at) serve the look-up of the team's oldest batches.
    return Batch.objects.filter(
        team_id=team_id, created_at__lt=cutoff, status__in=BATCH_FINISHED, finished_at__lt=cutoff
    )


def history_archive(
    *,
    now: datetime | None = None,
    budget_seconds: float | None = None,
    chunk: int | None = None,
    directory: Path | None = None,
) -> ArchiveReport:
    """Archive and delete every team's expired batches, chunk by chunk, within `budget_seconds` if given."""
    now = now or timezone.now()
    chunk = chunk or settings.BATON_RETENTION_CHUNK
    directory = Path(directory or settings.BATON_ARCHIVE_DIR)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    report = ArchiveReport()
    for team_id, cutoff in team_cutoffs(now).items():
        skip: set[str] = set()  # batches held by a re-run that stays: not taken again until something goes
        while True:
            if deadline is not None and time.monotonic() > deadline:
                report.finished = False
                return report
            ids = list(
                expired(team_id, cutoff)
                .exclude(pk__in=skip)
                .order_by("-created_at")
                .values_list("pk", flat=True)[:chunk]
            )
            if not ids:
                break
            archived, kept = _archive_chunk(ids, directory, report.files)
            report.archived += archived
            if archived:
                skip.clear()  # what a re-run held may be free now that the re-run is gone
            skip.update(kept)
        report.kept_for_reruns += len(skip)
        while True:
            if deadline is not None and time.monotonic() > deadline:
                report.finished = False
                return report
            ids = list(expired_fires(team_id, cutoff).order_by().values_list("pk", flat=True)[:chunk])
            if not ids:
                break
            report.fires += _archive_fires(ids, directory, report.files)
    return report


def expired_fires(team_id: int, cutoff: datetime) -> Any:
    """The fire records of one team's workflows and tasks scheduled before `cutoff` whose batch is gone, or that started none.

    Served by `fire_workflow_time` and `fire_task_time`: a range of each owner's fires by time.
    """
    workflows = Workflow.objects.filter(team_id=team_id).values("pk")
    tasks = Task.objects.filter(team_id=team_id).values("pk")
    return Fire.objects.filter(
        Q(workflow_id__in=workflows) | Q(task_id__in=tasks), scheduled_for__lt=cutoff, batch__isnull=True
    )


def _archive_fires(ids: list[int], directory: Path, files: set[Path]) -> int:
    """Archive and delete one chunk of fire records in one transaction (their alerts go with them); return how many."""
    with transaction.atomic():
        fires = list(Fire.objects.filter(pk__in=ids, batch__isnull=True).select_related("workflow", "task"))
        by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
        for fire in fires:
            row = {f.attname: getattr(fire, f.attname) for f in Fire._meta.concrete_fields}
            by_day[fire.scheduled_for.astimezone(UTC).date()].append({**_owner(fire), "fire": row})
        for day, records in sorted(by_day.items()):
            files.add(_append(directory, day, records, kind="fires"))
        Fire.objects.filter(pk__in=[fire.pk for fire in fires]).delete()  # the ORM's cascade takes their alerts
    return len(fires)


def _archive_chunk(ids: list[str], directory: Path, files: set[Path]) -> tuple[int, set[str]]:
    """Archive and delete one chunk in one transaction; return how many went and which stayed."""
    with transaction.atomic():
        locked = Batch.objects.filter(pk__in=ids).select_related("workflow", "task")
        if connection.features.has_select_for_update_skip_locked:
            locked = locked.select_for_update(skip_locked=True, of=("self",))
        batches = list(locked)
        # A batch that a batch outside this chunk re-ran or resumed stays while that one does.
        referenced = set(
            Batch.objects.filter(rerun_of__in=[b.pk for b in batches])
            .exclude(pk__in=[b.pk for b in batches])
            .values_list("rerun_of_id", flat=True)
        )
        kept = referenced | (set(ids) - {b.pk for b in batches})
        batches = [b for b in batches if b.pk not in referenced]
        if not batches:
            return 0, kept
        by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
        for batch, record in zip(batches, batch_records(batches), strict=True):
            by_day[_day(batch)].append(record)
        for day, records in sorted(by_day.items()):
            files.add(_append(directory, day, records))
        _count(batches)
        gone = [b.pk for b in batches]
        runs = NodeRun.objects.filter(batch_id__in=gone)
        Event.objects.filter(batch_id__in=gone)._raw_delete(Event.objects.db)
        Attempt.objects.filter(node_run__in=runs)._raw_delete(Attempt.objects.db)
        runs._raw_delete(NodeRun.objects.db)
        Fire.objects.filter(batch_id__in=gone).update(batch=None)
        signals.batches_deleting.send(sender=Batch, batch_ids=gone)
        # One statement for the chunk: a re-run and the batch it re-ran may both be in it.
        Batch.objects.filter(pk__in=gone)._raw_delete(Batch.objects.db)
    return len(gone), kept


def batch_records(batches: Iterable[Batch]) -> Iterator[dict[str, Any]]:
    """Yield one archive record per batch: the batch, its node runs with their attempts, its events."""
    batches = list(batches)
    pks = [b.pk for b in batches]
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    attempts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for attempt in Attempt.objects.filter(node_run__batch_id__in=pks).order_by("node_run_id", "number").values():
        attempts[attempt["node_run_id"]].append(attempt)
    for run in NodeRun.objects.filter(batch_id__in=pks).order_by("id").values():
        run["attempts"] = attempts.get(run["id"], [])
        runs[run["batch_id"]].append(run)
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in Event.objects.filter(batch_id__in=pks).order_by("at", "id").values():
        events[event["batch_id"]].append(event)
    for batch in batches:
        row = {f.attname: getattr(batch, f.attname) for f in Batch._meta.concrete_fields}
        yield json.loads(
            json.dumps(
                {
                    **_owner(batch),
                    "batch": row,
                    "node_runs": runs.get(batch.pk, []),
                    "events": events.get(batch.pk, []),
                },
                cls=DjangoJSONEncoder,
            )
        )


def _owner(row: Batch | Fire) -> dict[str, Any]:
    """The head of an archive line: its format, and the team and names of the row's workflow or task."""
    owner = row.workflow or row.task
    return {
        "format": FORMAT,
        "team": owner.team_id if owner else None,
        "workflow": row.workflow.name if row.workflow else None,
        "task": row.task.name if row.task else None,
    }


def _day(batch: Batch) -> date:
    """The day a batch belongs to, in UTC (its archive file and its count)."""
    return batch.created_at.astimezone(UTC).date()


def _append(directory: Path, day: date, records: list[dict[str, Any]], kind: str = "batches") -> Path:
    """Append records to the day's file of `kind` as one gzip member and make it durable; return the path."""
    path = directory / f"{day:%Y}" / f"{day:%m}" / f"{kind}-{day:%Y-%m-%d}.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb") as stream:
            write_lines(stream, records)
        raw.flush()
        os.fsync(raw.fileno())
    return path


def write_lines(stream: Writable, records: Iterable[dict[str, Any]]) -> int:
    """Write records as JSON Lines (UTF-8); return how many."""
    count = 0
    for record in records:
        stream.write(json.dumps(record, ensure_ascii=False, cls=DjangoJSONEncoder).encode() + b"\n")
        count += 1
    return count


def _count(batches: list[Batch]) -> None:
    """Add the batches to the per-day outcome counts."""
    totals: dict[tuple[int, int | None, int | None, date, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for batch in batches:
        owner = batch.workflow or batch.task
        key = (owner.team_id, batch.workflow_id, batch.task_id, _day(batch), batch.status)
        totals[key][0] += 1
        totals[key][1] += (batch.finished_at - batch.created_at).total_seconds() if batch.finished_at else 0.0
    for (team_id, workflow_id, task_id, day, status), (count, seconds) in totals.items():
        updated = DailyOutcome.objects.filter(workflow_id=workflow_id, task_id=task_id, day=day, status=status).update(
            count=F("count") + count, seconds=F("seconds") + seconds
        )
        if not updated:
            DailyOutcome.objects.create(
                team_id=team_id,
                workflow_id=workflow_id,
                task_id=task_id,
                day=day,
                status=status,
                count=count,
                seconds=seconds,
            )


def read_archive(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Read the batches' archive files back: batch id → its last record (a line written twice counts once).

    Fire files (`fires-…`) among `paths` are left out: their lines are fire records.
    """
    records: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not path.name.startswith("batches-"):
            continue
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            for line in stream:
                record = json.loads(line)
                records[record["batch"]["id"]] = record
    return records


def history_export(*, since: datetime, until: datetime, team: Team | None, stream: Writable) -> int:
    """Write the batches created in [since, until) (of one team, or all) as archive lines; delete nothing."""
    batches = Batch.objects.filter(created_at__gte=since, created_at__lt=until).select_related("workflow", "task")
    if team is not None:
        batches = batches.filter(team=team)
    total = 0
    page: list[Batch] = []
    for batch in batches.order_by("created_at", "pk").iterator(chunk_size=500):
        page.append(batch)
        if len(page) == 500:
            total += write_lines(stream, batch_records(page))
            page = []
    return total + write_lines(stream, batch_records(page))
