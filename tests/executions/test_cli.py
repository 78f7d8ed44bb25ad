"""The batch commands in-process: stop_batch, rerun_batch, show_batch (dispatches drained here)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from executions.models import Batch
from tests.executions.conftest import chain_document, shell, start

pytestmark = pytest.mark.django_db(transaction=True)


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_rerun_batch_resume_prints_the_new_report(recorder, tmp_path):
    marker = tmp_path / "ok"
    batch = start(chain_document("w", shell("a", "echo a"), shell("b", f"test -e {marker}")))
    recorder.drain()
    marker.touch()
    new_id = command("rerun_batch", batch.pk, "--resume").strip()
    recorder.drain()
    report = json.loads(command("show_batch", new_id, "--json"))
    assert report["status"] == "succeeded" and report["nodes"]["n0"]["attempts"] == 1
    assert Batch.objects.get(pk=new_id).rerun_of_id == batch.pk


def test_stop_batch_then_stop_again_is_a_clear_error(recorder):
    batch = start(chain_document("w", shell("a", "sleep 5")))
    assert "stop requested" in command("stop_batch", batch.pk)
    recorder.drain()
    with pytest.raises(CommandError, match="stopped, not running"):
        command("stop_batch", batch.pk)
    assert json.loads(command("show_batch", batch.pk, "--json"))["status"] == "stopped"


def test_unknown_batch_id_is_a_clear_error():
    with pytest.raises(CommandError, match="no batch 'NOPE0000'"):
        command("show_batch", "NOPE0000")


def test_show_batch_without_json_prints_a_table(recorder):
    batch = start(chain_document("w", shell("a", "true")))
    recorder.drain()
    text = command("show_batch", batch.pk)
    assert f"batch {batch.pk}: succeeded" in text and "n0" in text
