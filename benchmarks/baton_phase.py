"""One benchmark phase in one environment: `python -m benchmarks.baton_phase --mode pg|rabbitmq|embedded`.

The environment (DATABASE_URL / CELERY_BROKER_URL, or BATON_VAR_DIR for the embedded
default) is set by `benchmarks.run`, which has already created and migrated the database.
This process saves the benchmark workflows, profiles one claim + finish cycle in-process,
starts the real workers (Baton, and the raw Celery anchors on the same broker), runs the
measurements interleaved (raw chain, Baton chain, ... so machine noise hits both alike),
stops every worker, and writes its figures as JSON to `--out`.

`pg` is PostgreSQL + Redis, `rabbitmq` the same database with RabbitMQ as the broker (the
same shapes and anchors; the in-process profiles, which touch no broker, are left to `pg`),
`embedded` SQLite + the `batonfs://` broker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

from benchmarks import executor_profile
from benchmarks.common import REPO, CpuReading, Worker, summary, terminate_as_exit, wait_for, workers

CHAIN = 20
FAN = 18
BROKER_QUEUE = "bench-broker"


# --- workflow documents -------------------------------------------------------------------


NOOP = ("python", {"callable": "baton.noop"})
SHELL_TRUE = ("shell", {"script": "true"})  # the raw anchor runs ["/bin/sh", "-c", "true"]
SHAPES = ("core", "shell", "http")


def _task(name: str, key: str, queue: str = "default", work: tuple[str, dict] = NOOP) -> dict[str, Any]:
    kind, config = work
    task = {"name": f"{name}-{key}", "kind": kind, "config": config, "queue": queue}
    return {"key": key, "type": "task", "task": task}


def _doc(name: str, nodes: list, edges: list) -> dict[str, Any]:
    return {"name": name, "team": "bench", "timeout_seconds": 600, "nodes": nodes, "edges": edges}


def chain_doc(name: str, length: int, queue: str = "default", work: tuple[str, dict] = NOOP) -> dict[str, Any]:
    keys = [f"n{i:02d}" for i in range(1, length + 1)]
    edges = [{"from": "start", "to": keys[0]}]
    edges += [{"from": a, "to": b, "on": "success"} for a, b in pairwise(keys)]
    return _doc(name, [_task(name, k, queue, work) for k in keys], edges)


def fan_doc(name: str, width: int) -> dict[str, Any]:
    keys = [f"p{i:02d}" for i in range(1, width + 1)]
    nodes = [_task(name, k) for k in keys] + [{"key": "join", "type": "and"}, _task(name, "final")]
    edges = [{"from": "start", "to": k} for k in keys]
    edges += [{"from": k, "to": "join", "on": "success"} for k in keys]
    edges += [{"from": "join", "to": "final"}]
    return _doc(name, nodes, edges)


def wide_doc(name: str, width: int) -> dict[str, Any]:
    keys = [f"w{i:02d}" for i in range(1, width + 1)]
    return _doc(name, [_task(name, k) for k in keys], [{"from": "start", "to": k} for k in keys])


# --- Baton measurements -------------------------------------------------------------------


def ms(delta) -> float:
    return delta.total_seconds() * 1000


def run_batch(workflow, check) -> Any:
    """Start a batch, wait for it to end; return the batch with its node runs."""
    from access.actors import machine_actor
    from executions.lifecycle import batch_start
    from executions.models import Batch

    submitted = time.time()
    batch = batch_start(workflow=workflow, actor=machine_actor("bench"))
    wait_for(
        lambda: Batch.objects.filter(pk=batch.pk).exclude(status="running").exists(),
        timeout=60,
        interval=0.005,
        what=f"batch {batch.pk}",
        check=check,
    )
    batch.refresh_from_db()
    if batch.status != "succeeded":
        raise RuntimeError(f"benchmark batch {batch.pk} ended {batch.status}")
    batch.submitted = submitted
    batch.runs = {r.node_key: r for r in batch.node_runs.all()}
    return batch


def chain_figures(batch) -> tuple[list[float], float]:
    keys = sorted(k for k in batch.runs if k.startswith("n"))
    hops = [ms(batch.runs[b].started_at - batch.runs[a].finished_at) for a, b in pairwise(keys)]
    return hops, ms(batch.finished_at - batch.created_at)


def node_durations(batch) -> list[float]:
    """Each node run's own span, start → finish, as the worker recorded it."""
    return [ms(r.finished_at - r.started_at) for r in batch.runs.values()]


def fan_figures(batch) -> tuple[float, float, float]:
    """(fan-in hop: final start − last branch end, fan-out spread: last branch start − first, e2e)."""
    branches = [r for k, r in batch.runs.items() if k.startswith("p")]
    last_end = max(r.finished_at for r in branches)
    spread = max(r.started_at for r in branches) - min(r.started_at for r in branches)
    return ms(batch.runs["final"].started_at - last_end), ms(spread), ms(batch.finished_at - batch.created_at)


def throughput_single(workflow, n: int, check, worker_pid: int) -> dict[str, Any]:
    """Create `n` one-node batches with dispatch held back, then send all wake-ups at once.

    The CPU of the worker's processes, the servers and this one is read from the send to the end.
    """
    from access.actors import machine_actor
    from executions import dispatch
    from executions.lifecycle import batch_start
    from executions.models import Batch, NodeRun

    held: list[tuple[int, str]] = []
    original = dispatch.backend
    dispatch.backend = lambda runs, countdown: held.extend(runs)
    try:
        batch_ids = [batch_start(workflow=workflow, actor=machine_actor("bench")).pk for _ in range(n)]
    finally:
        dispatch.backend = original
    with CpuReading(worker_pid) as cpu:
        start = time.time()
        dispatch.send(held)
        sent = time.time()
        # The wait asks about the workflow's running batches through its index: the raw anchor's
        # wait is a Redis LLEN, and a wait that named the batches (hundreds of ids a poll) took a
        # tenth of a core from the machine Baton was measured on.
        all_succeeded(Batch.objects.filter(workflow=workflow), batch_ids, "one-node", check)
    times = list(NodeRun.objects.filter(batch_id__in=batch_ids).values_list("started_at", "finished_at"))
    last = max(f for _, f in times).timestamp()
    first = min(s for s, _ in times).timestamp()
    return {
        "n": n,
        "per_second": n / (last - start),
        "worker_per_second": n / (last - first),
        "send_seconds": sent - start,
        "cpu_ms": cpu.per_run(n),
    }


def all_succeeded(batches, ids: list[str], what: str, check) -> None:
    """Wait until none of `batches` runs (polled every 50 ms); raise unless the batches `ids` all succeeded."""
    from executions.models import Batch

    running = batches.filter(status="running")
    wait_for(lambda: not running.exists(), timeout=300, interval=0.05, what=f"{what} batches", check=check)
    if Batch.objects.filter(pk__in=ids).exclude(status="succeeded").exists():
        raise RuntimeError(f"a {what} throughput batch did not succeed")


def throughput_wide(workflow, batches: int, check, worker_pid: int) -> dict[str, Any]:
    """Start `batches` wide batches (20 parallel no-ops each) back to back; node runs per second.

    The CPU of the worker's processes, the servers and this one is read from the first start to the end.
    """
    from access.actors import machine_actor
    from executions.lifecycle import batch_start
    from executions.models import Batch, NodeRun

    with CpuReading(worker_pid) as cpu:
        start = time.time()
        ids = [batch_start(workflow=workflow, actor=machine_actor("bench")).pk for _ in range(batches)]
        created = time.time()
        all_succeeded(Batch.objects.filter(pk__in=ids), ids, "wide", check)
    times = list(NodeRun.objects.filter(batch_id__in=ids).values_list("finished_at", flat=True))
    return {
        "n": len(times),
        "per_second": len(times) / (max(times).timestamp() - start),
        "start_seconds": created - start,
        "cpu_ms": cpu.per_run(len(times)),
    }


# --- in-process profile of one hop ----------------------------------------------------------


def profile_in_process(workflow, cycles: int) -> dict[str, Any]:
    """Claim + execute + finish each node of chain batches in this process, broker held back.

    Counts and times every SQL statement of the claim and of the finish (commits timed
    apart), and measures what one PostgreSQL/SQLite connect costs: Celery's Django fixup
    closes the connection around every task, so a worker reconnects once per node run.
    """
    from django.db import connection

    from access.actors import machine_actor
    from executions import dispatch
    from executions.lifecycle import batch_blueprint, batch_start, node_run_claim, node_run_finish, task_execute

    held: list[tuple[int, str]] = []
    original = dispatch.backend
    dispatch.backend = lambda runs, countdown: held.extend(runs)
    phase = {"name": "other"}
    log: list[tuple[str, str, float]] = []
    commits: list[tuple[str, float]] = []

    def wrapper(execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            log.append((phase["name"], sql, (time.perf_counter() - t0) * 1000))

    connection.ensure_connection()
    real_commit = connection._commit

    def timed_commit():
        t0 = time.perf_counter()
        try:
            return real_commit()
        finally:
            commits.append((phase["name"], (time.perf_counter() - t0) * 1000))

    connection._commit = timed_commit
    timings: dict[str, list[float]] = {"claim": [], "execute": [], "finish": []}
    hops = 0
    try:
        with connection.execute_wrapper(wrapper):
            for _ in range(cycles):
                phase["name"] = "start"
                batch_start(workflow=workflow, actor=machine_actor("bench"))
                while held:
                    run_id, _queue = held.pop(0)
                    phase["name"] = "claim"
                    t0 = time.perf_counter()
                    run = node_run_claim(run_id)
                    t1 = time.perf_counter()
                    task = batch_blueprint(run.batch).tasks[run.node_key]
                    phase["name"] = "execute"
                    outcome = task_execute(run, task)
                    t2 = time.perf_counter()
                    phase["name"] = "finish"
                    node_run_finish(run=run, outcome=outcome, retries=task["retries"], interval=0)
                    t3 = time.perf_counter()
                    timings["claim"].append((t1 - t0) * 1000)
                    timings["execute"].append((t2 - t1) * 1000)
                    timings["finish"].append((t3 - t2) * 1000)
                    hops += 1
    finally:
        dispatch.backend = original
        connection._commit = real_commit

    def per_hop(name: str) -> dict[str, Any]:
        rows = [r for r in log if r[0] == name]
        kinds: dict[str, int] = {}
        for _, sql, _ in rows:
            verb = sql.split(None, 1)[0].upper()
            if verb == "SELECT" and "FOR UPDATE" in sql.upper():
                verb = "SELECT FOR UPDATE"
            kinds[verb] = kinds.get(verb, 0) + 1
        commit_ms = [c for p, c in commits if p == name]
        return {
            "statements_per_hop": len(rows) / hops,
            "by_kind_per_hop": {k: v / hops for k, v in sorted(kinds.items())},
            "transactions_per_hop": len(commit_ms) / hops,
            "sql_ms_per_hop": sum(r[2] for r in rows) / hops,
            "commit_ms_per_hop": sum(commit_ms) / hops,
            "wall_ms": summary(timings[name]),
        }

    # What a fresh connection costs (the worker pays it once per task, see the docstring).
    connects = []
    for _ in range(20):
        connection.close()
        t0 = time.perf_counter()
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connects.append((time.perf_counter() - t0) * 1000)
    roundtrips = []
    with connection.cursor() as cursor:
        for _ in range(50):
            t0 = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            roundtrips.append((time.perf_counter() - t0) * 1000)
    sample = [(sql[:140], round(d, 3)) for p, sql, d in log if p in ("claim", "finish")][:40]
    return {
        "hops": hops,
        "claim": per_hop("claim"),
        "execute": per_hop("execute"),
        "finish": per_hop("finish"),
        "connect_ms": summary(connects),
        "select1_ms": summary(roundtrips),
        "first_cycle_statements": sample,
    }


# --- the phase ----------------------------------------------------------------------------


def _save(document: dict[str, Any]):
    from access.actors import machine_actor
    from workflows.services import workflow_save_definition

    return workflow_save_definition(document=document, actor=machine_actor("bench")).workflow


@contextlib.contextmanager
def http_target(logdir: Path) -> Iterator[str]:
    """Start the local HTTP server the HTTP chains request; yield its URL."""
    port_file = logdir / f"http-target-{os.getpid()}.port"
    port_file.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.http_target", str(port_file)], cwd=REPO)
    try:
        wait_for(port_file.exists, timeout=30, what="the HTTP target's port")
        yield f"http://127.0.0.1:{port_file.read_text().strip()}/"
    finally:
        process.terminate()
        process.wait(timeout=10)
        port_file.unlink(missing_ok=True)


def measure_work_chain(workflow, anchors, work: str, tag: str, reps: int, warm: int, check) -> dict[str, Any]:
    """A chain of 20 nodes doing real work, interleaved with raw Celery chains doing the same."""
    from benchmarks import raw_celery as raw

    for i in range(warm):
        run_batch(workflow, check)
        for queue in anchors:
            raw.run_chain(queue, CHAIN, f"warm-{tag}-{queue}-{i}", check, work=work)
    e2e: dict[str, list[float]] = {"baton": [], **{q: [] for q in anchors}}
    hops: dict[str, list[float]] = {"baton": [], **{q: [] for q in anchors}}
    nodes: list[float] = []
    for i in range(reps):
        for queue in anchors:
            h, e = raw.run_chain(queue, CHAIN, f"{tag}-{queue}-{i}", check, work=work)
            hops[queue] += h
            e2e[queue].append(e)
        batch = run_batch(workflow, check)
        h, e = chain_figures(batch)
        hops["baton"] += h
        e2e["baton"].append(e)
        nodes += node_durations(batch)
    return {
        "chain_e2e_ms": {k: summary(v) for k, v in e2e.items()},
        "hop_ms": {k: summary(v) for k, v in hops.items()},
        "node_ms": summary(nodes),
    }


def record_stand_in(workflow) -> Callable[[], None]:
    """Return what recording a shell task's process group costs: the same UPDATE, on a run of its own.

    The run is queued and never sent (dispatch held back), so the update matches a row as the
    real one does, and no measured batch is touched.
    """
    from access.actors import machine_actor
    from executions import dispatch
    from executions.lifecycle import batch_start
    from executions.models import NodeRun

    original = dispatch.backend
    dispatch.backend = lambda runs, countdown: None
    try:
        batch = batch_start(workflow=workflow, actor=machine_actor("bench"))
    finally:
        dispatch.backend = original
    run = NodeRun.objects.filter(batch=batch, status="queued").first()
    assert run is not None, "the stand-in batch has no queued run"
    return lambda: NodeRun.objects.filter(pk=run.pk, status="queued").update(detail={"pgid": 1, "host": "bench"})


def measure_core(
    wf, anchors, pids: dict[str, int], pg: bool, tag: str, reps: int, warm: int, quick: bool, check
) -> dict[str, Any]:
    """The no-op shapes: chains (continued and through the broker), fan-out/fan-in, throughput.

    `pids` names the worker of each throughput run ("baton", and each anchor's queue): the CPU
    its processes, the servers and this process used is read over the run (`CpuReading`).
    """
    from benchmarks import raw_celery as raw

    out: dict[str, Any] = {}
    # Warm-up: imports, connections, plan caches, both prefork children.
    for i in range(warm):
        run_batch(wf["chain"], check)
        run_batch(wf["chain_broker"], check)
        run_batch(wf["fan"], check)
        for queue in anchors:
            raw.run_chain(queue, CHAIN, f"warm-{tag}-{queue}-{i}", check)
            if pg:
                raw.run_chord(queue, FAN, f"warmc-{tag}-{queue}-{i}", check)

    hops: dict[str, list[float]] = {"baton": [], "baton_broker": [], **{q: [] for q in anchors}}
    chain_e2e: dict[str, list[float]] = {
        "baton": [],
        "baton_broker": [],
        "baton_client": [],
        **{q: [] for q in anchors},
    }
    fan_e2e: dict[str, list[float]] = {"baton": [], **{q: [] for q in anchors if pg}}
    fan_in: list[float] = []
    fan_spread: list[float] = []
    for i in range(reps):
        for queue in anchors:
            h, e = raw.run_chain(queue, CHAIN, f"c-{tag}-{queue}-{i}", check)
            hops[queue] += h
            chain_e2e[queue].append(e)
        batch = run_batch(wf["chain"], check)
        h, e = chain_figures(batch)
        hops["baton"] += h
        chain_e2e["baton"].append(e)
        chain_e2e["baton_client"].append((batch.finished_at.timestamp() - batch.submitted) * 1000)
        h, e = chain_figures(run_batch(wf["chain_broker"], check))
        hops["baton_broker"] += h
        chain_e2e["baton_broker"].append(e)
        if pg:
            for queue in anchors:
                fan_e2e[queue].append(raw.run_chord(queue, FAN, f"f-{tag}-{queue}-{i}", check))
        batch = run_batch(wf["fan"], check)
        fin, spread, e = fan_figures(batch)
        fan_in.append(fin)
        fan_spread.append(spread)
        fan_e2e["baton"].append(e)

    out["hop_ms"] = {k: summary(v) for k, v in hops.items()}
    out["chain_e2e_ms"] = {k: summary(v) for k, v in chain_e2e.items()}
    out["fan_e2e_ms"] = {k: summary(v) for k, v in fan_e2e.items()}
    out["fan_in_hop_ms"] = summary(fan_in)
    out["fan_out_spread_ms"] = summary(fan_spread)

    n = (100 if quick else 400) if pg else (40 if quick else 150)
    wide = (3 if quick else 10) if pg else (2 if quick else 5)
    out["throughput"] = {
        "baton_single": throughput_single(wf["single"], n, check, pids["baton"]),
        "baton_wide": throughput_wide(wf["wide"], wide, check, pids["baton"]),
    }
    for queue in anchors:
        with CpuReading(pids[queue]) as cpu:
            per_second = raw.run_throughput(queue, n * 2, f"t-{tag}-{queue}", check)
        out["throughput"][queue] = {"n": n * 2, "per_second": per_second, "cpu_ms": cpu.per_run(n * 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["pg", "rabbitmq", "embedded"], required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", required=True)
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated: " + ", ".join(SHAPES))
    args = parser.parse_args()
    shapes = [shape for shape in args.shapes.split(",") if shape]
    terminate_as_exit()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    # `pg` here means a database and broker of servers (chord anchors, larger throughput runs).
    quick, pg = args.quick, args.mode != "embedded"
    in_process = args.mode != "rabbitmq"  # the in-process profiles use no broker: measured once, by `pg`
    reps = 5 if quick else (30 if pg else 15)
    warm = 2 if quick else 5
    logdir = Path(args.logdir)
    tag = uuid.uuid4().hex[:6]
    out: dict[str, Any] = {"mode": args.mode, "quick": quick, "reps": reps, "shapes": shapes}
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    if pg:
        raw_env = {"RAW_BROKER_URL": os.environ["RAW_BROKER_URL"], "RAW_RECORD_URL": os.environ["RAW_RECORD_URL"]}
        anchors = {"raw_late": "1", "raw_default": "0"}
    else:
        raw_env = {
            "RAW_BROKER_URL": os.environ["RAW_BROKER_URL"],
            "RAW_FS_ROOT": os.environ["RAW_FS_ROOT"],
            "RAW_RECORD_URL": os.environ["RAW_RECORD_URL"],
        }
        anchors = {"raw_fs": "1"}
    # The HTTP chains request a server on 127.0.0.1, which the SSRF guard allows only when told to.
    env["BATON_HTTP_ALLOWED_NETWORKS"] = "127.0.0.1/32"

    with contextlib.ExitStack() as stack:
        target = stack.enter_context(http_target(logdir)) if "http" in shapes else ""
        wf = {}
        if "core" in shapes:
            wf = {
                "chain": _save(chain_doc(f"bench-chain-{tag}", CHAIN)),
                "fan": _save(fan_doc(f"bench-fan-{tag}", FAN)),
                "wide": _save(wide_doc(f"bench-wide-{tag}", 20)),
                "single": _save(chain_doc(f"bench-one-{tag}", 1)),
                # The same chain on a queue whose worker has continuation off: every hop via the broker.
                "chain_broker": _save(chain_doc(f"bench-chainb-{tag}", CHAIN, BROKER_QUEUE)),
            }
            if in_process:
                out["profile"] = profile_in_process(wf["chain"], 1 if quick else 3)
        if "shell" in shapes:
            wf["shell"] = _save(chain_doc(f"bench-shell-{tag}", CHAIN, work=SHELL_TRUE))
        if "http" in shapes:
            wf["http"] = _save(chain_doc(f"bench-http-{tag}", CHAIN, work=("http", {"url": target})))
        started = stack.enter_context(workers())
        started.append(Worker("config", "default", env, logdir / f"{args.mode}-baton-worker.log", f"bench-{args.mode}"))
        pids = {"baton": started[-1].process.pid}
        if "core" in shapes:
            started.append(
                Worker(
                    "config",
                    BROKER_QUEUE,
                    {**env, "BATON_CONTINUATION_SECONDS": "0"},
                    logdir / f"{args.mode}-baton-broker-worker.log",
                    f"bench-{args.mode}-broker",
                )
            )
        for queue, late in anchors.items():
            started.append(
                Worker(
                    "benchmarks.raw_celery",
                    queue,
                    {**env, **raw_env, "RAW_ACKS_LATE": late},
                    logdir / f"{args.mode}-{queue}-worker.log",
                    f"bench-{queue}",
                )
            )
            pids[queue] = started[-1].process.pid

        def check() -> None:
            for w in started:
                if not w.alive():
                    raise RuntimeError(f"a benchmark worker died; its log ends:\n{w.tail()}")

        if "shell" in shapes:
            out["shell"] = measure_work_chain(wf["shell"], anchors, "shell", f"s-{tag}", reps, warm, check)
            if in_process:
                out["shell"]["steps"] = executor_profile.shell_steps(reps, record_stand_in(wf["shell"]))
        if "http" in shapes:
            out["http"] = measure_work_chain(wf["http"], anchors, f"http {target}", f"h-{tag}", reps, warm, check)
            if in_process:
                out["http"]["steps"] = executor_profile.http_steps(target, reps)
        if "core" in shapes:
            out |= measure_core(wf, anchors, pids, pg, tag, reps, warm, quick, check)

    out["settings"] = {
        "database": settings.DATABASES["default"]["ENGINE"],
        "conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE"),
        "broker": settings.CELERY_BROKER_URL.split("@")[-1],
        "acks_late": settings.CELERY_TASK_ACKS_LATE,
        "prefetch": settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
    }
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as exc:  # make the reason visible to the orchestrator
        print(f"benchmark phase failed: {exc!r}", file=sys.stderr)
        raise
