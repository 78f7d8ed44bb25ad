"""Whatever bytes a task prints, its finish is stored, and a finish that cannot be written never re-runs it."""

from __future__ import annotations

import gzip
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from executions.kinds import Outcome
from executions.models import Attempt, Batch, NodeRun
from executions.storable import REPLACEMENT, storable, storable_json, storable_text
from tests.conftest import import_definition, run_and_wait
from tests.executions.conftest import chain_document, python, shell, start
from workflows import registry

NUL_SCRIPT = "printf 'deployed\\000ok\\n'; echo ran >> {counter}"


# --- the pure part ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("plain text\n", "plain text\n", 0),
        ("deployed\x00ok\n", f"deployed{REPLACEMENT}ok\n", 1),
        ("\x00" * 3, REPLACEMENT * 3, 3),
        ("lone \ud800 surrogate", f"lone {REPLACEMENT} surrogate", 1),
        ("a pair \ud83d\ude00 is its character", "a pair 😀 is its character", 0),
        ("reversed \ude00\ud83d", f"reversed {REPLACEMENT}{REPLACEMENT}", 2),
        ("ünïcödé and 中文 stay", "ünïcödé and 中文 stay", 0),
    ],
)
def test_storable_text_replaces_what_no_database_stores(text, expected, count):
    assert storable_text(text) == (expected, count)


def test_storable_json_cleans_keys_values_and_non_finite_numbers():
    detail = {"error": "bad\x00byte", "k\x00ey": ["\ud800", 1, 2.5], "ratio": math.nan, "top": -math.inf}
    cleaned, count = storable_json(detail)
    assert count == 3
    assert cleaned == {
        "error": f"bad{REPLACEMENT}byte",
        f"k{REPLACEMENT}ey": [REPLACEMENT, 1, 2.5],
        "ratio": "NaN",
        "top": "-Infinity",
    }


def test_storable_notes_the_replacements_in_the_output():
    outcome = storable(Outcome(status="succeeded", output="a\x00b", detail={"error": "\x00"}))
    assert outcome.status == "succeeded" and outcome.detail == {"error": REPLACEMENT}
    assert outcome.output == f"a{REPLACEMENT}b\n[baton] 2 characters the database cannot store" + (
        " (NUL, unpaired surrogate) replaced with U+FFFD\n"
    )
    clean = Outcome(status="failed", output="fine\n", detail={"exit_code": 1})
    assert storable(clean) == clean


@given(st.text(st.characters(codec=None, exclude_categories=())), st.dictionaries(st.text(), st.text() | st.floats()))
def test_storable_output_always_encodes_and_serialises(text, detail):
    outcome = storable(Outcome(status="succeeded", output=text, detail=detail))
    outcome.output.encode("utf-8")  # no lone surrogate left
    assert "\x00" not in outcome.output and "\\u0000" not in json.dumps(outcome.detail)
    json.dumps(outcome.detail, allow_nan=False).encode("utf-8")
    assert storable(outcome) == outcome  # idempotent: a stored value passes through unchanged


# --- through the engine: shell, python, http ------------------------------------------------------


def only_run(batch: Batch) -> NodeRun:
    batch.refresh_from_db()
    return NodeRun.objects.get(batch=batch)


def assert_stored_once(batch: Batch, *, status: str = "succeeded") -> NodeRun:
    run = only_run(batch)
    assert (batch.status, run.status, run.attempts) == (status, status, 1), run.output
    assert "\x00" not in run.output and "[baton]" in run.output and "replaced with U+FFFD" in run.output
    assert list(Attempt.objects.filter(node_run=run).values_list("output", flat=True)) == [run.output]
    return run


@pytest.mark.django_db(transaction=True)
def test_shell_output_with_a_nul_byte_is_stored_and_the_command_runs_once(recorder, tmp_path):
    counter = tmp_path / "counter"
    task = shell("deploy", NUL_SCRIPT.format(counter=counter), retries=2)
    batch = start(chain_document("w", task))
    recorder.drain()
    run = assert_stored_once(batch)
    assert run.output.startswith(f"deployed{REPLACEMENT}ok\n")
    assert counter.read_text() == "ran\n"


@pytest.fixture
def callables() -> Iterator[None]:
    def prints_nul_returns_surrogate() -> str:
        print("deployed\x00ok")
        return "half a pair: \ud800"

    def raises_with_nul() -> None:
        raise ValueError("bad\x00byte")

    registry.register(prints_nul_returns_surrogate, "tests.prints_nul")
    registry.register(raises_with_nul, "tests.raises_nul")
    yield
    registry.unregister("tests.prints_nul")
    registry.unregister("tests.raises_nul")


@pytest.mark.django_db(transaction=True)
def test_python_output_with_nul_and_a_lone_surrogate_is_stored(recorder, callables):
    batch = start(chain_document("w", python("binary", "tests.prints_nul")))
    recorder.drain()
    run = assert_stored_once(batch)
    assert run.output.startswith(f'deployed{REPLACEMENT}ok\nreturn value: "half a pair: {REPLACEMENT}"\n')


@pytest.mark.django_db(transaction=True)
def test_a_python_error_with_a_nul_byte_is_stored_in_output_and_detail(recorder, callables):
    batch = start(chain_document("w", python("broken", "tests.raises_nul")))
    recorder.drain()
    run = assert_stored_once(batch, status="failed")
    assert run.detail["error"] == f"ValueError: bad{REPLACEMENT}byte"


class BinaryHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/gzip-zeros":
            body, headers = gzip.compress(b"\x00" * 200_000), {"Content-Encoding": "gzip"}
        else:
            body, headers = bytes(range(256)) * 4, {"Content-Type": "application/octet-stream"}
        self.send_response(200)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def binary_server(settings) -> Iterator[str]:
    settings.BATON_HTTP_ALLOWED_NETWORKS = ("127.0.0.1/32",)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BinaryHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/gzip-zeros", "/bytes"])
def test_a_binary_http_body_is_stored(recorder, binary_server, path, settings):
    task = {"name": "fetch", "kind": "http", "config": {"method": "GET", "url": binary_server + path}, "retries": 2}
    batch = start(chain_document("w", task))
    recorder.drain()
    run = assert_stored_once(batch)
    assert "HTTP/1.1 200 OK" in run.output or "HTTP/1.0 200 OK" in run.output
    assert run.detail["status_code"] == 200


# --- a finish the database refuses: recorded with a note, never run again ---------------------------


REFUSE = "refuse-me"


@pytest.fixture
def database_refuses_marked_output() -> Iterator[None]:
    """Make the database refuse any node run whose output holds REFUSE (a write that fails for a reason of its own)."""
    if connection.vendor == "postgresql":
        create = [
            f"""CREATE FUNCTION baton_test_refuse() RETURNS trigger AS $$ BEGIN
                  IF NEW.output LIKE '%{REFUSE}%' THEN
                    RAISE EXCEPTION 'this row is refused' USING ERRCODE = 'data_exception';
                  END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
            """CREATE TRIGGER baton_test_refuse BEFORE UPDATE ON executions_noderun
                  FOR EACH ROW EXECUTE FUNCTION baton_test_refuse()""",
        ]
        drop = [
            "DROP TRIGGER IF EXISTS baton_test_refuse ON executions_noderun",
            "DROP FUNCTION IF EXISTS baton_test_refuse()",
        ]
    else:
        create = [
            f"""CREATE TRIGGER baton_test_refuse BEFORE UPDATE ON executions_noderun
                  WHEN NEW.output LIKE '%{REFUSE}%' BEGIN SELECT RAISE(ABORT, 'this row is refused'); END"""
        ]
        drop = ["DROP TRIGGER IF EXISTS baton_test_refuse"]
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    yield
    with connection.cursor() as cursor:
        for statement in drop:
            cursor.execute(statement)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("script", "status"), [("exit 0", "succeeded"), ("exit 3", "failed")])
def test_a_finish_the_database_refuses_is_recorded_with_a_note_and_not_run_again(
    recorder, tmp_path, database_refuses_marked_output, script, status
):
    counter = tmp_path / "counter"
    task = shell("deploy", f"echo {REFUSE}; echo ran >> {counter}; {script}", retries=2, retry_interval_seconds=0)
    batch = start(chain_document("w", task))
    recorder.drain()
    run = only_run(batch)
    attempts = 3 if status == "failed" else 1  # a failed attempt keeps its retry policy; a success is final
    assert (batch.status, run.status, run.attempts) == (status, status, attempts)
    assert counter.read_text() == "ran\n" * attempts
    assert REFUSE not in run.output and run.output.startswith(f"[baton] the attempt {status}")
    assert "could not be stored" in run.output and "this row is refused" in run.detail["record_error"]
    assert Attempt.objects.filter(node_run=run).count() == attempts


# --- on a real worker ----------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_nul_byte_on_a_real_worker_runs_the_command_once_and_the_batch_succeeds(worker, tmp_path: Path):
    counter = tmp_path / "counter"
    document = chain_document("nul-output", shell("nul-deploy", NUL_SCRIPT.format(counter=counter), retries=2))
    import_definition(document, tmp_path)
    report = run_and_wait("nul-output", timeout=60)
    node = report["nodes"]["n0"]
    assert (report["status"], node["status"], node["attempts"]) == ("succeeded", "succeeded", 1)
    assert node["output"].startswith(f"deployed{REPLACEMENT}ok\n") and "[baton]" in node["output"]
    assert counter.read_text() == "ran\n"
