"""Baton's benchmark: `python -m benchmarks.run [--quick]` (what `make bench` runs).

1. PostgreSQL + Redis: drop and re-create the `baton_bench` database, migrate it, flush
   two Redis databases (12 for Baton, 13 for the raw Celery anchor and the timing records),
   then run `benchmarks.baton_phase --mode pg` in a subprocess with that environment.
2. PostgreSQL + RabbitMQ: the same database re-created, Baton's workers on the virtual host
   `baton-bench` and the raw Celery anchor on `baton-bench-raw` (their queues deleted first;
   the anchor's timing records stay in Redis database 13), `benchmarks.baton_phase --mode rabbitmq`.
3. The embedded default: a fresh temporary BATON_VAR_DIR (SQLite + the `batonfs://`
   broker), migrate, run `benchmarks.baton_phase --mode embedded`.
4. Write `docs/benchmarks.md` with the machine, the figures and how to read them.

Every worker is started by the phase process and stopped in its `finally`; this process
stops a phase that overruns (SIGTERM, which the phase turns into a clean exit).

Environment: BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
BENCH_REDIS (default redis://127.0.0.1:6379), BENCH_DB (default baton_bench),
BENCH_REDIS_DBS (default 12,13: Baton's Redis database, then the anchor's),
BENCH_SHAPES (default core,shell,http; the same as `--shapes`: which rows to measure),
BENCH_AMQP (default amqp://guest:guest@127.0.0.1:5672), BENCH_AMQP_VHOSTS (default
baton-bench,baton-bench-raw: Baton's virtual host, then the anchor's; both must exist: `make bench`
makes them on a local RabbitMQ for the user guest, else `rabbitmqctl add_vhost baton-bench` and
`rabbitmqctl set_permissions -p baton-bench USER ".*" ".*" ".*"`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.baton_phase import BROKER_QUEUE
from benchmarks.common import PYTHON, REPO

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379").rstrip("/")
DB_NAME = os.environ.get("BENCH_DB", "baton_bench")
BATON_REDIS_DB, RAW_REDIS_DB = (int(db) for db in os.environ.get("BENCH_REDIS_DBS", "12,13").split(","))
SHAPES = os.environ.get("BENCH_SHAPES", "core,shell,http")
AMQP = os.environ.get("BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672").rstrip("/")
BATON_VHOST, RAW_VHOST = os.environ.get("BENCH_AMQP_VHOSTS", "baton-bench,baton-bench-raw").split(",")
# Every queue a phase's processes send to: Baton's (the broker-only chain's, the alerts' that
# nobody consumes here, the control queue) and the anchors'. Deleted before the phase.
AMQP_QUEUES = ("default", BROKER_QUEUE, "baton-alerts", "baton-control", "raw_late", "raw_default")
DOC = REPO / "docs" / "benchmarks.md"
TARGET_HOP_RATIO = 1.5
TARGET_WORK_RATIO = 1.5  # a chain of 20 shell (or HTTP) nodes against raw Celery doing the same work
TARGET_OVERHEAD_MS = 150.0
# Issue 17's targets for the broker path and throughput (parts 3 and 4), against the same run's raw anchor.
TARGET_BROKER_HOP_RATIO = 1.25
TARGET_SINGLE_THROUGHPUT = 0.6  # one-node batches vs raw independent no-ops
TARGET_WIDE_THROUGHPUT = 0.8  # wide batches' runs vs raw independent no-ops
MACHINE_KEYS = (
    "date",
    "uname",
    "cpu",
    "cores",
    "load",
    "python",
    "postgresql",
    "redis",
    "rabbitmq",
    "stack",
    "commit",
    "note",
)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "BATON_VAR_DIR")}
    # Production settings: with DEBUG on, Django's debug cursor logs every statement of every node run.
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": "benchmark-only-secret-key",
        }
    )
    return env


def _recreate_pg_database() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"


def _flush_redis() -> None:
    import redis

    for db in (BATON_REDIS_DB, RAW_REDIS_DB):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()


def _reset_amqp() -> None:
    """Delete the benchmark's queues in both virtual hosts; fail clearly if one cannot be opened."""
    import kombu

    for vhost in (BATON_VHOST, RAW_VHOST):
        with kombu.Connection(f"{AMQP}/{vhost}", connect_timeout=5) as conn:
            try:
                conn.connect()
            except Exception as exc:
                raise SystemExit(
                    f"cannot open RabbitMQ virtual host {vhost!r} at {AMQP.split('@')[-1]} ({exc!r}); create it with "
                    f"`rabbitmqctl add_vhost {vhost}` and `rabbitmqctl set_permissions -p {vhost} USER "
                    '".*" ".*" ".*"`, or set BENCH_AMQP / BENCH_AMQP_VHOSTS'
                ) from exc
            channel = conn.channel()
            for queue in AMQP_QUEUES:
                channel.queue_delete(queue)  # a queue that does not exist is no error


def _migrate(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True, timeout=300)


def _run_phase(mode: str, env: dict[str, str], quick: bool, logdir: Path, shapes: str) -> dict[str, Any]:
    out = logdir / f"{mode}.json"
    command = [PYTHON, "-m", "benchmarks.baton_phase", "--mode", mode, "--out", str(out), "--logdir", str(logdir)]
    command += ["--shapes", shapes]
    if quick:
        command.append("--quick")
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        code = process.wait(timeout=240 if quick else 900)
    except BaseException:
        process.terminate()  # the phase's finally stops its workers
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    if code != 0:
        raise RuntimeError(f"benchmark phase {mode} exited with {code}; worker logs are in {logdir}")
    return json.loads(out.read_text())


def _machine(pg_url: str | None, amqp: bool) -> dict[str, str]:
    info = {
        "uname": " ".join(platform.uname()),
        "cpu": "unknown",
        "cores": str(os.cpu_count()),
        "python": sys.version.split()[0],
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(Exception):
        info["uname"] = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True).stdout.strip()
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(pg_url or ADMIN_URL) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    with contextlib.suppress(Exception):
        import redis

        info["redis"] = redis.Redis.from_url(f"{REDIS}/0").info("server")["redis_version"]
    if amqp:
        with contextlib.suppress(Exception):
            import kombu

            with kombu.Connection(f"{AMQP}/{BATON_VHOST}", connect_timeout=5) as conn:
                conn.connect()
                version = conn.connection.server_properties.get("version", "unknown")
                info["rabbitmq"] = version.decode() if isinstance(version, bytes) else str(version)
    with contextlib.suppress(Exception):
        import celery
        import django
        import kombu

        info["stack"] = f"Django {django.get_version()}, Celery {celery.__version__}, kombu {kombu.__version__}"
    with contextlib.suppress(Exception):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    return info


# --- report -------------------------------------------------------------------------------


def _f(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _signed(value: float) -> str:
    return f"{value:+.1f}"


def _mp(s: dict[str, float]) -> str:
    return f"{_f(s['median'])} / {_f(s['p95'])}"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def render(results: dict[str, Any], machine: dict[str, str], quick: bool, seconds: float) -> str:
    lines: list[str] = []
    add = lines.append
    add("# Benchmarks")
    add("")
    add(
        "Written by `make bench` (`python -m benchmarks.run"
        + (" --quick" if quick else "")
        + "`); do not edit by hand."
    )
    if quick:
        add("**This is a `--quick` smoke run: few repetitions, figures are indicative only.**")
    add("")
    add("## Machine")
    add("")
    for key in MACHINE_KEYS:
        if key in machine:
            add(f"- {key}: {machine[key]}")
    add(f"- benchmark wall time: {seconds:.0f} s")
    add("")
    pg = results.get("pg")
    if pg:
        add("## PostgreSQL + Redis, one worker with 2 prefork processes")
        add("")
        add(
            f"{pg['reps']} repetitions of each shape after warm-up, interleaved with the raw Celery anchor "
            "on the same Redis server, so both see the same machine noise. Milliseconds, median / p95."
        )
        add("")
        if "hop_ms" in pg:
            lines += _core_pg_lines(pg)
        lines += _work_lines(pg, "raw_late", "raw Celery, acks_late + prefetch 1")
        lines += _steps_lines(pg)
    rmq = results.get("rabbitmq")
    if rmq:
        add("## PostgreSQL + RabbitMQ, one worker with 2 prefork processes")
        add("")
        add(
            f"{rmq['reps']} repetitions of each shape after warm-up, interleaved with the raw Celery anchor "
            "on the same RabbitMQ server (a virtual host of its own), so both see the same machine noise; the "
            "same database server, workers and shapes as the Redis phase, only the broker differs. The "
            "in-process profiles (where a hop or an executor's time goes) use no broker and are those of the "
            "Redis phase. The anchor's tasks write their timings, and its chord its results, to Redis, as in "
            "the Redis phase. Milliseconds, median / p95."
        )
        add("")
        if "hop_ms" in rmq:
            lines += _core_pg_lines(rmq)
        lines += _work_lines(rmq, "raw_late", "raw Celery on RabbitMQ, acks_late + prefetch 1")
    if pg and rmq:
        lines += _broker_lines(pg, rmq)
    emb = results.get("embedded")
    if emb:
        add("## Embedded default: SQLite + the `batonfs://` filesystem broker")
        add("")
        add(
            f"{emb['reps']} repetitions. The anchor is a raw Celery chain on the same filesystem broker "
            "(acks_late + prefetch 1); there is no chord anchor (no result backend without a server)."
        )
        add("")
        if "hop_ms" in emb:
            lines += _core_embedded_lines(emb)
        lines += _work_lines(emb, "raw_fs", "raw Celery on batonfs")
        lines += _steps_lines(emb)
    add("## How to read this")
    add("")
    add(
        "- A **hop** is the successor node run's `started_at` minus its predecessor's `finished_at`, both "
        "taken by the worker with the wall clock: it covers the finish transaction (lock the batch, record "
        "the result, decide and queue the successor, commit) and the start of the claim. With the default "
        "continuation (docs/architecture.md) the worker that queued a chain's successor claims it itself "
        "right after the commit; the rows marked *through the broker* run the same chain on a worker with "
        "continuation off, so that span also holds the publish, the delivery and the wake-up of a worker "
        "process. The raw Celery hop is one `chain` task's last `time.time()` to the next task's first: "
        "a broker round trip with no bookkeeping. The fan-out/fan-in shape sends 17 of its 18 branches "
        "through the broker either way."
    )
    add(
        "- **End to end** is `Batch.finished_at − Batch.created_at` for Baton, and submit → the last "
        "task's end for raw Celery; **overhead** is the difference of the medians. Node bodies are no-ops, "
        "so this is pure orchestration cost."
    )
    add(
        "- **Throughput** sends every wake-up at once (batches pre-created, dispatch held back) and "
        "divides the node runs by the time to the last finish; raw Celery sends twice as many no-ops."
    )
    add(
        "- **Chains doing work** (shell, HTTP) compare whole chains, so their ratio holds the executor's own "
        "cost and the orchestration around each node. The executor's steps are in the tables *Where a shell "
        "or HTTP node's own time goes*: each cost issue 17 removed is a row, timed the old way and the new; "
        "a shell or HTTP executor now costs about what the raw task's own call does. What remains is the "
        "per-node claim and finish (two database commits), which grows faster than raw Celery's broker round "
        "trip when the machine is loaded, so these ratios move more from run to run than the no-op rows."
    )
    add(
        "- Absolute figures depend on the machine; compare ratios against the anchor of the same run only. "
        "p95 on a 2-core machine shared by worker, broker and database is noisy; medians are the figures "
        "of record."
    )
    add("")
    return "\n".join(lines)


def _core_pg_lines(pg: dict[str, Any]) -> list[str]:
    """Return the no-op rows of the PostgreSQL phase and its hop profile."""
    lines: list[str] = []
    add = lines.append
    h, c, f, t = pg["hop_ms"], pg["chain_e2e_ms"], pg["fan_e2e_ms"], pg["throughput"]
    ratio_med = h["baton"]["median"] / h["raw_late"]["median"]
    ratio_p95 = h["baton"]["p95"] / h["raw_late"]["p95"]
    chain_over = c["baton"]["median"] - c["raw_late"]["median"]
    fan_over = f["baton"]["median"] - f["raw_late"]["median"]
    add("| figure | Baton | raw Celery, acks_late + prefetch 1 | Baton vs raw | raw Celery, defaults | target |")
    add("|---|---|---|---|---|---|")
    add(
        f"| node hop (finish → successor start), 20-node chain | {_mp(h['baton'])} | {_mp(h['raw_late'])} "
        f"| ×{_f(ratio_med, 2)} median, ×{_f(ratio_p95, 2)} p95 | {_mp(h['raw_default'])} "
        f"| ≤ ×{TARGET_HOP_RATIO}: {_verdict(ratio_med <= TARGET_HOP_RATIO)} |"
    )
    add(
        f"| chain of 20 no-ops, end to end | {_mp(c['baton'])} | {_mp(c['raw_late'])} "
        f"| {_signed(chain_over)} ms median | {_mp(c['raw_default'])} "
        f"| ≤ +{TARGET_OVERHEAD_MS:g} ms: {_verdict(chain_over <= TARGET_OVERHEAD_MS)} |"
    )
    if "baton_broker" in h:
        hb, cb = h["baton_broker"], c["baton_broker"]
        add(
            f"| node hop, every hop through the broker (`BATON_CONTINUATION_SECONDS=0`) | {_mp(hb)} "
            f"| {_mp(h['raw_late'])} | ×{_f(hb['median'] / h['raw_late']['median'], 2)} median | – "
            f"| ≤ ×{TARGET_BROKER_HOP_RATIO}: "
            f"{_verdict(hb['median'] / h['raw_late']['median'] <= TARGET_BROKER_HOP_RATIO)} |"
        )
        add(
            f"| chain of 20, every hop through the broker, end to end | {_mp(cb)} | {_mp(c['raw_late'])} "
            f"| {_signed(cb['median'] - c['raw_late']['median'])} ms median | – "
            f"| ≤ +{TARGET_OVERHEAD_MS:g} ms: {_verdict(cb['median'] - c['raw_late']['median'] <= TARGET_OVERHEAD_MS)} |"
        )
    add(
        f"| fan-out/fan-in (18 parallel → AND → 1) vs chord of 18 + callback, end to end | {_mp(f['baton'])} "
        f"| {_mp(f['raw_late'])} | {_signed(fan_over)} ms median | {_mp(f['raw_default'])} "
        f"| ≤ +{TARGET_OVERHEAD_MS:g} ms: {_verdict(fan_over <= TARGET_OVERHEAD_MS)} |"
    )
    single = t["baton_single"]["per_second"] / t["raw_late"]["per_second"]
    wide = t["baton_wide"]["per_second"] / t["raw_late"]["per_second"]
    add(
        f"| throughput, independent no-ops, runs/s | {_f(t['baton_single']['per_second'], 0)} "
        f"({t['baton_single']['n']} one-node batches) | {_f(t['raw_late']['per_second'], 0)} "
        f"| ×{_f(single, 2)} | {_f(t['raw_default']['per_second'], 0)} "
        f"| ≥ ×{TARGET_SINGLE_THROUGHPUT}: {_verdict(single >= TARGET_SINGLE_THROUGHPUT)} |"
    )
    add(
        f"| throughput, wide batches (20 parallel no-ops each) vs raw independent no-ops, runs/s "
        f"| {_f(t['baton_wide']['per_second'], 0)} ({t['baton_wide']['n']} runs) "
        f"| {_f(t['raw_late']['per_second'], 0)} | ×{_f(wide, 2)} | – "
        f"| ≥ ×{TARGET_WIDE_THROUGHPUT}: {_verdict(wide >= TARGET_WIDE_THROUGHPUT)} |"
    )
    add("")
    add(f"- Chain end to end seen by the caller (before `batch_start` → last finish): {_mp(c['baton_client'])} ms.")
    add(
        f"- Fan-in hop (last branch's finish → the final node's start): {_mp(pg['fan_in_hop_ms'])} ms; "
        f"fan-out spread (first → last of the 18 branch starts): {_mp(pg['fan_out_spread_ms'])} ms."
    )
    add("")
    lines += _cpu_lines(t, "raw_late")
    if "profile" in pg:
        lines += _profile_lines(pg["profile"], "PostgreSQL")
    return lines


CPU_ROWS = {
    "consumer": "the worker's main process (Celery's consumer)",
    "pool": "the worker's 2 pool processes (the tasks)",
    "postgres": "PostgreSQL, every backend",
    "redis": "Redis",
    "rabbitmq": "RabbitMQ",
    "bench": "the benchmark (sends the wake-ups, waits for the end)",
}


def _cpu_lines(t: dict[str, Any], anchor: str) -> list[str]:
    """Return the table of CPU milliseconds a node run in the throughput runs, by process (when read)."""
    runs = [("baton_single", "Baton, one-node batches"), ("baton_wide", "Baton, wide batches"), (anchor, "raw Celery")]
    if not all(t.get(key, {}).get("cpu_ms") for key, _ in runs):
        return []
    cpu = {key: t[key]["cpu_ms"] for key, _ in runs}
    lines = [
        "### Where the CPU of the throughput runs goes",
        "",
        "CPU milliseconds a node run (user + system, read from `/proc` before and after each run), by process. "
        "The machine's 2 cores give 2 000 ms of CPU a second: while they are busy, runs per second are about "
        "2 000 ÷ the total.",
        "",
        "| process | " + " | ".join(title for _, title in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for group, title in CPU_ROWS.items():
        if any(cpu[key].get(group, 0) >= 0.005 for key, _ in runs):
            lines.append(f"| {title} | " + " | ".join(_f(cpu[key].get(group, 0), 2) for key, _ in runs) + " |")
    lines.append("| all | " + " | ".join(_f(sum(cpu[key].values()), 2) for key, _ in runs) + " |")
    lines.append("")
    return lines


def _core_embedded_lines(emb: dict[str, Any]) -> list[str]:
    """Return the no-op rows of the embedded phase and its hop profile."""
    lines: list[str] = []
    add = lines.append
    h, c, f, t = emb["hop_ms"], emb["chain_e2e_ms"], emb["fan_e2e_ms"], emb["throughput"]
    add("| figure | Baton | raw Celery on batonfs | Baton vs raw |")
    add("|---|---|---|---|")
    add(
        f"| node hop, 20-node chain | {_mp(h['baton'])} | {_mp(h['raw_fs'])} "
        f"| ×{_f(h['baton']['median'] / h['raw_fs']['median'], 2)} median |"
    )
    add(
        f"| chain of 20 no-ops, end to end | {_mp(c['baton'])} | {_mp(c['raw_fs'])} "
        f"| {_signed(c['baton']['median'] - c['raw_fs']['median'])} ms median |"
    )
    if "baton_broker" in h:
        hb, cb = h["baton_broker"], c["baton_broker"]
        add(
            f"| node hop, every hop through the broker | {_mp(hb)} | {_mp(h['raw_fs'])} "
            f"| ×{_f(hb['median'] / h['raw_fs']['median'], 2)} median |"
        )
        add(
            f"| chain of 20, every hop through the broker, end to end | {_mp(cb)} | {_mp(c['raw_fs'])} "
            f"| {_signed(cb['median'] - c['raw_fs']['median'])} ms median |"
        )
    add(f"| fan-out/fan-in (18 → AND → 1), end to end | {_mp(f['baton'])} | – | – |")
    add(
        f"| throughput, independent no-ops, runs/s | {_f(t['baton_single']['per_second'], 0)} "
        f"({t['baton_single']['n']} one-node batches) | {_f(t['raw_fs']['per_second'], 0)} "
        f"| ×{_f(t['baton_single']['per_second'] / t['raw_fs']['per_second'], 2)} |"
    )
    add(f"| throughput, wide batches (20 parallel), runs/s | {_f(t['baton_wide']['per_second'], 0)} | – | – |")
    add("")
    lines += _cpu_lines(t, "raw_fs")
    lines += _profile_lines(emb["profile"], "SQLite")
    return lines


def _broker_lines(redis: dict[str, Any], rabbit: dict[str, Any]) -> list[str]:
    """Return the main figures of the two server phases side by side, each against its own raw anchor."""
    rows: list[tuple[str, Callable[[dict[str, Any]], tuple[float, float]]]] = []
    if "hop_ms" in redis and "hop_ms" in rabbit:
        rows += [
            ("node hop, 20-node chain, ms", lambda p: _medians(p["hop_ms"])),
            ("node hop, every hop through the broker, ms", lambda p: _medians(p["hop_ms"], "baton_broker")),
            ("chain of 20 no-ops, end to end, ms", lambda p: _medians(p["chain_e2e_ms"])),
            ("fan-out/fan-in (18 → AND → 1) vs chord of 18 + callback, ms", lambda p: _medians(p["fan_e2e_ms"])),
        ]
    for key, label in WORK_FIGURES:
        if key in redis and key in rabbit:
            rows.append((f"{label}, end to end, ms", lambda p, key=key: _medians(p[key]["chain_e2e_ms"])))
    if "throughput" in redis and "throughput" in rabbit:
        rows += [
            ("throughput, independent no-ops, runs/s", lambda p: _throughput(p, "baton_single")),
            (
                "throughput, wide batches (20 parallel) vs raw independent no-ops, runs/s",
                lambda p: _throughput(p, "baton_wide"),
            ),
        ]
    if not rows:
        return []
    lines = [
        "## Redis and RabbitMQ side by side",
        "",
        "The main figures of the two phases above, medians. Each broker's Baton figure is set against the raw "
        "Celery anchor (acks_late + prefetch 1) measured on that same broker in the same phase: the ratio is "
        "what Baton adds on that broker; the Baton columns side by side compare the brokers themselves. For "
        "times a ratio above 1 is slower than raw Celery; for throughput, below 1 is fewer runs per second. "
        "The phases run one after the other: on a machine whose load changes meanwhile, the two raw columns "
        "show by how much, and only the ratios compare.",
        "",
        "| figure | Baton on Redis | raw Celery on Redis | Baton vs raw | Baton on RabbitMQ | raw Celery on RabbitMQ "
        "| Baton vs raw |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, pick in rows:
        cells = []
        for phase in (redis, rabbit):
            baton, raw = pick(phase)
            digits = 0 if "runs/s" in label else 1
            cells.append(f"{_f(baton, digits)} | {_f(raw, digits)} | ×{_f(baton / raw, 2)}")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    lines.append("")
    return lines


def _medians(figure: dict[str, Any], baton: str = "baton") -> tuple[float, float]:
    return figure[baton]["median"], figure["raw_late"]["median"]


def _throughput(phase: dict[str, Any], baton: str) -> tuple[float, float]:
    return phase["throughput"][baton]["per_second"], phase["throughput"]["raw_late"]["per_second"]


WORK_FIGURES = (
    ("shell", "chain of 20 shell nodes running `true`"),
    ("http", "chain of 20 HTTP nodes, GET to a local server"),
)


def _work_lines(phase: dict[str, Any], anchor: str, anchor_name: str) -> list[str]:
    """Return the table of chains doing real work (shell, HTTP) against raw Celery doing the same."""
    present = [(key, label) for key, label in WORK_FIGURES if key in phase]
    if not present:
        return []
    lines = [
        f"### Chains doing work: Baton against {anchor_name} doing the same work",
        "",
        "| figure | Baton | raw Celery | Baton vs raw | node span, Baton | hop, Baton / raw | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in present:
        e2e, hop = phase[key]["chain_e2e_ms"], phase[key]["hop_ms"]
        ratio = e2e["baton"]["median"] / e2e[anchor]["median"]
        lines.append(
            f"| {label}, end to end | {_mp(e2e['baton'])} | {_mp(e2e[anchor])} | ×{_f(ratio, 2)} median "
            f"| {_mp(phase[key]['node_ms'])} | {_f(hop['baton']['median'])} / {_f(hop[anchor]['median'])} "
            f"| ≤ ×{TARGET_WORK_RATIO}: {_verdict(ratio <= TARGET_WORK_RATIO)} |"
        )
    lines += [
        "",
        '- The raw Celery link runs `subprocess.run(["/bin/sh", "-c", "true"])`, or one `GET` with '
        "an `httpx.Client` kept per worker process; Baton runs a `shell` task with the script `true`, or an "
        "`http` task to the same URL (127.0.0.1, allowed through `BATON_HTTP_ALLOWED_NETWORKS`). The "
        "*node span* is a Baton node run's `finished_at − started_at`: what the executor costs around the work.",
        "",
    ]
    return lines


STEP_NOTES = {
    "start": "`fork()` of the whole worker, forced by the `preexec_fn` that set the parent-death signal → "
    "`vfork()`, and the child's group handed to the worker process's guardian (a `/bin/sh` started once, "
    "which kills the listed groups when the worker's end of its pipe closes); `preexec_fn` stays the "
    "fallback if no guardian can be started",
    "wait for a 10 ms command": "`Popen.wait(timeout)` sleeps 1, 2, 4… ms between polls → a `pidfd` polled with the check "
    "interval as timeout: woken at the exit, and still every interval for the heartbeat and the cancel check",
    "leftovers": "a scan of every `/proc/*/stat` → one `killpg(pgid, 0)`; the scan only when something of "
    "the group is left (to tell zombies apart)",
    "record": "the process group written to the node run (the sweep's means to kill it if the worker dies) "
    "→ written only for a command still running after 10 ms, or before its leftovers are stopped",
    "temporary file": "kept: output of any size goes to disk, not memory, and a grandchild holding it open "
    "cannot hang the worker",
    "run_shell, whole": "the shell executor now, start to outcome",
    "subprocess.run (the raw anchor's call)": "what the raw Celery task does",
    "client with its TLS context": "a new `httpx.Client` per task loaded the CA bundle every time → one "
    "kept client per (scheme, host name, `verify_tls`) and one TLS context per `verify_tls`, built once",
    "request": "a new TCP connection per task → the kept client's connection to the checked address",
    "run_http, whole": "the HTTP executor now, with its SSRF checks and its request thread",
}


def _steps_lines(phase: dict[str, Any]) -> list[str]:
    """Return the table of each executor step's cost before issue 17 and now."""
    rows = [(key, phase[key]["steps"]) for key in ("shell", "http") if "steps" in phase.get(key, {})]
    if not rows:
        return []
    lines = [
        "### Where a shell or HTTP node's own time goes (in-process, Django loaded as in a worker)",
        "",
        "Each step timed alone, median milliseconds: *before* is the mechanism the executor used until "
        "issue 17 (kept as a fallback or re-created for the measurement), *now* the one it uses.",
        "",
        "| kind | step | before | now | what changed |",
        "|---|---|---|---|---|",
    ]
    for kind, steps in rows:
        for step, values in steps.items():
            lines.append(
                f"| {kind} | {step} | {_f(values['before'], 2) if values['before'] is not None else '–'} "
                f"| {_f(values['now'], 2)} | {STEP_NOTES.get(step, '')} |"
            )
    lines.append("")
    return lines


def _profile_lines(profile: dict[str, Any], db: str) -> list[str]:
    lines = [f"### Where a hop goes ({db}, in-process, {profile['hops']} claim + finish cycles)", ""]
    lines.append("| step | SQL statements | statements by kind | transactions | SQL time | commit time | wall time |")
    lines.append("|---|---|---|---|---|---|---|")
    for step in ("claim", "execute", "finish"):
        s = profile[step]
        kinds = ", ".join(f"{k} {v:g}" for k, v in s["by_kind_per_hop"].items()) or "–"
        lines.append(
            f"| {step} | {s['statements_per_hop']:g} | {kinds} | {s['transactions_per_hop']:g} "
            f"| {_f(s['sql_ms_per_hop'], 2)} ms | {_f(s['commit_ms_per_hop'], 2)} ms "
            f"| {_f(s['wall_ms']['median'], 2)} ms median |"
        )
    lines.append("")
    lines.append(
        f"- A new {db} connection plus one query: {_f(profile['connect_ms']['median'], 2)} ms median; "
        f"one `SELECT 1` round trip on an open connection: {_f(profile['select1_ms']['median'], 3)} ms."
    )
    lines.append(
        "- Each transaction also costs a `BEGIN` (sent by the driver with the first statement) and a "
        "`COMMIT` round trip, not counted as statements above."
    )
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run (< 2 min)")
    parser.add_argument("--only", choices=["pg", "rabbitmq", "embedded"], help="run one phase only")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--shapes", default=SHAPES, help="comma-separated rows to measure: core, shell, http")
    parser.add_argument("--note", default="", help="a line for the Machine section (e.g. that the machine was shared)")
    args = parser.parse_args()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    logdir = REPO / "var" / "bench"
    logdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    pg_url = None
    if args.only in (None, "pg"):
        _log(f"PostgreSQL + Redis: re-creating database {DB_NAME}, flushing Redis DBs {BATON_REDIS_DB}/{RAW_REDIS_DB}")
        pg_url = _recreate_pg_database()
        _flush_redis()
        env = _base_env() | {
            "DATABASE_URL": pg_url,
            "CELERY_BROKER_URL": f"{REDIS}/{BATON_REDIS_DB}",
            "RAW_BROKER_URL": f"{REDIS}/{RAW_REDIS_DB}",
            "RAW_RECORD_URL": f"{REDIS}/{RAW_REDIS_DB}",
            "BATON_VAR_DIR": str(logdir / "pg-var"),
        }
        _migrate(env)
        _log("PostgreSQL + Redis: measuring")
        results["pg"] = _run_phase("pg", env, args.quick, logdir, args.shapes)
    if args.only in (None, "rabbitmq"):
        _log(
            f"PostgreSQL + RabbitMQ: re-creating database {DB_NAME}, "
            f"deleting the queues of virtual hosts {BATON_VHOST}/{RAW_VHOST}"
        )
        pg_url = _recreate_pg_database()
        _reset_amqp()
        _flush_redis()
        env = _base_env() | {
            "DATABASE_URL": pg_url,
            "CELERY_BROKER_URL": f"{AMQP}/{BATON_VHOST}",
            "RAW_BROKER_URL": f"{AMQP}/{RAW_VHOST}",
            "RAW_RECORD_URL": f"{REDIS}/{RAW_REDIS_DB}",
            "BATON_VAR_DIR": str(logdir / "rabbitmq-var"),
        }
        _migrate(env)
        _log("PostgreSQL + RabbitMQ: measuring")
        results["rabbitmq"] = _run_phase("rabbitmq", env, args.quick, logdir, args.shapes)
    if args.only in (None, "embedded"):
        var = Path(tempfile.mkdtemp(prefix="baton-bench-"))
        try:
            _flush_redis()
            env = _base_env() | {
                "BATON_VAR_DIR": str(var),
                "RAW_BROKER_URL": "batonfs://",
                "RAW_FS_ROOT": str(var / "rawfs"),
                "RAW_RECORD_URL": f"{REDIS}/{RAW_REDIS_DB}",
            }
            _log(f"embedded default (SQLite + batonfs) in {var}: migrating")
            _migrate(env)
            _log("embedded default: measuring")
            results["embedded"] = _run_phase("embedded", env, args.quick, logdir, args.shapes)
        finally:
            shutil.rmtree(var, ignore_errors=True)
    seconds = time.monotonic() - started
    (logdir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    machine = _machine(pg_url, "rabbitmq" in results)
    machine["load"] = f"1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    if args.note:
        machine["note"] = args.note
    text = render(results, machine, args.quick, seconds)
    if not args.no_doc:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text)
        _log(f"wrote {DOC.relative_to(REPO)}")
    print(text)
    _log(f"done in {seconds:.0f} s; raw figures in {(logdir / 'results.json').relative_to(REPO)}")


if __name__ == "__main__":
    main()
