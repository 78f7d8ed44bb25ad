"""What the operations tests share: a unique workflow that runs on the test worker, a scrape, free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, stop_process


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def two_step_workflow(name: str, *, queue: str = "default", enabled: bool = False) -> dict[str, Any]:
    """A workflow of two shell tasks, one after the other, on `queue`."""
    tasks = [
        {"name": f"{name}-a", "kind": "shell", "config": {"script": "echo a"}, "queue": queue},
        {"name": f"{name}-b", "kind": "shell", "config": {"script": "echo b"}, "queue": queue},
    ]
    return {
        "name": name,
        "team": "ops",
        "enabled": enabled,
        "nodes": [{"key": f"n{i}", "type": "task", "task": task} for i, task in enumerate(tasks)],
        "edges": [{"from": "start", "to": "n0"}, {"from": "n0", "to": "n1", "on": "success"}],
    }


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Parse Prometheus's text format into (sample name, labels, value)."""
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(found: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """Add up the samples of `name` whose labels include `labels` (every service's)."""
    return sum(v for n, sample_labels, v in found if n == name and labels.items() <= sample_labels.items())


def scrape(url: str, **kwargs: Any) -> list[tuple[str, dict[str, str], float]]:
    response = httpx.get(url, timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_process(
    command: list[str], log: Path, env: dict[str, str], ready: str, timeout: float = 60
) -> subprocess.Popen:
    """Start a process of the repository, writing to `log`; wait until the log says `ready`."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while ready not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise AssertionError(f"{command[2:4]} did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)
    return process


PYTHON = sys.executable
