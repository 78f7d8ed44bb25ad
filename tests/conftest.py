"""Shared fixtures: a real Celery worker on the configured broker and the test database."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from hypothesis import settings as hypothesis_settings

# Properties check behaviour, not speed (speed is `make bench`'s): no per-example deadline, which
# a busy machine turns into "unreliable timings" failures.
hypothesis_settings.register_profile("baton", deadline=None)
hypothesis_settings.load_profile("baton")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "workflows" / "demo"


def database_url() -> str:
    """Return a URL for the database the tests use (the test database, once set up)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _purge_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("default")


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """Run `celery -A config worker` against the test database for the whole session."""
    with contextlib.suppress(Exception):
        _purge_broker()
    yield from celery_worker(tmp_path_factory, queues="default")


def celery_worker(tmp_path_factory, *, queues: str, env: dict[str, str] | None = None):
    """Start a Celery worker consuming `queues` on the test database; yield it, then stop it."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "BATON_HEARTBEAT_SECONDS": "0.2",
        "BATON_WORKER_HEARTBEAT_SECONDS": "0.5",  # its liveness row comes back soon after a test's flush
        "BATON_KILL_GRACE_SECONDS": "1",
        "BATON_ALERT_RULES_CACHE_SECONDS": "0",  # a test's new rule is seen by the worker's next batch
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        queues,
        "-c",
        "4",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
        "-n",
        f"test-{queues}-{os.getpid()}@%h",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the Celery worker did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)
    process.log_path = log  # type: ignore[attr-defined]
    yield process
    stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    """Ask a process to stop (SIGTERM), and kill it if it has not within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def import_definition(document: dict[str, Any] | Path, tmp_path: Path) -> str:
    """Import a definition through the CLI; return what it printed (the workflow id)."""
    if isinstance(document, Path):
        path = document
    else:
        path = tmp_path / "definition.json"
        path.write_text(json.dumps(document, ensure_ascii=False))
    out = StringIO()
    call_command("import_workflow", str(path), stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def run_and_wait(name: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    """Run a workflow through the CLI with --wait --json and return the parsed report."""
    out = StringIO()
    call_command("run_workflow", name, *args, "--wait", "--json", "--timeout", str(timeout), stdout=out)
    return json.loads(out.getvalue())


def example(name: str) -> dict[str, Any]:
    """Return a copy of one of the example definitions."""
    return json.loads((EXAMPLES / name).read_text())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs a real Celery worker (a fixture `worker` or `…_worker`) `worker`.

    `make test-rabbitmq` runs these once more with RabbitMQ as the broker: every test that goes
    through a broker end to end, whichever fixture starts its worker.
    """
    for item in items:
        names = getattr(item, "fixturenames", ())
        if any(name == "worker" or name.endswith("_worker") for name in names):
            item.add_marker(pytest.mark.worker)


@pytest.fixture(autouse=True)
def _fresh_plan_cache():
    """Forget cached plans: a rolled-back test can give the next one the same version id (SQLite)."""
    from executions import runtime

    runtime.blueprints.clear()
    yield
    runtime.blueprints.clear()


def machine() -> Any:
    """Return the machine's operator at the command line (every right), who sets tests up."""
    from access.actors import machine_actor

    return machine_actor("test")


def acting(user: Any) -> Any:
    """Return a user acting at the command line (`--as USER`): their roles, audited as cli."""
    from access.actors import CLI, user_actor

    return user_actor(user, CLI)


@pytest.fixture(scope="session", autouse=True)
def _flush_outlasts_a_deadlock():
    """Retry the flush after a transactional test when PostgreSQL broke a deadlock by cancelling it.

    The test's own Celery worker may still be writing (a heartbeat, the end of a batch the test
    did not wait for) while the flush takes every table's exclusive lock; PostgreSQL then cancels
    one of the two. The worker recovers from a cancelled statement as from any lost one; the flush
    is retried here.
    """
    from django.core.management.base import CommandError
    from django.db import OperationalError
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def teardown(self):
        for attempt in range(5):
            try:
                return original(self)
            except (CommandError, OperationalError) as exc:
                if "deadlock detected" not in f"{exc} {exc.__cause__}" or attempt == 4:
                    raise
                time.sleep(0.2)

    TransactionTestCase._fixture_teardown = teardown
    yield
    TransactionTestCase._fixture_teardown = original


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogues():
    """Compile a translation catalogue whose .mo is missing or older than its .po (`make messages` does the same)."""
    stale = [
        po
        for po in (REPO / "locale").glob("*/LC_MESSAGES/*.po")
        if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    if stale:
        call_command("compilemessages", ignore_patterns=[".venv", "var", "staticfiles"], verbosity=0)
