"""No input reaches a user as a 500: NUL, nesting, size, types, encodings, unknown fields, long names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.api.conftest import definition
from tests.conftest import acting
from workflows.models import Task, Workflow

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
URL = "/api/v1/workflows/"


def send(client, body: bytes, url: str = URL, method: str = "post"):
    return getattr(client, method)(url, data=body, content_type="application/json")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(json.dumps(definition(name="a\u0000b")).encode(), id="nul-in-value"),
        pytest.param(json.dumps({"\u0000": 1}).encode(), id="nul-in-key"),
        pytest.param(b'{"name": "\\ud800"}', id="lone-surrogate"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="deep-list"),
        pytest.param(b'{"a":' * 100 + b"1" + b"}" * 100, id="deep-object"),
        pytest.param(b"\xff\xfe{\x00", id="not-utf8"),
        pytest.param(b'{"name": NaN}', id="nan"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b'{"timeout_seconds": 1' + b"0" * 5000 + b"}", id="huge-int"),
        pytest.param(b"", id="empty"),
        pytest.param(b'"just a string"', id="not-an-object"),
        pytest.param(b"[]", id="a-list"),
        pytest.param(b"null", id="null"),
    ],
)
def test_malformed_bodies_are_400(client_for, alice, body):
    response = send(client_for(alice), body)
    assert response.status_code == 400, response.content[:500]
    assert response.json()["status"] == 400
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"name": "x" * 10_000}, id="10k-name"),
        pytest.param({"team": "p" * 10_000}, id="10k-team"),
        pytest.param({"nodes": "many"}, id="nodes-string"),
        pytest.param({"edges": [1, 2, 3]}, id="edges-ints"),
        pytest.param({"timeout_seconds": 10**30}, id="timeout-huge"),
        pytest.param({"timeout_seconds": True}, id="timeout-bool"),
        pytest.param({"trigger": {"type": "cron", "expression": "x" * 10_000, "timezone": "UTC"}}, id="cron-huge"),
        pytest.param({"colour": "red"}, id="unknown-field"),
        pytest.param({"enabled": "yes"}, id="enabled-string"),
        pytest.param({"name": ["a"]}, id="name-list"),
    ],
)
def test_wrong_definitions_are_400_never_500(client_for, alice, platform, change):
    response = client_for(alice).post(URL, {**definition(), **change}, format="json")
    assert response.status_code == 400, response.content[:500]
    assert not Workflow.objects.exists()


def test_a_body_over_the_limit_is_413(client_for, alice, settings):
    settings.BATON_API_MAX_BODY_BYTES = 10_000
    body = json.dumps({**definition(), "description": "x" * 20_000}).encode()
    response = send(client_for(alice), body)
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_a_chunked_body_over_the_limit_is_413_too(client_for, alice, settings):
    from io import BytesIO

    from access.http import RequestTooLarge, SafeJSONParser

    settings.BATON_API_MAX_BODY_BYTES = 100
    with pytest.raises(RequestTooLarge):
        SafeJSONParser().parse(BytesIO(b'{"a": "' + b"x" * 200 + b'"}'))


def test_nul_in_the_query_string_is_400(client_for, carol):
    response = client_for(carol).get("/api/v1/batches/?id=%00")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/batches/?created_after=not-a-date",
        "/api/v1/batches/?workflow=99999999999999999999999",
        "/api/v1/batches/?workflow=abc",
        "/api/v1/batches/?page=99999",
        "/api/v1/batches/?page_size=-1",
        "/api/v1/batches/?ordering=nope",
        f"/api/v1/batches/?id={'A' * 10_000}",
        "/api/v1/tasks/?team=" + "9" * 40,
        "/api/v1/cron-preview/?expression=" + "*" * 10_000,
        "/api/v1/cron-preview/?expression=0+0+0+*+*+%3F&count=100000",
        "/api/v1/cron-preview/?expression=0+0+0+*+*+%3F&after=9999-12-31T23:59:59",
        "/api/v1/cron-preview/?expression=0+0+0+*+*+%3F&timezone=../../etc/passwd",
        "/api/v1/batches/" + "Z" * 30 + "/",
        "/api/v1/node-runs/" + "9" * 40 + "/",
        # Offsets PostgreSQL cannot store (±16:00 and beyond), and instants that leave the range in UTC.
        "/api/v1/batches/?page_size=4000&created_before=4387-01-23T18%3A05%3A53.9006-16%3A23",
        "/api/v1/batches/?finished_after=2026-01-01T00:00:00%2B23:59",
        "/api/v1/batches/?created_after=0001-01-01T00:00:00%2B05:00",
        "/api/v1/batches/?created_before=9999-12-31T23:59:59-05:00",
        "/api/v1/audit/?after=2026-01-01T00:00:00-20:00",
    ],
)
def test_odd_query_values_are_never_500(client_for, carol, url):
    response = client_for(carol).get(url)
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/json")


def test_odd_task_bodies_are_400(client_for, alice):
    client = client_for(alice)
    for body in (
        {"team": "platform", "name": "t", "kind": "http", "config": "x"},
        {"team": ["platform"], "name": "t"},
        {"team": "platform", "name": "t" * 10_000, "kind": "python", "config": {"callable": "baton.echo"}},
        {"team": "platform", "name": "t", "kind": "python", "config": {"callable": "baton.echo"}, "x": 1},
    ):
        response = client.post("/api/v1/tasks/", body, format="json")
        assert response.status_code == 400, (body, response.content[:300])
    assert not Task.objects.exists()


def test_unknown_api_url_is_404(client_for, carol):
    assert client_for(carol).get("/api/v1/nothing-here/").status_code == 404


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "k8$Vq!2zL#r7Pw@9mN&c4Xb^6Hs*Jt1Ud5Ye0Fg3Ai8Oo-Ee=Rr+Tt_Yy" * 2,
        "ALLOWED_HOSTS": "baton.example.com",
        "BATON_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("host", ["jO:", "evil.example.com", "bad host"])
def test_a_host_outside_allowed_hosts_gets_the_api_error_shape(client_for, carol, host):
    response = client_for(carol).get("/api/v1/tasks/", HTTP_HOST=host)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "bad_request" and "ALLOWED_HOSTS" in body["detail"] and host not in body["detail"]


def test_a_bad_host_outside_the_api_keeps_django_s_page(client):
    response = client.get("/admin/login/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


def test_an_unhandled_error_under_the_api_is_json(rf):
    from access.http import server_error

    response = server_error(rf.get("/api/v1/tasks/"))
    assert response.status_code == 500 and json.loads(response.content)["code"] == "server_error"
    assert server_error(rf.get("/admin/")).status_code == 500


def test_a_date_filter_with_a_far_offset_means_the_same_instant(client_for, alice, workflow):
    from executions.lifecycle import batch_start

    batch = batch_start(workflow=workflow, actor=acting(alice))
    instant = batch.created_at.astimezone(UTC)
    before = (instant + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=-16, minutes=-23)))
    after = (instant + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=20)))
    client = client_for(alice)
    ids = lambda query: [b["id"] for b in client.get(f"/api/v1/batches/?{query}").json()["results"]]  # noqa: E731
    assert batch.pk in ids("created_before=" + quote(before.isoformat()))
    assert batch.pk not in ids("created_after=" + quote(after.isoformat()))
    response = client.get("/api/v1/batches/?created_after=" + quote("0001-01-01T00:00:00+05:00"))
    assert response.status_code == 400 and "created_after" in response.content.decode()
