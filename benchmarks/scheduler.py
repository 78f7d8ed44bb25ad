"""Scheduler benchmark: `python -m benchmarks.scheduler [--quick]`.

10 000 enabled cron workflows (every second to daily, four time zones), side by side with
django-celery-beat holding the same 10 000 schedules as its own crontab entries.

1. `next_after` against croniter's `get_next` on typical expressions (in process, no database).
2. Drop and re-create the `baton_bench_sched` database, migrate it (subprocess), then in this
   process: create the 10 000 workflows (the first few through `workflow_save_definition`,
   timed; the rest bulk-inserted exactly as the service writes them), swap
   `executions.dispatch.backend` for a no-op, fire what fell due meanwhile, probe the cost of a
   busy tick on the connection that did (its foreign-key check plans were made while the
   tables were empty) and on a fresh one after ANALYZE, then call `executions.scheduler.tick()`
   once a second for the run's duration (a window that contains a minute boundary). One
   workflow's trigger is edited from another thread half-way through.
3. Time the phases of one tick that claims a minute boundary's rows ahead and starts them at
   the fire instant, and profile one that starts as many already-due fires.
4. django-celery-beat: the same 10 000 schedules as `PeriodicTask` + `CrontabSchedule` rows
   (same database, its own tables), `celery -A config beat -S DatabaseScheduler` as a
   subprocess sending to a Redis queue nobody consumes (DB 12, flushed first); a thread here
   timestamps each message as it appears. One entry is edited during a minute's burst.
5. Write `docs/benchmarks-scheduler.md` and `var/bench-scheduler.json`.

Environment: BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
BENCH_REDIS (default redis://127.0.0.1:6379), BENCH_SCHED_DB (default baton_bench_sched).
Every subprocess is stopped in a `finally`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import cProfile
import datetime as dt
import io
import itertools
import json
import math
import os
import platform
import pstats
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.common import PYTHON, REPO, pct

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379").rstrip("/")
DB_NAME = os.environ.get("BENCH_SCHED_DB", "baton_bench_sched")
REDIS_DB = 12
BEAT_QUEUE = "bench-beat"
DOC = REPO / "docs" / "benchmarks-scheduler.md"
JSON_OUT = REPO / "var" / "bench-scheduler.json"
N_WORKFLOWS = 10_000
N_THROUGH_SERVICE = 20
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai")
TICK_PHASE = 0.5  # ticks start half a second after each wall-clock second (a random beat phase, on average)
TARGET_LATENESS_P99 = 1.0
UTC = dt.UTC


def _log(message: str) -> None:
    print(f"[bench-sched {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the mix -----------------------------------------------------------------------------


def trigger_mix(n: int = N_WORKFLOWS, seed: int = 7) -> list[dict[str, Any]]:
    """Return n triggers: Quartz expression, zone, the 5-field crontab beat gets, and a class."""
    rng = random.Random(seed)
    plan = [  # (class, count) — counts scale with n; every-second stays at 10
        ("every 1 s", 10),
        ("every 10 s", 40),
        ("every 30 s", 50),
        ("every minute", 900),
        ("every 5 min", 2000),
        ("every 15 min", 1000),
        ("hourly", 3000),
        ("daily", 2000),
        ("weekdays", 1000),
    ]
    scale = (n - 10) / (sum(c for _, c in plan) - 10)
    out: list[dict[str, Any]] = []
    for kind, count in plan:
        count = count if kind == "every 1 s" else round(count * scale)
        for _ in range(count):
            s, m, h = rng.randrange(10), rng.randrange(60), rng.randrange(24)
            if kind == "every 1 s":
                q, c = "* * * * * ?", "* * * * *"
            elif kind == "every 10 s":
                q, c = f"{s}/10 * * * * ?", "* * * * *"
            elif kind == "every 30 s":
                q, c = f"{s}/30 * * * * ?", "* * * * *"
            elif kind == "every minute":
                q, c = "0 * * * * ?", "* * * * *"
            elif kind == "every 5 min":
                q, c = f"0 {m % 5}/5 * * * ?", f"{m % 5}-59/5 * * * *"
            elif kind == "every 15 min":
                q, c = f"0 {m % 15}/15 * * * ?", f"{m % 15}-59/15 * * * *"
            elif kind == "hourly":
                q, c = f"0 {m} * * * ?", f"{m} * * * *"
            elif kind == "daily":
                q, c = f"0 {m} {h} * * ?", f"{m} {h} * * *"
            else:
                q, c = f"0 {m} {h} ? * MON-FRI", f"{m} {h} * * 1-5"
            out.append({"class": kind, "quartz": q, "cron5": c, "zone": ZONES[len(out) % len(ZONES)]})
    return out[:n]


# --- 1. next_after vs croniter -------------------------------------------------------------

MICRO_CASES = [
    ("every 5 minutes", "0 */5 * * * ?", "*/5 * * * *"),
    ("02:00 on weekdays", "0 0 2 ? * MON-FRI", "0 2 * * 1-5"),
    ("10:15 on the last day of the month", "0 15 10 L * ?", "15 10 L * *"),
]


def micro_benchmark(quick: bool) -> list[dict[str, Any]]:
    """µs per call: next_after vs croniter get_next, from fresh starting points and chained."""
    from croniter import croniter

    from workflows import quartz, schedule

    n = 1000 if quick else 5000
    rng = random.Random(1)
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for zone in ("UTC", "Europe/Berlin"):
        tz = ZoneInfo(zone)
        starts = [(base + dt.timedelta(seconds=rng.randrange(365 * 86400))).astimezone(tz) for _ in range(n)]
        for label, qexpr, cexpr in MICRO_CASES:
            cron = quartz.QuartzCron(qexpr, zone)
            trig = {"type": "cron", "expression": qexpr, "timezone": zone}
            # correctness spot check: both agree on the first 50 starts
            agree = sum(
                cron.next_after(s) == croniter(cexpr, s).get_next(dt.datetime).astimezone(tz) for s in starts[:50]
            )

            def timed(fn) -> float:
                best = math.inf
                for _ in range(3):
                    t0 = time.perf_counter()
                    fn()
                    best = min(best, time.perf_counter() - t0)
                return best / n * 1e6

            q_fresh = timed(lambda: [cron.next_after(s) for s in starts])
            q_parse = timed(lambda: [schedule.next_fire(trig, s) for s in starts])
            c_fresh = timed(lambda: [croniter(cexpr, s).get_next(dt.datetime) for s in starts])

            def q_chain():  # 100 successive fires from each of n/100 starts
                for s in starts[::100]:
                    t = s
                    for _ in range(100):
                        t = cron.next_after(t)

            def c_chain():
                for s in starts[::100]:
                    it = croniter(cexpr, s)
                    for _ in range(100):
                        it.get_next(dt.datetime)

            rows.append(
                {
                    "case": label,
                    "quartz": qexpr,
                    "cron5": cexpr,
                    "zone": zone,
                    "agree_of_50": agree,
                    "next_after_us": q_fresh,
                    "next_fire_with_parse_us": q_parse,
                    "croniter_new_get_next_us": c_fresh,
                    "next_after_chained_us": timed(q_chain),
                    "croniter_get_next_chained_us": timed(c_chain),
                }
            )
    return rows


# --- 2. database and Django ----------------------------------------------------------------


def recreate_database() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"


def bench_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BATON_VAR_DIR",)}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": f"{REDIS}/{REDIS_DB}",
            "DEBUG": "0",
            "SECRET_KEY": "benchmark-only-secret-key",  # production settings
        }
    )
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True, timeout=300)


def django_setup(env: dict[str, str]) -> None:
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL")})
    import django

    django.setup()


def document(i: int, trig: dict[str, Any]) -> dict[str, Any]:
    """The definition of benchmark workflow i: one python task running baton.noop."""
    name = f"sched-{i:05d}"
    return {
        "name": name,
        "team": f"bench-sched-{i % 10}",
        "trigger": {"type": "cron", "expression": trig["quartz"], "timezone": trig["zone"]},
        "overlap_policy": "parallel",
        "nodes": [
            {
                "key": "job",
                "type": "task",
                "task": {"name": f"{name}-job", "kind": "python", "config": {"callable": "baton.noop", "kwargs": {}}},
            },
        ],
        "edges": [{"from": "start", "to": "job"}],
    }


def create_workflows(mix: list[dict[str, Any]]) -> dict[str, Any]:
    """Create len(mix) workflows: a few through the service (timed), the rest in bulk, alike."""
    from django.db import transaction
    from django.utils import timezone

    from access.actors import machine_actor
    from workflows import schedule
    from workflows.definition import task_document, to_document
    from workflows.models import Edge, Node, Schedule, Task, Team, Workflow, WorkflowVersion
    from workflows.services import NO_TRIGGER, definition_parse, workflow_save_definition

    service_ms = []
    for i in range(N_THROUGH_SERVICE):
        t0 = time.perf_counter()
        workflow_save_definition(document=document(i, mix[i]), actor=machine_actor("bench"))
        service_ms.append((time.perf_counter() - t0) * 1000)

    def canonical(i: int):
        definition = definition_parse(document(i, mix[i]))
        return definition, to_document(definition)

    # What the service wrote for workflow 0 is what the bulk path writes for it.
    sample = Workflow.objects.select_related("current_version").get(name="sched-00000")
    assert sample.current_version.definition == canonical(0)[1], "bulk definition differs from the service's"

    t0 = time.perf_counter()
    now = timezone.now()
    teams = {t.name: t for t in Team.objects.all()}
    rows = []
    for i in range(N_THROUGH_SERVICE, len(mix)):
        definition, doc = canonical(i)
        team = teams.get(definition.team) or Team.objects.create(name=definition.team)
        teams[definition.team] = team
        rows.append((i, definition, doc, team))
    with transaction.atomic():
        tasks = []
        for _, definition, _, team in rows:
            task = Task(team=team, name=definition.nodes[0].task.name)
            for attribute, value in task_document(definition.nodes[0].task).items():
                setattr(task, attribute, value)
            task.trigger = NO_TRIGGER
            tasks.append(task)
        Task.objects.bulk_create(tasks, batch_size=2000)
        workflows = [
            Workflow(
                team=team,
                name=d.name,
                description=d.description,
                enabled=d.enabled,
                trigger=d.trigger,
                timeout_seconds=d.timeout_seconds,
                overlap_policy=d.overlap_policy,
                misfire_policy=d.misfire_policy,
            )
            for _, d, _, team in rows
        ]
        Workflow.objects.bulk_create(workflows, batch_size=2000)
        versions = [
            WorkflowVersion(workflow=w, number=1, definition=r[2]) for w, r in zip(workflows, rows, strict=False)
        ]
        WorkflowVersion.objects.bulk_create(versions, batch_size=2000)
        for w, v in zip(workflows, versions, strict=False):
            w.current_version = v
        Workflow.objects.bulk_update(workflows, ["current_version"], batch_size=2000)
        Node.objects.bulk_create(
            [
                Node(workflow=w, key="job", type="task", task=t, core=False)
                for w, t in zip(workflows, tasks, strict=False)
            ],
            batch_size=2000,
        )
        Edge.objects.bulk_create([Edge(workflow=w, source="start", target="job", on="") for w in workflows])
        Schedule.objects.bulk_create(
            [
                Schedule(
                    workflow=w,
                    trigger=w.trigger,
                    misfire_policy=w.misfire_policy,
                    overlap_policy=w.overlap_policy,
                    next_fire_at=schedule.next_fire(w.trigger, now),
                )
                for w in workflows
            ],
            batch_size=2000,
        )
    bulk_s = time.perf_counter() - t0
    count = Schedule.objects.filter(workflow__isnull=False).count()
    assert count == len(mix), count
    with contextlib.closing(__import__("django.db", fromlist=["connection"]).connection.cursor()) as cursor:
        cursor.execute("ANALYZE")
    return {
        "service_ms_median": statistics.median(service_ms),
        "service_n": len(service_ms),
        "bulk_seconds": bulk_s,
        "schedules": count,
    }


# --- 2b. the tick loop -----------------------------------------------------------------------


def wait_for_second(target_second: float) -> None:
    """Sleep until the wall clock's seconds-in-minute reaches target_second (0..60)."""
    now = time.time()
    in_minute = now % 60
    delay = (target_second - in_minute) % 60
    time.sleep(delay)


def baton_phase(mix: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    """Run tick() once a second over a window containing a minute boundary; edit one trigger."""
    from django.db import connection
    from django.utils import timezone

    from access.actors import machine_actor
    from executions import dispatch, scheduler
    from executions.models import Batch, Fire
    from workflows.models import Schedule, Workflow
    from workflows.services import workflow_save_definition

    dispatch.backend = lambda runs, countdown: None  # we measure scheduling, not execution
    duration = 20.0 if quick else 60.0
    lead = 3.0 if quick else 5.0  # seconds before the minute boundary the window opens
    edit_after = 8.0 if quick else 25.0  # seconds after the window opens the edit happens
    # The edited workflow: a daily one, moved to every second (due at once).
    edit_index = next(i for i, t in enumerate(mix) if t["class"] == "daily" and i >= N_THROUGH_SERVICE)
    edit_doc = document(edit_index, mix[edit_index])
    edit_doc["trigger"] = {"type": "cron", "expression": "* * * * * ?", "timezone": mix[edit_index]["zone"]}
    edit_workflow_id = Workflow.objects.get(name=edit_doc["name"]).pk
    edit: dict[str, Any] = {}

    def do_edit() -> None:
        try:
            edit["start"] = time.time()
            workflow_save_definition(document=edit_doc, actor=machine_actor("bench"))
            edit["end"] = time.time()
        finally:
            connection.close()

    # Catch up first: anything that fell due while the workflows were being created fires now,
    # outside the measured window (a real deployment does not start with 10 000 overdue rows).
    t0 = time.perf_counter()
    caught = scheduler.tick().started
    _log(f"catch-up tick: {caught} fires in {time.perf_counter() - t0:.1f} s")
    # The connection that fired them planned its foreign-key checks (one per node run, on the
    # batch it names) while executions_batch was empty or nearly: sequential scans, cached for
    # the connection's life. A deployment re-plans them soon (autovacuum analyzes the new
    # table, which invalidates the plans; CONN_MAX_AGE recycles connections); this server runs
    # without autovacuum, so we measure that state once and then do what autovacuum would.
    time.sleep(1.1)
    probes = {"stale_plans": due_tick_probe(1400 if not quick else 400)}
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE executions_batch, executions_noderun, executions_event, executions_fire")
    connection.close()
    time.sleep(1.1)
    probes["fresh_connection"] = due_tick_probe(1400 if not quick else 400)
    _log(f"due-tick probes: {probes}")
    idle_ms = []
    for _ in range(30):  # idle ticks: nothing due (every row was just moved past now - 2 s)
        t0 = time.perf_counter()
        scheduler.tick(now=timezone.now() - dt.timedelta(seconds=2))
        idle_ms.append((time.perf_counter() - t0) * 1000)
    if time.time() % 60 > 60 - lead - 2:
        wait_for_second(1)  # too close to a boundary: take the next minute's
    wait_for_second(60 - lead - 1.2)
    scheduler.tick()
    window_start = math.floor(time.time()) + 1.0
    _log(
        f"window opens {dt.datetime.fromtimestamp(window_start, UTC):%H:%M:%S}; idle ticks {statistics.median(idle_ms):.1f} ms"
    )
    window_end = window_start + duration
    ticks: list[dict[str, Any]] = []
    next_at = window_start + TICK_PHASE
    # The edit runs from another thread at a fixed moment, whatever the ticks are doing.
    edit_thread = threading.Timer(window_start + edit_after - time.time(), do_edit)
    edit_thread.daemon = True
    edit_thread.start()
    edit_started = True

    def honoured() -> bool:
        return "end" in edit and Batch.objects.filter(workflow_id=edit_workflow_id, created_at__gte=since).exists()

    since = dt.datetime.fromtimestamp(window_start, UTC)
    while next_at < window_end or (next_at < window_end + 30 and not honoured()):
        delay = next_at - time.time()
        if delay > 0:
            time.sleep(delay)
        t0 = time.time()
        result = scheduler.tick()
        t1 = time.time()
        ticks.append(
            {
                "start": t0,
                "end": t1,
                "started": result.started,
                "missed": result.missed,
                "lateness": result.lateness,
                "waited": result.waited,
            }
        )
        while next_at <= t1:
            next_at += 1.0  # beat's tick entry expires; a tick that overruns is not queued twice over
    if edit_started:
        edit_thread.join(30)
    measured = ticks[-1]["end"] - window_start
    # Every batch started in the window, with its fire time.
    batches = list(
        Batch.objects.filter(created_at__gte=since, scheduled_for__isnull=False).values_list(
            "workflow_id", "scheduled_for", "created_at"
        )
    )
    missed = Fire.objects.filter(recorded_at__gte=since, outcome="missed").count()
    # Lateness when the batch becomes visible (its transaction committed), as each tick measured
    # it, and when its row was inserted (created_at, from the database).
    visible = [x for t in ticks for x in t["lateness"]]
    inserted = [(c - s).total_seconds() for _, s, c in batches]
    tick_ms = [(t["end"] - t["start"]) * 1000 for t in ticks]
    work_ms = [(t["end"] - t["start"] - t["waited"]) * 1000 for t in ticks]
    fires = sum(t["started"] for t in ticks)
    # Which fires were claimed ahead: the tick that inserted the batch began before its fire time.
    ahead = 0
    starts = sorted(t["start"] for t in ticks)
    import bisect

    for _, s, c in batches:
        k = bisect.bisect_right(starts, c.timestamp()) - 1
        ahead += k >= 0 and starts[k] < s.timestamp()
    busiest = max(ticks, key=lambda t: t["started"])
    # The edit: when did the edited workflow's first every-second batch start?
    edited = sorted(c for w, s, c in batches if w == edit_workflow_id)
    edit_result: dict[str, Any] = {"edit_ms": (edit["end"] - edit["start"]) * 1000 if "end" in edit else math.nan}
    if edited and "end" in edit:
        edit_result["honoured_after_s"] = edited[0].timestamp() - edit["end"]
    # Others' lateness in the ticks that overlapped the edit (±1 s) vs all quiet ticks.
    if "end" in edit:
        near = [
            x
            for w, s, c in batches
            if w != edit_workflow_id and edit["start"] - 1 <= c.timestamp() <= edit["end"] + 1.5
            for x in [(c - s).total_seconds()]
        ]
        quiet_ticks = [t for t in ticks if t["started"] < 100]  # lateness: visible
        quiet = [x for t in quiet_ticks for x in t["lateness"]]
        edit_result.update(
            {
                "others_near_edit_n": len(near),
                "others_near_edit_p50": pct(near, 50),
                "others_near_edit_max": max(near) if near else math.nan,
                "quiet_p50": pct(quiet, 50),
                "quiet_max": max(quiet) if quiet else math.nan,
            }
        )
    Schedule.objects.count()  # keep the connection warm for the profile step
    return {
        "duration_s": measured,
        "ticks": len(ticks),
        "fires": fires,
        "batches_in_window": len(batches),
        "fires_per_s": fires / measured,
        "missed": missed,
        "tick_ms_median": statistics.median(tick_ms),
        "tick_ms_p99": pct(tick_ms, 99),
        "tick_ms_max": max(tick_ms),
        "work_ms_median": statistics.median(work_ms),
        "work_ms_p99": pct(work_ms, 99),
        "idle_tick_ms_median": statistics.median(idle_ms),
        "idle_tick_ms_p99": pct(idle_ms, 99),
        "busiest_tick": {
            "started": busiest["started"],
            "ms": (busiest["end"] - busiest["start"]) * 1000,
            "waited_ms": busiest["waited"] * 1000,
        },
        "ms_per_fire_busiest": (busiest["end"] - busiest["start"] - busiest["waited"])
        * 1000
        / max(1, busiest["started"]),
        "lateness_p50": pct(visible, 50),
        "lateness_p99": pct(visible, 99),
        "lateness_max": max(visible) if visible else math.nan,
        "lateness_n": len(visible),
        "inserted_p50": pct(inserted, 50),
        "inserted_p99": pct(inserted, 99),
        "inserted_max": max(inserted) if inserted else math.nan,
        "claimed_ahead": ahead,
        "probes": probes,
        "edit": edit_result,
        "window_start": dt.datetime.fromtimestamp(window_start, UTC).isoformat(),
    }


# --- 3. profile one busy tick --------------------------------------------------------------


def make_due(n: int, at: dt.datetime) -> list[int]:
    """Move the first n every-minute and every-5-minute rows' next fire to `at`."""
    from workflows.models import Schedule

    ids = list(
        Schedule.objects.filter(trigger__expression__in=["0 * * * * ?"] + [f"0 {m}/5 * * * ?" for m in range(5)])
        .order_by("pk")
        .values_list("pk", flat=True)[:n]
    )
    Schedule.objects.filter(pk__in=ids).update(next_fire_at=at)
    return ids


class Phases:
    """Time calls of chosen functions during one tick (start relative to an origin, duration)."""

    def __init__(self) -> None:
        self.origin = 0.0
        self.rows: list[tuple[str, float, float]] = []
        self._patched: list[tuple[Any, str, Any, bool]] = []

    def wrap(self, owner: Any, name: str, label: Any) -> None:
        original = getattr(owner, name)
        own = name in vars(owner)

        def wrapper(*args, **kwargs):
            t0 = time.time()
            try:
                return original(*args, **kwargs)
            finally:
                text = label(*args, **kwargs) if callable(label) else label
                self.rows.append((text, t0 - self.origin, time.time() - t0))

        setattr(owner, name, wrapper)
        self._patched.append((owner, name, original, own))

    def restore(self) -> None:
        for owner, name, original, own in reversed(self._patched):
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        self._patched.clear()


def _commit_timer() -> tuple[list[float], Any]:
    """Count the time spent in COMMIT on the default connection; returns (seconds, undo)."""
    from django.db import connection

    spent = [0.0]
    original = connection._commit

    def timed():
        t0 = time.perf_counter()
        try:
            return original()
        finally:
            spent[0] += time.perf_counter() - t0

    connection._commit = timed
    return spent, lambda: delattr(connection, "_commit")


def due_tick_probe(n: int) -> dict[str, Any]:
    """n rows due half a second ago: one tick starts them at once; its cost and its COMMITs' share."""
    from django.utils import timezone

    from executions import scheduler

    make_due(n, timezone.now() - dt.timedelta(milliseconds=500))
    spent, undo = _commit_timer()
    try:
        t0 = time.perf_counter()
        result = scheduler.tick()
        elapsed = time.perf_counter() - t0 - result.waited
    finally:
        undo()
    return {
        "fires": result.started,
        "ms_per_fire": elapsed * 1000 / max(1, result.started),
        "commit_ms_per_fire": spent[0] * 1000 / max(1, result.started),
        "commit_share": spent[0] / elapsed if elapsed else math.nan,
    }


def ahead_tick_timeline(n: int, lead: float = 0.6) -> dict[str, Any]:
    """Rows due at the next whole second; a tick `lead` s before it claims them: its phases."""
    from django.db import connection

    from executions import scheduler
    from executions.store import hop_store

    now = time.time()
    instant = math.floor(now) + (2 if now % 1 > 1 - lead - 0.2 else 1)
    ids = make_due(n, dt.datetime.fromtimestamp(instant, UTC))
    phases = Phases()
    phases.origin = instant
    phases.wrap(scheduler, "_prepare_rows", lambda rows, until: f"prepare {len(rows)} rows (after claiming them)")
    phases.wrap(scheduler, "_wait_until", "wait for the fire instant")
    phases.wrap(scheduler, "_start", "overlap check, inserts, schedule rows (the rows below, up to COMMIT)")
    phases.wrap(hop_store(), "insert", lambda model, objs, now: f"insert {len(objs)} {model.__name__} rows")
    phases.wrap(scheduler, "_move_rows", lambda rows, now: f"update {len(rows)} schedule rows")
    phases.wrap(connection, "_commit", "COMMIT")
    time.sleep(max(0.0, instant - lead - time.time()))
    try:
        began = time.time()
        result = scheduler.tick()
        ended = time.time()
    finally:
        phases.restore()
    ours = list(result.lateness)  # every fire of this tick (a few other rows fire at the same instant)
    return {
        "rows_made_due": len(ids),
        "fires": result.started,
        "tick_began_s": began - instant,
        "tick_ended_s": ended - instant,
        "waited_s": result.waited,
        "phases": _boundary_phases(phases.rows),
        "visible_p50": pct(ours, 50),
        "visible_max": max(ours) if ours else math.nan,
    }


def _boundary_phases(rows: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """The phases of the largest chunk (not those of rows that were already due), in start order."""
    rows = sorted(rows, key=lambda row: row[1])
    prepares = [row for row in rows if row[0].startswith("prepare")]
    biggest = max(prepares, key=lambda row: int(row[0].split()[1])) if prepares else (None, -math.inf, 0)
    return [row for row in rows if row[1] >= biggest[1]]


def profile_busy_tick(n_fires: int) -> dict[str, Any]:
    """Count the statements of 50 due fires; profile one tick that starts n_fires due fires."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from executions import scheduler

    # Queries per fire, on 50 fires.
    make_due(50, timezone.now() - dt.timedelta(milliseconds=500))
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        started = scheduler.tick().started
    queries_per_fire = len(captured.captured_queries) / max(1, started)
    kinds: dict[str, int] = {}
    for q in captured.captured_queries:
        words = q["sql"].split()
        verb = words[0].upper()
        table = ""
        for marker in ("INTO", "UPDATE", "FROM"):
            if marker in words:
                table = words[words.index(marker) + 1].strip('"')
                break
        kinds[f"{verb} {table}"] = kinds.get(f"{verb} {table}", 0) + 1
    time.sleep(1.1)
    make_due(n_fires, timezone.now() - dt.timedelta(milliseconds=500))
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    result = scheduler.tick()
    profiler.disable()
    elapsed = time.perf_counter() - t0
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    wanted = {
        "_prepare_rows: misfire split, plans, batches built in memory": ("scheduler.py", "_prepare_rows"),
        "plan_fires (workflows/schedule.py)": ("schedule.py", "plan_fires"),
        "QuartzCron.next_after": ("quartz.py", "next_after"),
        "batch_prepare: batch, node run, events as model instances": ("lifecycle/start.py", "batch_prepare"),
        "BlueprintCache.get_many (DB read on a miss)": ("runtime.py", "get_many"),
        "_start: overlap check, inserts, schedule rows": ("scheduler.py", "_start"),
        "HopStore.insert: INSERT … unnest, all tables": ("store/postgres.py", "insert"),
        "NewBatch.restamp (times of the insert)": ("lifecycle/start.py", "restamp"),
        "_move_rows: UPDATE schedule rows": ("scheduler.py", "_move_rows"),
        "COMMIT": ("base/base.py", "_commit"),
        "psycopg execute (all SQL)": ("cursor.py", "execute"),
    }
    shares = {}
    for label, (file_end, func) in wanted.items():
        cum = sum(v[3] for k, v in stats.stats.items() if k[0].endswith(file_end) and k[2] == func)  # type: ignore[attr-defined]
        shares[label] = {"seconds": cum, "share": cum / total if total else math.nan}
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(30)
    top = buf.getvalue()
    buf2 = io.StringIO()
    pstats.Stats(profiler, stream=buf2).sort_stats("tottime").print_stats(15)
    return {
        "fires": result.started,
        "seconds": elapsed,
        "ms_per_fire": elapsed * 1000 / max(1, result.started),
        "queries_per_fire": queries_per_fire,
        "query_kinds_50_fires": kinds,
        "shares": shares,
        "top_cumulative": top,
        "top_tottime": buf2.getvalue(),
    }


def plan_cache_check() -> dict[str, Any]:
    from executions.runtime import blueprints

    return {"cached": len(blueprints._blueprints), "size": blueprints.size}


# --- 4. django-celery-beat -------------------------------------------------------------------


def beat_setup(mix: list[dict[str, Any]]) -> dict[str, Any]:
    """The same schedules as django-celery-beat entries (5-field, minute granularity)."""
    from django.db import transaction
    from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

    t0 = time.perf_counter()
    with transaction.atomic():
        PeriodicTask.objects.all().delete()  # Baton's own tick/recovery entries: not part of this run
        crons: dict[tuple[str, str], CrontabSchedule] = {}
        for trig in mix:
            key = (trig["cron5"], trig["zone"])
            if key not in crons:
                m, h, dom, mon, dow = trig["cron5"].split()
                crons[key] = CrontabSchedule(
                    minute=m, hour=h, day_of_month=dom, month_of_year=mon, day_of_week=dow, timezone=trig["zone"]
                )
        CrontabSchedule.objects.bulk_create(list(crons.values()))
        PeriodicTask.objects.bulk_create(
            [
                PeriodicTask(
                    name=f"sched-{i:05d}",
                    task="bench.beat_noop",
                    args=json.dumps([i]),
                    queue=BEAT_QUEUE,
                    crontab=crons[(t["cron5"], t["zone"])],
                    enabled=True,
                )
                for i, t in enumerate(mix)
            ],
            batch_size=2000,
        )
        PeriodicTasks.update_changed()
    return {"entries": PeriodicTask.objects.count(), "crontabs": len(crons), "setup_s": time.perf_counter() - t0}


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


class QueueWatcher(threading.Thread):
    """Timestamp each message as it appears on a Redis list nobody consumes (LPUSH: oldest at the tail)."""

    def __init__(self, url: str, key: str):
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(url)
        self.key = key
        self.seen = 0
        self.messages: list[tuple[float, int, str]] = []  # (time seen, workflow index, task name)
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            n = self.client.llen(self.key)
            if n > self.seen:
                raw = self.client.lrange(self.key, -n, -(self.seen + 1))
                t = time.time()
                for item in reversed(raw):
                    self.messages.append((t, *self._index(item)))
                self.seen = n
            else:
                time.sleep(0.002)

    @staticmethod
    def _index(item: bytes) -> tuple[int, str]:
        message = json.loads(item)
        headers = message.get("headers", {})
        try:
            args = ast.literal_eval(headers.get("argsrepr") or "()")
            return int(args[0]), headers.get("task", "")
        except (ValueError, SyntaxError, IndexError, TypeError):
            import base64

            body = json.loads(base64.b64decode(message["body"]))
            return int(body[0][0]), headers.get("task", "")


def beat_phase(mix: list[dict[str, Any]], env: dict[str, str], quick: bool, log_path: Path) -> dict[str, Any]:
    """Run celery beat over one (quick) or two minute boundaries; edit one entry during a burst."""
    import redis
    from croniter import croniter
    from django.db import connection
    from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

    redis.Redis.from_url(f"{REDIS}/{REDIS_DB}").flushdb()
    setup = beat_setup(mix)
    # Start beat ~25 s before a minute boundary M (it loads every entry first). Every entry last
    # ran "now", so beat does not catch up on the minute its row was created in.
    if time.time() % 60 > 33:
        wait_for_second(1)
    wait_for_second(35)
    PeriodicTask.objects.update(last_run_at=dt.datetime.now(UTC))
    PeriodicTasks.update_changed()
    connection.close()
    watcher = QueueWatcher(f"{REDIS}/{REDIS_DB}", BEAT_QUEUE)
    watcher.start()
    log = open(log_path, "wb")
    command = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "config",
        "beat",
        "-S",
        "django_celery_beat.schedulers:DatabaseScheduler",
        "-l",
        "INFO",
    ]
    beat = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    started_at = time.time()
    boundary = (math.floor(started_at / 60) + 1) * 60.0
    edit: dict[str, Any] = {}
    cpu_samples: list[tuple[float, float]] = []
    try:
        run_until = boundary + (35.0 if quick else 95.0)
        # The edit: 1 s after the first message of boundary M, move a daily entry to M+1.
        edit_task = next(i for i, t in enumerate(mix) if t["class"] == "daily")
        edited_cron = None
        while time.time() < run_until:
            if beat.poll() is not None:
                raise RuntimeError(f"celery beat exited with {beat.returncode}: {log_path.read_text()[-3000:]}")
            cpu_samples.append((time.time(), _cpu_seconds(beat.pid)))
            if not edit and any(t >= boundary for t, _, _ in watcher.messages[-1:]):
                time.sleep(1.0)
                nxt = dt.datetime.fromtimestamp(boundary + 60, UTC)
                edit["start"] = time.time()
                edited_cron = CrontabSchedule.objects.create(minute=str(nxt.minute), hour=str(nxt.hour), timezone="UTC")
                task = PeriodicTask.objects.get(name=f"sched-{edit_task:05d}")
                task.crontab = edited_cron
                task.save()
                edit["end"] = time.time()
                edit["target"] = boundary + 60
                connection.close()
            time.sleep(0.25)
        cpu_end = _cpu_seconds(beat.pid)
    finally:
        if beat.poll() is None:
            beat.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                beat.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(beat.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            beat.wait(timeout=5)
        log.close()
        watcher.stop_event.set()
        watcher.join(5)
    # Lateness: time seen − the crontab's last match at or before it, per message.
    messages = [(t, i) for t, i, name in watcher.messages if name == "bench.beat_noop"]
    lateness, per_boundary = [], {}
    crons = {}
    for t, i in messages:
        if i == edit_task and edit and t >= edit.get("end", math.inf):
            continue
        trig = mix[i]
        key = (trig["cron5"], trig["zone"])
        tz = ZoneInfo(trig["zone"])
        prev = croniter(trig["cron5"], dt.datetime.fromtimestamp(t, tz)).get_prev(dt.datetime).timestamp()
        crons[key] = crons.get(key, 0) + 1
        late = t - prev
        lateness.append(late)
        per_boundary.setdefault(prev, []).append(late)
    # The edit: how long sending stalled around it (largest gap between messages after it),
    # and whether/when the edited entry fired on its new schedule.
    edit_result: dict[str, Any] = {}
    if edit:
        times = sorted(t for t, _ in messages)
        in_burst = [t for t in times if boundary <= t < boundary + 59]
        before = [b - a for a, b in itertools.pairwise(in_burst) if b <= edit["start"]]
        after = [(a, b - a) for a, b in itertools.pairwise(in_burst) if a >= edit["start"] - 0.5]
        gap = max(after, key=lambda x: x[1]) if after else (math.nan, math.nan)
        edit_result = {
            "edit_ms": (edit["end"] - edit["start"]) * 1000,
            "burst_gap_median_ms": statistics.median(before) * 1000 if before else math.nan,
            "largest_gap_after_edit_s": gap[1],
            "gap_started_after_edit_s": gap[0] - edit["end"] if after else math.nan,
            "burst_messages_after_edit": sum(1 for t in in_burst if t >= edit["end"]),
        }
        fired = [t for t, i in messages if i == edit_task and t >= edit["end"]]
        if fired:
            edit_result["edited_fired_late_s"] = fired[0] - edit["target"]
            edit_result["honoured_after_edit_s"] = fired[0] - edit["end"]
        else:
            edit_result["edited_fired_late_s"] = None if not quick else "not observed (--quick covers one boundary)"
    log_text = log_path.read_text(errors="replace")
    changed_lines = log_text.count("Schedule changed")
    boundaries = sorted(per_boundary)
    window_cpu = [c for t, c in cpu_samples if t >= boundary - 5]
    window_t = [t for t, c in cpu_samples if t >= boundary - 5]
    cpu_share = (window_cpu[-1] - window_cpu[0]) / (window_t[-1] - window_t[0]) if len(window_cpu) > 1 else math.nan
    expected = sum(1 for trig in mix for b in boundaries if _cron_matches(trig, b))
    return {
        **setup,
        "messages": len(messages),
        "expected_fires_at_observed_boundaries": expected,
        "boundaries": [dt.datetime.fromtimestamp(b, UTC).isoformat() for b in boundaries if len(per_boundary[b]) > 50],
        "lateness_p50": pct(lateness, 50),
        "lateness_p99": pct(lateness, 99),
        "lateness_max": max(lateness) if lateness else math.nan,
        "per_boundary": {
            dt.datetime.fromtimestamp(b, UTC).strftime("%H:%M"): {
                "n": len(v),
                "p50": pct(v, 50),
                "p99": pct(v, 99),
                "max": max(v),
            }
            for b, v in per_boundary.items()
            if len(v) > 50
        },
        "cpu_seconds_total": cpu_end,
        "cpu_share_in_window": cpu_share,
        "startup_to_boundary_s": boundary - started_at,
        "schedule_changed_log_lines": changed_lines,
        "edit": edit_result,
    }


def _cron_matches(trig: dict[str, Any], boundary: float) -> bool:
    from croniter import croniter

    moment = dt.datetime.fromtimestamp(boundary, ZoneInfo(trig["zone"]))
    return croniter.match(trig["cron5"], moment)


# --- 5. report ----------------------------------------------------------------------------


def machine() -> dict[str, str]:
    import psycopg

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with psycopg.connect(ADMIN_URL) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    import celery
    import django_celery_beat

    return {
        "uname": " ".join(platform.uname()),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "postgresql": pg,
        "celery": celery.__version__,
        "django_celery_beat": django_celery_beat.__version__,
        "date": dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _f(x: Any, digits: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if isinstance(x, float) and math.isnan(x):
        return "—"
    return f"{x:.{digits}f}"


def write_doc(r: dict[str, Any]) -> None:
    m, b, bt, p, mix = r["machine"], r["baton"], r["beat"], r["profile"], r["mix"]
    tl, probes = r["timeline"], b["probes"]
    n_profiled = 400 if r["quick"] else 1400
    ok = b["lateness_p99"] <= TARGET_LATENESS_P99
    micro_ok = all(x["next_after_us"] <= x["croniter_new_get_next_us"] for x in r["micro"])
    lines = [
        "# Scheduler benchmark",
        "",
        f"`python -m benchmarks.scheduler{' --quick' if r['quick'] else ''}` — written by the run of "
        f"{m['date']} ({r['duration_s']:.0f} s). Re-run it to refresh this page.",
        "",
        "## Machine",
        "",
        f"- {m['uname']}",
        f"- CPU: {m['cpu']}, {m['cores']} cores",
        f"- Python {m['python']}, PostgreSQL {m['postgresql']}, Celery {m['celery']}, "
        f"django-celery-beat {m['django_celery_beat']}",
        "",
        "## The load",
        "",
        f"{N_WORKFLOWS:,} enabled workflows, each one `python` task (`baton.noop`), overlap `parallel`, cron "
        f"triggers spread round-robin over {', '.join(ZONES)}:",
        "",
        "| class | workflows | Quartz (Baton) | 5-field crontab (beat) |",
        "|---|---:|---|---|",
    ]
    examples = {}
    for t in mix:
        examples.setdefault(t["class"], [0, t["quartz"], t["cron5"]])[0] += 1
    for kind, (n, q, c) in examples.items():
        lines.append(f"| {kind} | {n} | `{q}` | `{c}` |")
    lines += [
        "",
        "django-celery-beat's crontab has minute granularity: the every-second, every-10-s and every-30-s "
        "triggers become every-minute entries on the beat side (so beat sends fewer messages than Baton "
        "starts batches). Per-entry time zones use `CrontabSchedule.timezone`.",
        "",
        "## Figures",
        "",
        f"Target: fire lateness p99 ≤ {TARGET_LATENESS_P99:g} s with {N_WORKFLOWS:,} triggers — "
        f"**{'met' if ok else 'MISSED'}**; `next_after` at least as fast as croniter `get_next` — "
        f"**{'met' if micro_ok else 'MISSED'}**.",
        "",
        "| | Baton `tick()` | django-celery-beat |",
        "|---|---:|---:|",
        f"| measured window | {b['duration_s']:.0f} s, {b['ticks']} ticks | "
        f"{len(bt['per_boundary'])} minute boundar{'y' if len(bt['per_boundary']) == 1 else 'ies'} |",
        f"| fires started / sent | {b['batches_in_window']} batches ({b['fires_per_s']:.1f}/s) | "
        f"{bt['messages']} messages (expected {bt['expected_fires_at_observed_boundaries']}) |",
        f"| fire lateness p50 | {_f(b['lateness_p50'], 3)} s | {_f(bt['lateness_p50'], 3)} s |",
        f"| fire lateness p99 | {_f(b['lateness_p99'], 3)} s | {_f(bt['lateness_p99'], 3)} s |",
        f"| fire lateness max | {_f(b['lateness_max'], 3)} s | {_f(bt['lateness_max'], 3)} s |",
        f"| tick wall time median / p99 (includes the wait for the fire instant) | {_f(b['tick_ms_median'], 1)} / "
        f"{_f(b['tick_ms_p99'], 1)} ms | — |",
        f"| tick work (wall − wait) median / p99 | {_f(b['work_ms_median'], 1)} / {_f(b['work_ms_p99'], 1)} ms | — |",
        f"| idle tick (nothing due) median / p99 | {_f(b['idle_tick_ms_median'], 1)} / "
        f"{_f(b['idle_tick_ms_p99'], 1)} ms | — |",
        f"| busiest tick | {b['busiest_tick']['started']} fires: {_f(b['busiest_tick']['ms'], 0)} ms wall, of "
        f"which {_f(b['busiest_tick']['waited_ms'], 0)} ms waiting for the instant "
        f"({_f(b['ms_per_fire_busiest'], 2)} ms of work a fire) | — |",
        f"| scheduler CPU | the tick runs in the benchmark process | {_f(bt['cpu_share_in_window'] * 100, 0)} % "
        f"of a core over the window; {_f(bt['cpu_seconds_total'], 1)} s CPU in all |",
        f"| edit one trigger: the write | {_f(b['edit']['edit_ms'], 1)} ms (`workflow_save_definition`) | "
        f"{_f(bt['edit'].get('edit_ms'), 1)} ms (`PeriodicTask.save`) |",
        f"| edit: until honoured | {_f(b['edit'].get('honoured_after_s'), 2)} s (first batch on the new "
        f"trigger) | {_f(bt['edit'].get('edited_fired_late_s'), 2)} s late at its new minute |",
        f"| edit: others' lateness around it | p50 {_f(b['edit'].get('others_near_edit_p50'), 3)} s, max "
        f"{_f(b['edit'].get('others_near_edit_max'), 3)} s (quiet ticks: p50 {_f(b['edit'].get('quiet_p50'), 3)}"
        f" s, max {_f(b['edit'].get('quiet_max'), 3)} s) | sending stalled {_f(bt['edit'].get('largest_gap_after_edit_s'), 2)}"
        f" s (median gap in the burst {_f(bt['edit'].get('burst_gap_median_ms'), 2)} ms) |",
        "",
        f"Baton: lateness until the batch is visible (committed), over {b['lateness_n']} fires; until its row was "
        f"inserted (`created_at − scheduled_for`): p50 {_f(b['inserted_p50'], 3)} s / p99 {_f(b['inserted_p99'], 3)} s / "
        f"max {_f(b['inserted_max'], 3)} s. {b['claimed_ahead']} of {b['batches_in_window']} batches were claimed "
        f"and prepared by a tick that began before their fire time (the lookahead); the rest were already due "
        f"when a tick began. Missed fires in the window: {b['missed']}.",
        "",
        "Beat per minute boundary (seconds late):",
        "",
        "| boundary (UTC) | messages | p50 | p99 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, v in bt["per_boundary"].items():
        lines.append(f"| {k} | {v['n']} | {_f(v['p50'], 2)} | {_f(v['p99'], 2)} | {_f(v['max'], 2)} |")
    lines += [
        "",
        "### `next_after` against croniter (µs per call)",
        "",
        "| expression | zone | `next_after` | `schedule.next_fire` (parse + next_after) | croniter(expr, t).get_next | "
        "chained: `next_after` | chained: croniter get_next | agree (of 50) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["micro"]:
        lines.append(
            f"| `{x['quartz']}` ↔ `{x['cron5']}` | {x['zone']} | {_f(x['next_after_us'], 1)} | "
            f"{_f(x['next_fire_with_parse_us'], 1)} | {_f(x['croniter_new_get_next_us'], 1)} | "
            f"{_f(x['next_after_chained_us'], 1)} | {_f(x['croniter_get_next_chained_us'], 1)} | {x['agree_of_50']} |"
        )
    lines += [
        "",
        "### Where a busy tick spends its time",
        "",
        f"One tick that claims {tl['rows_made_due']} every-minute and every-5-minute rows made due at the next "
        f"whole second (as at a minute boundary), starting {tl['tick_began_s']:+.3f} s from the fire instant. "
        f"The phases of that chunk, in seconds from the fire instant (the tick started {tl['fires']} batches, a few "
        f"of rows that were already due among them; visible {_f(tl['visible_p50'], 3)} s after their fire time at "
        f"the median, {_f(tl['visible_max'], 3)} s at most):",
        "",
        "| phase | starts at | takes |",
        "|---|---:|---:|",
    ]
    for label, start, duration in tl["phases"]:
        lines.append(f"| {label} | {start:+.3f} s | {duration * 1000:.0f} ms |")
    lines += [
        "",
        f"Before the claim moved ahead, everything above the wait ran after the fire instant too. Statements "
        f"a fire: {_f(p['queries_per_fire'], 2)} (counted on 50 due fires, no profiler: one INSERT per table for "
        f"the whole chunk, one UPDATE per distinct next fire time).",
        "",
        f"A tick whose rows are already due (no wait; {n_profiled} rows made due, and whatever else was due), "
        f"under cProfile: {p['fires']} fires in "
        f"{_f(p['seconds'], 2)} s, {_f(p['ms_per_fire'], 2)} ms a fire (profiler overhead included):",
        "",
        "| function | cumulative s | share of the tick |",
        "|---|---:|---:|",
    ]
    for label, v in sorted(p["shares"].items(), key=lambda kv: -kv[1]["seconds"]):
        lines.append(f"| {label} | {_f(v['seconds'], 2)} | {_f(v['share'] * 100, 0)} % |")
    stale, fresh = probes["stale_plans"], probes["fresh_connection"]
    lines += [
        "",
        f"`blueprint_for` cache after the run: {r['plan_cache']} (10 000 versions).",
        "",
        "**The COMMIT.** The runs of this page before this one found 61 % of a busy tick in COMMIT. "
        "PostgreSQL checks Django's foreign keys (DEFERRABLE INITIALLY DEFERRED) at COMMIT, one "
        "`SELECT 1 … FOR KEY SHARE` per reference per inserted row, through a plan it prepares once per "
        "connection and keeps. The benchmark's connection prepared those plans during its first tick, when "
        "`executions_batch` and `executions_noderun` were empty (ANALYZE had just recorded them so): "
        "sequential scans, so every check read the whole table, and the COMMIT grew with the table "
        "(`pg_stat_user_tables`: 30 933 sequential scans of executions_batch reading 95 million rows over "
        "6 182 fires — five per fire, the node run's, the three events' and the fire record's "
        "references to their batch). With `SET CONSTRAINTS ALL IMMEDIATE` on a new connection the same tick "
        "cost 0.93–1.05 ms a fire with a COMMIT of 0.01 ms a fire, and with deferred checks on a new "
        "connection 0.99–1.20 ms a fire: the checks were cheap once planned as index scans. Two changes "
        "followed: the append-only logs (Event, Fire) no longer carry database constraints on their "
        "references (`db_constraint=False`; Django still cascades deletes), which leaves three checks a "
        "fire instead of ten (the node run's batch, the batch's workflow and version); and this benchmark, "
        "after its catch-up tick, ANALYZEs the executions tables and reconnects — what autovacuum and "
        "`CONN_MAX_AGE` do in a deployment; this server runs without autovacuum. (The figures of this paragraph "
        "up to here were measured once, while making that change.) Measured in this run: a due tick of "
        f"{stale['fires']} fires on the connection that ran the catch-up tick (its check plans made when the "
        f"tables held that tick's first chunk) cost {_f(stale['ms_per_fire'], 2)} ms a fire, "
        f"{_f(stale['commit_ms_per_fire'], 3)} ms of it in COMMIT ({_f(stale['commit_share'] * 100, 0)} %); after "
        f"ANALYZE, on a new connection, {fresh['fires']} fires cost {_f(fresh['ms_per_fire'], 2)} ms a fire, "
        f"{_f(fresh['commit_ms_per_fire'], 3)} ms in COMMIT ({_f(fresh['commit_share'] * 100, 0)} %).",
        "",
        "**The inserts.** Django's `bulk_create` (already one `INSERT … unnest` per table on PostgreSQL) "
        "converts every field of every instance, and Django's client-side cursor quotes every array element "
        "in Python (a regular expression per value). `bulk_insert` reads the values straight off the "
        "instances and sends the arrays in binary through a server-side-bound psycopg cursor: inserting "
        "4 236 events took 99–104 ms through Django's cursor and 48–56 ms this way (measured once, while making "
        "the change). Python's cyclic garbage "
        "collector is paused from claim to commit (a full collection took 90 ms in the middle of a "
        "boundary's inserts). The event log keeps its three events a fire (batch started, node created "
        "pending, node queued): the tests read every transition.",
        "",
        "## How to read this",
        "",
        "- **Lateness** (Baton) is the moment a batch became visible to everyone else — `tick()` reads the "
        "clock right after the transaction that inserted it commits — minus its `scheduled_for`, for every "
        "batch a tick started in the window. (Until the run of 2026-12-01 03:40 it was `batch.created_at − "
        "scheduled_for`, the moment of the insert, which a long transaction keeps invisible for a while; "
        "that figure is still given below the table.) A chunk's batches become visible together, at its "
        "COMMIT, and the minute boundary's fires are more than half of the window's: p50 and p99 are often "
        "the same number. Beat: the moment a message appeared on the Redis "
        "queue − the crontab's minute (a thread polls `LLEN` every 2 ms).",
        f"- **Ticks** are called once a second, {TICK_PHASE:g} s after each wall-clock second (beat's 1 s "
        "interval entry has an arbitrary phase). A tick claims the rows due within the next "
        "`BATON_SCHEDULER_LOOKAHEAD_SECONDS` (1 s), prepares their batches, sleeps until the fire instant "
        "and inserts then, so the tick's phase no longer adds to lateness; `created_at` is the moment of the "
        "insert, never before the fire time. A tick that overruns is followed at once by the next phase "
        "point (beat's tick entry expires after 5 s).",
        "- **Before the window** the benchmark fires what fell due while the workflows were created (the "
        "catch-up tick), then ANALYZEs the executions tables and opens a new connection (see *The COMMIT* "
        "above for why).",
        "- **Tick cost** is the wall time of `executions.scheduler.tick()` with `dispatch.backend` a no-op "
        "(no broker, no worker: we measure scheduling, not execution); *work* leaves out the sleep until "
        "the fire instant. The idle tick runs with nothing due.",
        "- **Edit** (Baton): `workflow_save_definition` moves a daily workflow to every second from another "
        "thread while ticks run; *until honoured* is from the end of that call to the first batch on the new "
        "trigger. (Beat): one entry's crontab is changed 1 s into a minute's burst; the *stall* is the largest "
        "gap between two messages after the edit — beat re-reads every entry when it notices the change — "
        "and the edited entry should fire at the next minute.",
        "- **Beat CPU** is utime+stime from `/proc/<pid>/stat` over the window from 5 s before the first "
        "boundary to the end; 100 % is one core saturated.",
        "- Machines are noisy; compare Baton to beat within one run, not across runs.",
    ]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="15 s of ticks and one beat boundary (< 3 min)")
    parser.add_argument("--skip-beat", action="store_true", help="Baton only")
    args = parser.parse_args(argv)

    def on_term(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    began = time.time()
    mix = trigger_mix()
    results: dict[str, Any] = {"quick": args.quick, "mix": mix}
    _log("micro-benchmark: next_after vs croniter")
    results["micro"] = micro_benchmark(args.quick)
    _log(f"database {DB_NAME}: drop, create, migrate")
    url = recreate_database()
    env = bench_env(url)
    migrate(env)
    django_setup(env)
    results["machine"] = machine()
    _log(f"creating {N_WORKFLOWS} workflows")
    results["create"] = create_workflows(mix)
    _log(f"created: {results['create']}")
    _log("Baton tick loop (waiting for the window before a minute boundary)")
    results["baton"] = baton_phase(mix, args.quick)
    _log(f"baton: lateness p50 {results['baton']['lateness_p50']:.3f} s p99 {results['baton']['lateness_p99']:.3f} s")
    results["plan_cache"] = plan_cache_check()
    _log("phases of one tick that claims a minute boundary's rows ahead")
    time.sleep(1.1)
    results["timeline"] = ahead_tick_timeline(400 if args.quick else 1400)
    _log(f"timeline: {results['timeline']['fires']} fires, visible p50 {results['timeline']['visible_p50']:.3f} s")
    _log("profiling one busy tick")
    time.sleep(1.1)
    results["profile"] = profile_busy_tick(400 if args.quick else 1400)
    _log(f"profile: {results['profile']['fires']} fires in {results['profile']['seconds']:.2f} s")
    if not args.skip_beat:
        _log("django-celery-beat: 10 000 entries, beat subprocess")
        log_path = REPO / "var" / "bench-sched-beat.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        results["beat"] = beat_phase(mix, env, args.quick, log_path)
        _log(f"beat: lateness p50 {results['beat']['lateness_p50']:.2f} s p99 {results['beat']['lateness_p99']:.2f} s")
    else:
        results["beat"] = {
            "per_boundary": {},
            "messages": 0,
            "expected_fires_at_observed_boundaries": 0,
            "lateness_p50": math.nan,
            "lateness_p99": math.nan,
            "lateness_max": math.nan,
            "cpu_share_in_window": math.nan,
            "cpu_seconds_total": math.nan,
            "edit": {},
        }
    results["duration_s"] = time.time() - began
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(json.dumps({k: v for k, v in results.items() if k != "mix"}, indent=1, default=str))
    write_doc(results)
    _log(f"done in {results['duration_s']:.0f} s; wrote {DOC.relative_to(REPO)} and {JSON_OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
