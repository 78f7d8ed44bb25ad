"""Fixtures for engine tests: record dispatches instead of sending them, and drain them in-process."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from executions import dispatch, lifecycle
from executions.models import Batch
from tests.conftest import machine
from workflows.services import workflow_save_definition


class Recorder:
    """Keeps dispatched (node-run id, queue) pairs; `drain` runs them in this process, in order."""

    def __init__(self) -> None:
        self.sent: deque[tuple[int, str, float | None]] = deque()
        self.history: list[int] = []

    def __call__(self, runs: list[tuple[int, str]], countdown: float | None) -> None:
        for run_id, queue in runs:
            self.sent.append((run_id, queue, countdown))
            self.history.append(run_id)

    def drain(self, limit: int = 1000) -> None:
        for _ in range(limit):
            if not self.sent:
                return
            run_id, _, _ = self.sent.popleft()
            lifecycle.node_run_execute(node_run_id=run_id)
        raise AssertionError("dispatches did not drain")


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    fake = Recorder()
    monkeypatch.setattr(dispatch, "backend", fake)
    return fake


def chain_document(name: str = "w", *tasks: dict[str, Any], team: str = "t", **extra: Any) -> dict[str, Any]:
    """A workflow running the given tasks one after the other on success."""
    nodes = [{"key": f"n{i}", "type": "task", "task": task} for i, task in enumerate(tasks)]
    edges = [{"from": "start", "to": "n0"}] + [
        {"from": f"n{i}", "to": f"n{i + 1}", "on": "success"} for i in range(len(tasks) - 1)
    ]
    return {"name": name, "team": team, "nodes": nodes, "edges": edges, **extra}


def shell(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "shell", "config": {"script": script}, **extra}


def python(name: str, callable_name: str, **kwargs: Any) -> dict[str, Any]:
    return {"name": name, "kind": "python", "config": {"callable": callable_name, "kwargs": kwargs}}


def join_document(name: str = "join") -> dict[str, Any]:
    """Tasks a and b in parallel, an AND join of their successes, then task c."""
    return {
        "name": name,
        "team": "t",
        "nodes": [
            *({"key": k, "type": "task", "task": python(f"{name}-{k}", "baton.noop")} for k in ("a", "b", "c")),
            {"key": "j", "type": "and"},
        ],
        "edges": [
            {"from": "start", "to": "a"},
            {"from": "start", "to": "b"},
            {"from": "a", "to": "j", "on": "success"},
            {"from": "b", "to": "j", "on": "success"},
            {"from": "j", "to": "c"},
        ],
    }


def start(document: dict[str, Any]) -> Batch:
    workflow = workflow_save_definition(document=copy.deepcopy(document), actor=machine()).workflow
    return lifecycle.batch_start(workflow=workflow, actor=machine())


def states(batch: Batch) -> dict[str, str]:
    return dict(batch.node_runs.values_list("node_key", "status"))


class _JsonHandler(BaseHTTPRequestHandler):
    """Records each POST as (path, headers, body) in `server.seen` and answers `server.answer(self)` as JSON."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        status, payload = self.server.answer(self)  # type: ignore[attr-defined]
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def json_server(answer: Callable[[BaseHTTPRequestHandler], tuple[int, Any]]) -> Iterator[ThreadingHTTPServer]:
    """Serve POSTs on a loopback port in a thread; `answer(request)` gives each one's (status, JSON payload)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _JsonHandler)
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.answer = answer  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
