"""Helpers shared by the benchmark phases: statistics, worker subprocesses, clean-up."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def pct(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0..100) by linear interpolation between closest ranks."""
    data = sorted(values)
    if not data:
        return math.nan
    pos = (len(data) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return data[low] + (data[high] - data[low]) * (pos - low)


def summary(values_ms: Sequence[float]) -> dict[str, float]:
    """Median, p95, mean, min, max and count of a list of milliseconds."""
    if not values_ms:
        return {"n": 0, "median": math.nan, "p95": math.nan, "mean": math.nan, "min": math.nan, "max": math.nan}
    return {
        "n": len(values_ms),
        "median": statistics.median(values_ms),
        "p95": pct(values_ms, 95),
        "mean": statistics.fmean(values_ms),
        "min": min(values_ms),
        "max": max(values_ms),
    }


class Worker:
    """A `celery worker` subprocess in its own session, stopped for sure by `stop()`."""

    def __init__(self, app: str, queue: str, env: dict[str, str], log: Path, name: str, concurrency: int = 2):
        self.log = log
        command = [
            PYTHON,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-Q",
            queue,
            "-c",
            str(concurrency),
            "-P",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
            "-n",
            f"{name}-{os.getpid()}@%h",
        ]
        self._out = open(log, "wb")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL the worker's own process group."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # its prefork children, if any remain
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._out.close()


@contextlib.contextmanager
def workers() -> Iterator[list[Worker]]:
    """Collect workers started in the block; stop every one of them on the way out."""
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in reversed(started):
            with contextlib.suppress(Exception):
                worker.stop()


def terminate_as_exit() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks (worker clean-up) run."""

    def handler(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, handler)


def wait_for(predicate, timeout: float, interval: float = 0.01, what: str = "condition", check=None):
    """Poll `predicate` until truthy; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# CPU by process, read from /proc: where a throughput run's CPU goes (Linux only; elsewhere empty).
CPU_GROUPS = ("consumer", "pool", "postgres", "redis", "rabbitmq", "bench")
_SERVERS = {"postgres": "postgres", "redis-server": "redis", "beam.smp": "rabbitmq"}


def cpu_seconds(worker_pid: int) -> dict[str, float]:
    """CPU seconds used so far (user + system) by a worker's main process, its pool, the servers and this process.

    Processes that ended since the last reading are not counted (a pool process replaced meanwhile).
    """
    if not os.path.isdir("/proc/self"):
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(CPU_GROUPS, 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        pid, ppid = int(entry), int(rest[1])
        if pid == worker_pid:
            group: str | None = "consumer"
        elif ppid == worker_pid:
            group = "pool"
        elif pid == os.getpid():
            group = "bench"
        else:
            group = _SERVERS.get(name)
        if group is not None:
            used[group] += (int(rest[11]) + int(rest[12])) / tick
    return used


class CpuReading:
    """CPU used by a worker's processes, the servers and this process over a block (`with CpuReading(pid) as cpu:`)."""

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid
        self.used: dict[str, float] = {}

    def __enter__(self) -> CpuReading:
        self._before = cpu_seconds(self.worker_pid)
        return self

    def __exit__(self, *exc_info: object) -> None:
        after = cpu_seconds(self.worker_pid)
        self.used = {key: after[key] - self._before[key] for key in after}

    def per_run(self, runs: int) -> dict[str, float]:
        """CPU milliseconds a run, by group (`CPU_GROUPS`)."""
        return {key: seconds * 1000 / runs for key, seconds in self.used.items()}
