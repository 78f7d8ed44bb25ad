"""The anchor: a minimal standalone Celery app of no-op tasks, no Django, no database.

A worker is started with `celery -A benchmarks.raw_celery worker -Q <queue> -c 2`; its
configuration comes from the environment so two workers of the same app can be compared:

- ``RAW_BROKER_URL`` (default ``redis://127.0.0.1:6379/13``; ``amqp://…`` and ``batonfs://``
  too), ``RAW_RESULT_BACKEND`` (for chords; the Redis DB of ``RAW_RECORD_URL`` by default, whatever
  the broker), ``RAW_RECORD_URL`` (the Redis DB where tasks write timings).
- ``RAW_ACKS_LATE=1``: ``acks_late`` + ``reject_on_worker_lost`` + prefetch multiplier 1,
  like Baton's configuration; ``0``: Celery's defaults (early ack, prefetch 4).

A chain link does some work between its two timings: nothing (``""``), the shell node's
command (``"shell"``: ``subprocess.run(["/bin/sh", "-c", "true"])``), or the HTTP node's
request (``"http <url>"``: a GET with httpx through one client per worker process, which keeps
its connection open from one task to the next, as any long-lived Celery app would).

Timings are taken with ``time.time()`` inside the task, as Baton's ``started_at`` and
``finished_at`` are. A chain task receives the previous task's end time as its first
argument (the chain passes the return value on), so the hop is measured without any extra
round trip between one task's end and the next task's start.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import redis
from celery import Celery, chain, chord

BROKER = os.environ.get("RAW_BROKER_URL", "redis://127.0.0.1:6379/13")
RECORD = os.environ.get("RAW_RECORD_URL", "redis://127.0.0.1:6379/13")
ACKS_LATE = os.environ.get("RAW_ACKS_LATE", "1") == "1"

if BROKER.startswith("batonfs://"):
    from config import broker as _broker

    _broker.register()

app = Celery("raw", broker=BROKER, backend=os.environ.get("RAW_RESULT_BACKEND", RECORD), set_as_current=False)
app.conf.update(
    # Read and write URLs of their own: Celery prefers a CELERY_BROKER_URL in the environment (Baton's
    # broker, set for the benchmark process and inherited by the workers) to the app's `broker`.
    broker_read_url=BROKER,
    broker_write_url=BROKER,
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,
    task_acks_late=ACKS_LATE,
    task_reject_on_worker_lost=ACKS_LATE,
    worker_prefetch_multiplier=1 if ACKS_LATE else 4,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    result_expires=600,
)
if BROKER.startswith("batonfs://"):
    from pathlib import Path

    app.conf.broker_transport_options = _broker.transport_options(Path(os.environ["RAW_FS_ROOT"]))
    app.conf.worker_enable_remote_control = False
elif BROKER.startswith("redis://"):
    app.conf.broker_transport_options = {"visibility_timeout": 3600, "health_check_interval": 10}

_client: redis.Redis | None = None
_http: Any = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:  # per process, after the prefork fork
        _client = redis.Redis.from_url(RECORD)
    return _client


def _work(work: str) -> None:
    """Do a chain link's work: nothing, `sh -c true`, or one HTTP GET."""
    global _http
    if work == "shell":
        subprocess.run(["/bin/sh", "-c", "true"], check=True)
    elif work.startswith("http "):
        if _http is None:  # per process, after the prefork fork
            import httpx

            _http = httpx.Client(trust_env=False, follow_redirects=False)
        _http.get(work.split(" ", 1)[1]).raise_for_status()


@app.task(name="raw.hop", ignore_result=True)
def hop(prev: float | None, key: str, last: bool, work: str = "") -> float:
    """One link of a chain: record the hop from the previous end, do the work, return this end."""
    start = time.time()
    if prev is not None:
        _redis().rpush(f"{key}:hops", repr(start - prev))
    _work(work)
    if last:
        _redis().rpush(f"{key}:end", repr(time.time()))
    return time.time()


@app.task(name="raw.member", ignore_result=False)
def member() -> None:
    """A chord header task: nothing; its (empty) result is stored for the chord counter."""


@app.task(name="raw.callback", ignore_result=True)
def callback(results: list, key: str) -> None:
    """The chord body: record the end time."""
    _redis().rpush(f"{key}:end", repr(time.time()))


@app.task(name="raw.count", ignore_result=True)
def count(key: str) -> None:
    """A throughput task: record the end time."""
    _redis().rpush(f"{key}:end", repr(time.time()))


# --- client side (the benchmark process) --------------------------------------------------


def _wait_list(client: redis.Redis, key: str, length: int, timeout: float, check=None) -> list[float]:
    deadline = time.monotonic() + timeout
    while client.llen(key) < length:
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"raw Celery: {key} has {client.llen(key)} of {length} entries after {timeout:g}s")
        time.sleep(0.002)
    return [float(v) for v in client.lrange(key, 0, -1)]


def run_chain(queue: str, length: int, key: str, check=None, work: str = "") -> tuple[list[float], float]:
    """Run a chain of `length` links doing `work` (see `_work`); return (hops in ms, end-to-end ms)."""
    client = _redis()
    links = [hop.s(None, key, length == 1, work).set(queue=queue)]
    links += [hop.s(key, i == length - 1, work).set(queue=queue) for i in range(1, length)]
    submitted = time.time()
    chain(*links).apply_async()
    end = _wait_list(client, f"{key}:end", 1, 60, check)[0]
    hops = _wait_list(client, f"{key}:hops", length - 1, 10, check)
    client.delete(f"{key}:end", f"{key}:hops")
    return [h * 1000 for h in hops], (end - submitted) * 1000


def run_chord(queue: str, width: int, key: str, check=None) -> float:
    """Run a chord of `width` no-ops and a callback; return end-to-end ms."""
    client = _redis()
    submitted = time.time()
    result = chord([member.s().set(queue=queue) for _ in range(width)])(callback.s(key).set(queue=queue))
    del result  # no result subscription left for interpreter shutdown
    end = _wait_list(client, f"{key}:end", 1, 60, check)[0]
    client.delete(f"{key}:end")
    return (end - submitted) * 1000


def run_throughput(queue: str, n: int, key: str, check=None) -> float:
    """Send `n` independent no-ops at once; return tasks per second until the last one ended."""
    client = _redis()
    start = time.time()
    for _ in range(n):
        count.apply_async((key,), queue=queue)
    ends = _wait_list(client, f"{key}:end", n, 300, check)
    client.delete(f"{key}:end")
    return n / (max(ends) - start)
