"""The web process: gunicorn with static files from WhiteNoise, bounded connections, one throttle (issue 10, items 6, 13)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from access.models import ApiToken, token_generate, token_hash
from tests.conftest import REPO, database_url
from workflows.models import Membership, Role, Team

WORKERS, THREADS = 2, 2
COMMAND = ".venv/bin/gunicorn -c config/gunicorn.py"
APPLICATION = "baton-web-under-test"  # names the web process's PostgreSQL connections


def test_make_run_the_procfile_and_the_docs_serve_through_gunicorn():
    web = next(line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert web == f"web: {COMMAND}"
    run_target = re.search(r"^run:.*?(?=^\S)", (REPO / "Makefile").read_text(), re.S | re.M).group(0)
    assert "collectstatic --noinput" in run_target and "honcho start -f Procfile" in run_target
    assert "runserver" not in (REPO / "Procfile").read_text() + run_target
    assert "gunicorn -c config/gunicorn.py" in (REPO / "docs" / "deployment.md").read_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def web(tmp_path_factory, django_db_setup, django_db_blocker):
    """Gunicorn as production runs it (DEBUG=0, collected static files) against the test database."""
    var = tmp_path_factory.mktemp("web")
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "gunicorn-test-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url() + (f"?application_name={APPLICATION}" if "postgres" in database_url() else ""),
        "BATON_VAR_DIR": str(var),
        "STATIC_ROOT": str(var / "static"),
        "BATON_TRIGGER_RATE": "5/minute",
        "WEB_CONCURRENCY": str(WORKERS),
        "WEB_THREADS": str(THREADS),
        "PORT": str(port),
        "WEB_BIND": "127.0.0.1",
    }
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    log = var / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(COMMAND.split(), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/admin/login/", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"gunicorn did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_static_files_are_served_by_the_app_with_debug_off(web):
    css = httpx.get(f"{web}/static/admin/css/base.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    redoc = httpx.get(f"{web}/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")
    assert redoc.status_code == 200 and redoc.headers.get("content-encoding") == "gzip"  # WhiteNoise's compressed copy
    assert httpx.get(f"{web}/api/redoc/").status_code == 200


@pytest.fixture
def web_token(transactional_db) -> str:
    """An operator token the gunicorn process can see (committed, made by a member of its team)."""
    from django.contrib.auth.models import User

    team = Team.objects.create(name="web")
    creator = User.objects.create_user("webadmin")
    Membership.objects.create(team=team, user=creator, role=Role.ADMIN)
    raw = token_generate()
    ApiToken.objects.create(
        team=team, name="burst", role=Role.OPERATOR, key_hash=token_hash(raw), prefix=raw[:12], created_by=creator
    )
    return raw


def burst(url: str, raw: str, count: int, method: str = "GET") -> Counter:
    """Send `count` requests at once (as many as the client can) and count their statuses."""
    headers = {"Authorization": f"Bearer {raw}"}
    limits = httpx.Limits(max_connections=count)
    with httpx.Client(timeout=60, limits=limits) as client, ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(lambda _: client.request(method, url, headers=headers).status_code, range(count)))


def test_a_burst_of_requests_opens_a_bounded_number_of_database_connections(web, web_token):
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL backends")
    seen: list[int] = []
    done = threading.Event()

    def sample() -> None:
        try:
            with connection.cursor() as cursor:
                while not done.is_set():
                    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION])
                    seen.append(cursor.fetchone()[0])
                    time.sleep(0.01)
        finally:
            connection.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        statuses = burst(f"{web}/api/v1/workflows/", web_token, 50)
    finally:
        done.set()
        sampler.join()
    assert statuses == Counter({200: 50})
    assert 0 < max(seen) <= WORKERS * THREADS, seen  # runserver kept one per concurrent request


def test_the_trigger_throttle_holds_across_web_processes(web, web_token):
    statuses = burst(f"{web}/api/v1/batches/AAAAAAAA/stop/", web_token, 20, method="POST")
    assert statuses[429] == 15 and statuses[404] == 5, statuses
