"""Fault-injection fixtures: a private Redis, killable Celery workers and an in-process sweep.

- `redis_server` (session): its own `redis-server` on a free port, so the tests can kill it
  and start it again empty without touching the machine's shared Redis. The test process's
  Celery app is pointed at it (`CELERY_BROKER_URL` in `os.environ` wins over the app's
  config in Celery, so both are set) and its connection pools are reset.
- `rabbitmq_broker` (session): the machine's RabbitMQ in a virtual host of its own; its
  `restart()` stops and starts the RabbitMQ application. `rabbitmq_cluster` is `cluster` on it.
- `cluster` (per test): starts `celery -A config worker` subprocesses against the test
  database and that Redis, with short heartbeat / worker-lost / redispatch settings, runs
  `executions.lifecycle.recover()` every second in a thread (what beat does every 2 s),
  and on teardown stops everything and checks that no process it started is left.

Every process a test starts carries `BATON_FAULTS_TOKEN=<token>` in its environment; shell
tasks inherit the worker's environment, so scanning `/proc/*/environ` for the token finds the
workers, their pool processes and every shell task (and its children) of that test.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from tests.conftest import REPO, database_url, machine

FINAL = {"succeeded", "failed", "timed_out", "stopped"}
HEARTBEAT_SECONDS = 0.2
WORKER_LOST_SECONDS = 3.0
REDISPATCH_SECONDS = 3.0
KILL_GRACE_SECONDS = 1.0
SWEEP_INTERVAL = 1.0
#: The longest the sweep needs to notice a dead worker: the threshold, one sweep period and
#: one heartbeat period, plus slack for a loaded 2-core machine.
WORKER_LOST_BOUND = WORKER_LOST_SECONDS + SWEEP_INTERVAL + HEARTBEAT_SECONDS + 3.0


# --- processes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    cmdline: str


def _stat(pid: int) -> tuple[int, str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), fields[0].decode()
    except (OSError, IndexError, ValueError):
        return None


def processes_with_token(token: str) -> list[Proc]:
    """Live (non-zombie) processes whose environment carries the test's token."""
    marker = f"BATON_FAULTS_TOKEN={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as env:
                if marker not in env.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                cmdline = cmd.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        stat = _stat(int(entry))
        if stat is None or stat[1] in ("Z", "X"):
            continue
        found.append(Proc(int(entry), stat[0], stat[1], cmdline))
    return found


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] not in ("Z", "X")


def parent_of(pid: int) -> int:
    stat = _stat(pid)
    assert stat is not None, f"process {pid} is gone"
    return stat[0]


def cmdline_of(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as cmd:
        return cmd.read().replace(b"\0", b" ").decode(errors="replace")


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition") -> float:
    """Poll `predicate` until true; return the seconds it took; fail after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{message} not reached within {timeout:g}s")
        time.sleep(interval)
    return time.monotonic() - started


def read_pids(path: Path) -> list[int]:
    """The pids shell tasks appended to `path` (one per line)."""
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split() if line.strip().isdigit()]


# --- the private Redis --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A `redis-server` with no persistence; `restart()` kills it and starts it again empty."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.directory),
        ]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        wait_until(self.ping, 10, message=f"redis-server on port {self.port} answering")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.exceptions.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL the server: everything it held (queued and unacknowledged messages) is lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()

    def restart(self, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    def flush(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()


def _point_celery_at(url: str) -> None:
    """Make the test process's Celery app publish to `url` from now on."""
    from config.celery import app

    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    _reset_pools(app)


def _reset_pools(app) -> None:
    """Forget the app's connection and producer pools (kombu keeps them in a global registry)."""
    from kombu import pools

    with contextlib.suppress(Exception):
        pools.reset()
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None


@contextlib.contextmanager
def _celery_on(broker: RedisServer | RabbitBroker) -> Iterator[None]:
    """Point this process's Celery app at `broker`, and back at what it used before on leaving."""
    from config.celery import app

    saved = (os.environ.get("CELERY_BROKER_URL"), app.conf.broker_url, app.conf.broker_transport_options)
    _point_celery_at(broker.url)
    try:
        yield
    finally:
        env_url, conf_url, options = saved
        if env_url is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = env_url
        app.conf.broker_url, app.conf.broker_transport_options = conf_url, options
        _reset_pools(app)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("the fault tests need redis-server on PATH (they start and kill their own)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    with _celery_on(server):
        yield server
    server.kill()


class RabbitBroker:
    """The machine's RabbitMQ, in a virtual host of this session's own.

    `restart()` stops the RabbitMQ application and starts it again (`rabbitmqctl stop_app` /
    `start_app`): every connection drops, and what the durable queues held — Celery's messages
    are persistent — is there again after the restart, unacknowledged deliveries requeued.
    """

    def __init__(self) -> None:
        self.vhost = f"baton-faults-{os.getpid()}"
        host = os.environ.get("BATON_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
        self.url = f"{host.rstrip('/')}/{self.vhost}"

    @staticmethod
    def _ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._ctl("add_vhost", self.vhost)
        self._ctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")

    def restart(self, down_for: float = 0.0) -> None:
        try:
            self._ctl("stop_app")
            time.sleep(down_for)
        finally:
            self._ctl("start_app")  # never leave the machine's broker stopped
        self._ctl("await_startup")

    def flush(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("delete_vhost", self.vhost)
        self.start()

    def kill(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            self._ctl("delete_vhost", self.vhost)


@pytest.fixture(scope="session")
def rabbitmq_broker() -> Iterator[RabbitBroker]:
    """The machine's RabbitMQ for the tests that exercise Baton on amqp:// (`.ci/run` starts it)."""
    broker = RabbitBroker()
    broker.start()
    with _celery_on(broker):
        yield broker
    broker.kill()


# --- workers, sweep and the cluster -------------------------------------------------------


class Worker:
    """One `celery -A config worker` in its own process group."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "ready." not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"worker {self.name} did not start:\n{self.text()[-4000:]}")
            time.sleep(0.1)

    def children(self) -> list[int]:
        return [int(e) for e in os.listdir("/proc") if e.isdigit() and (_stat(int(e)) or (0, ""))[0] == self.pid]

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once (a crash, an OOM kill)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown; SIGKILL the group if it takes longer than `timeout`."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self.kill()


class Sweeper:
    """Call `lifecycle.recover()` every `interval` seconds in a thread, as beat would."""

    def __init__(self, interval: float = SWEEP_INTERVAL) -> None:
        self.interval = interval
        self.errors: list[str] = []
        self.counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faults-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def _run(self) -> None:
        from executions import lifecycle

        try:
            while not self._stop.wait(self.interval):
                try:
                    for key, value in lifecycle.recover().items():
                        self.counts[key] = self.counts.get(key, 0) + value
                except Exception as exc:  # the broker may be down: log it and keep sweeping
                    self.errors.append(repr(exc))
                    with contextlib.suppress(Exception):
                        connection.close()
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


class Cluster:
    """What one fault test runs: its workers, the sweep, its token and helpers to check it."""

    def __init__(self, directory: Path, broker: RedisServer | RabbitBroker) -> None:
        self.directory = directory
        self.broker = broker
        self.token = uuid.uuid4().hex
        self.workers: list[Worker] = []
        self.sweeper: Sweeper | None = None
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker.url,
            "BATON_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "BATON_WORKER_LOST_SECONDS": str(WORKER_LOST_SECONDS),
            "BATON_REDISPATCH_SECONDS": str(REDISPATCH_SECONDS),
            "BATON_KILL_GRACE_SECONDS": str(KILL_GRACE_SECONDS),
            "BATON_FAULTS_TOKEN": self.token,
            "PYTHONUNBUFFERED": "1",
        }

    # workers

    def start_worker(self, concurrency: int = 2, wait: bool = True) -> Worker:
        name = f"faults{len(self.workers)}-{os.getpid()}"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "default",
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
            "-n",
            f"{name}@%h",
        ]
        worker = Worker(name, command, self.env, self.directory / f"{name}.log")
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def worker_logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {w.name} ---\n{w.text()[-tail:]}" for w in self.workers)

    # the sweep

    def start_sweeper(self) -> Sweeper:
        self.sweeper = Sweeper().start()
        return self.sweeper

    # definitions and batches

    def workflow(self, document: dict[str, Any]):
        from workflows.services import workflow_save_definition

        return workflow_save_definition(document=copy.deepcopy(document), actor=machine()).workflow

    def start(self, workflow, count: int = 1) -> list[str]:
        from executions import lifecycle

        return [lifecycle.batch_start(workflow=workflow, actor=machine()).pk for _ in range(count)]

    def wait_finished(self, batch_ids: Iterable[str], timeout: float) -> float:
        """Wait until every batch is in a final state; return the seconds it took."""
        from executions.models import Batch

        ids = list(batch_ids)
        started = time.monotonic()
        while True:
            running = list(Batch.objects.filter(pk__in=ids).exclude(status__in=FINAL).values_list("pk", flat=True))
            if not running:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                pytest.fail(
                    f"{len(running)} of {len(ids)} batches still running after {timeout:g}s: "
                    f"{self.describe(running[:5])}\nsweep errors: {self.sweeper and self.sweeper.errors[-5:]}\n"
                    f"{self.worker_logs()}"
                )
            time.sleep(0.1)

    def describe(self, batch_ids: Iterable[str]) -> str:
        from executions.models import Batch, NodeRun

        lines = []
        for batch in Batch.objects.filter(pk__in=list(batch_ids)):
            runs = NodeRun.objects.filter(batch=batch).values_list("node_key", "status", "attempts")
            lines.append(f"{batch.pk} {batch.status} stop={batch.stop_requested_at} {list(runs)}")
        return "\n".join(lines)

    # processes

    def task_processes(self) -> list[Proc]:
        """Processes started by this test's tasks (anything with the token but the workers)."""
        workers = {w.pid for w in self.workers}
        return [p for p in processes_with_token(self.token) if p.pid not in workers and p.ppid not in workers]

    def assert_no_task_processes(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while (left := self.task_processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"task processes left behind: {left}"

    def assert_finished(self, batch_ids: Iterable[str]) -> None:
        from executions.models import Batch

        ids = list(batch_ids)
        statuses = dict(Batch.objects.filter(pk__in=ids).values_list("pk", "status"))
        assert len(statuses) == len(ids)
        assert set(statuses.values()) <= FINAL, self.describe(k for k, s in statuses.items() if s not in FINAL)

    def close(self) -> list[Proc]:
        """Stop the sweep and every worker; return (and kill) processes of this test left alive."""
        if self.sweeper is not None:
            self.sweeper.stop()
        for worker in self.workers:
            worker.stop()
        deadline = time.monotonic() + 5
        while (left := processes_with_token(self.token)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        return left


@pytest.fixture
def cluster(redis_server, transactional_db, tmp_path) -> Iterator[Cluster]:
    """Workers and a sweep for one test, on the private Redis; checks on teardown that none of their processes is left."""
    yield from _cluster(redis_server, tmp_path)


@pytest.fixture
def rabbitmq_cluster(rabbitmq_broker, transactional_db, tmp_path) -> Iterator[Cluster]:
    """The same, with RabbitMQ as the broker."""
    yield from _cluster(rabbitmq_broker, tmp_path)


def _cluster(broker: RedisServer | RabbitBroker, tmp_path: Path) -> Iterator[Cluster]:
    """Settings for this process (the sweep runs here) match the workers' environment.

    Both brokers' fixtures live for the session: whichever was set up last pointed this process's
    Celery app at itself, so each cluster points it at its own broker again.
    """
    broker.flush()
    _point_celery_at(broker.url)
    with override_settings(
        BATON_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
        BATON_WORKER_LOST_SECONDS=WORKER_LOST_SECONDS,
        BATON_REDISPATCH_SECONDS=REDISPATCH_SECONDS,
        BATON_KILL_GRACE_SECONDS=KILL_GRACE_SECONDS,
    ):
        faults = Cluster(tmp_path, broker)
        try:
            yield faults
        finally:
            left = faults.close()
    assert not left, f"processes of this test still alive after the workers stopped: {left}"


def task(name: str, kind: str, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "config": config, **extra}


def shell(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return task(name, "shell", {"script": script}, **extra)


def python(name: str, callable_name: str, **kwargs: Any) -> dict[str, Any]:
    return task(name, "python", {"callable": callable_name, "kwargs": kwargs})


def chain(name: str, *tasks: dict[str, Any], team: str = "faults", **extra: Any) -> dict[str, Any]:
    """A workflow running `tasks` one after the other on success; node keys n0, n1, …"""
    nodes = [{"key": f"n{i}", "type": "task", "task": t} for i, t in enumerate(tasks)]
    edges = [{"from": "start", "to": "n0"}] + [
        {"from": f"n{i}", "to": f"n{i + 1}", "on": "success"} for i in range(len(tasks) - 1)
    ]
    return {"name": name, "team": team, "nodes": nodes, "edges": edges, **extra}
