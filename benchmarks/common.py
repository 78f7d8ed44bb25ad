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
