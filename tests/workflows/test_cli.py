"""import_workflow and export_workflow as an integrator uses them."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import EXAMPLES, REPO, example
from workflows.models import Task, Team, Workflow

pytestmark = pytest.mark.django_db


def test_import_prints_the_workflow_id_and_export_round_trips(tmp_path):
    out = StringIO()
    call_command("import_workflow", str(EXAMPLES / "release-pipeline.json"), stdout=out, stderr=StringIO())
    workflow = Workflow.objects.get(pk=int(out.getvalue()))
    exported = StringIO()
    call_command("export_workflow", "release-pipeline", "--team", "platform", stdout=exported)
    path = tmp_path / "again.json"
    path.write_text(exported.getvalue())
    out2 = StringIO()
    call_command("import_workflow", str(path), stdout=out2, stderr=StringIO())
    assert int(out2.getvalue()) == workflow.pk
    again = StringIO()
    call_command("export_workflow", "release-pipeline", stdout=again)
    assert json.loads(again.getvalue()) == json.loads(exported.getvalue())


def test_yaml_export_imports_back(tmp_path):
    call_command("import_workflow", str(EXAMPLES / "end-of-day-cutover.json"), stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command("export_workflow", "日切-end-of-day", "--format", "yaml", stdout=out)
    path = tmp_path / "eod.yaml"
    path.write_text(out.getvalue())
    call_command("import_workflow", str(path), stdout=StringIO(), stderr=StringIO())
    assert yaml.safe_load(out.getvalue())["name"] == "日切-end-of-day"
    assert Workflow.objects.get().versions.count() == 1


def test_invalid_definition_lists_every_problem_and_saves_nothing(tmp_path):
    document = example("release-pipeline.json")
    document["team"] = "fresh-team"
    document["edges"].append({"from": "build", "to": "ghost", "on": "success"})
    document["nodes"][0]["task"]["config"] = {}
    document["nodes"].append({"key": "lonely", "type": "and"})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError) as caught:
        call_command("import_workflow", str(path), stdout=StringIO(), stderr=StringIO())
    message = str(caught.value)
    assert "nothing saved" in message
    assert "ghost" in message and "lonely" in message and "nodes[0].task.config" in message
    assert not Team.objects.exists() and not Task.objects.exists() and not Workflow.objects.exists()


def test_missing_file_and_unknown_workflow_are_clear_errors(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_workflow", str(tmp_path / "nope.json"))
    with pytest.raises(CommandError, match="no workflow named 'nope'"):
        call_command("export_workflow", "nope")


def test_same_name_in_two_teams_needs_team(tmp_path):
    for team in ("a", "b"):
        document = {
            "name": "same",
            "team": team,
            "nodes": [
                {
                    "key": "x",
                    "type": "task",
                    "task": {"name": f"x-{team}", "kind": "shell", "config": {"script": "true"}},
                }
            ],
            "edges": [{"from": "start", "to": "x"}],
        }
        path = tmp_path / f"{team}.json"
        path.write_text(json.dumps(document))
        call_command("import_workflow", str(path), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="pass --team"):
        call_command("export_workflow", "same")
    out = StringIO()
    call_command("export_workflow", "same", "--team", "b", stdout=out)
    assert json.loads(out.getvalue())["team"] == "b"


def test_import_exits_non_zero_as_a_process(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x"}')
    result = subprocess.run(
        [sys.executable, "manage.py", "import_workflow", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "team: is required" in result.stderr and "nodes: is required" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            json.dumps(example("release-pipeline.json")).replace(
                '"timeout_seconds": 600', '"timeout_seconds": 1' + "0" * 5000
            ),
            "a number is too long to read (integers must lie between -9223372036854775808 and 9223372036854775807)",
            id="5000-digit-json",
        ),
        pytest.param(
            yaml.safe_dump(example("release-pipeline.json")).replace(
                "\ntimeout_seconds: 600\n", "\ntimeout_seconds: .inf\n"
            ),
            "timeout_seconds: must be a finite number, not inf",
            id="yaml-inf",
        ),
        pytest.param("a: &a [*a]", "the document is nested deeper than 32 levels", id="recursive-alias"),
    ],
)
def test_odd_input_is_a_command_error_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(CommandError) as caught:
        call_command("import_workflow", str(path), stdout=StringIO(), stderr=StringIO())
    assert "nothing saved" in str(caught.value) and message in str(caught.value)
    assert not Workflow.objects.exists()


def test_an_alias_bomb_exits_1_quickly_with_a_message_not_a_traceback(tmp_path):
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"{n}: &{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in zip("abcdef", "bcdefg", strict=True)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(levels) + "\n")
    result = subprocess.run(
        [sys.executable, "manage.py", "import_workflow", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the document has more than 100000 values (a YAML alias counts at each use)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show_batch", "\udcff"], "the batch id is not UTF-8 text: '\\udcff'"),  # `show_batch $'\xff'` in a shell
        (["stop_batch", "\udcff"], "the batch id is not UTF-8 text: '\\udcff'"),
        (["run_workflow", "\udcff"], "the workflow name is not UTF-8 text: '\\udcff'"),
        (["export_workflow", "release", "--team", "\udcff"], "--team is not UTF-8 text: '\\udcff'"),
    ],
)
def test_an_argument_that_is_not_utf8_is_a_command_error(args, message):
    with pytest.raises(CommandError) as caught:
        call_command(*args, stdout=StringIO(), stderr=StringIO())
    assert str(caught.value) == message


def test_import_reads_no_more_than_the_size_limit():
    with pytest.raises(CommandError, match="the document is larger than 2048 KiB"):
        call_command("import_workflow", "/dev/zero", stdout=StringIO(), stderr=StringIO())
