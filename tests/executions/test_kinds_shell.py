"""The shell executor: exit status, captured output, timeouts, cancel and process groups."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executions.kinds import RunContext, execute
from executions.kinds.masking import OutputCollector, mask, truncate
from executions.kinds.processes import GUARDIAN
from executions.kinds.shell import group_alive
from tests.conftest import REPO


def ctx(**overrides: object) -> RunContext:
    values: dict[str, object] = {"timeout": 10.0, "check_interval": 0.05, "kill_grace": 0.5}
    values.update(overrides)
    return RunContext(**values)  # type: ignore[arg-type]


def wait_until_group_gone(pgid: int, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return True
        time.sleep(0.02)
    return False


def test_exit_zero_succeeds_with_output() -> None:
    outcome = execute("shell", {"script": "echo hello; echo world"}, ctx())
    assert outcome.status == "succeeded"
    assert outcome.output == "hello\nworld\n"
    assert outcome.detail["exit_code"] == 0
    assert outcome.detail["signal"] is None
    assert outcome.detail["duration_seconds"] >= 0


def test_nonzero_exit_fails_with_exit_code_and_stderr_merged_in_order() -> None:
    outcome = execute("shell", {"script": "echo out; echo err >&2; echo out2; exit 3"}, ctx())
    assert outcome.status == "failed"
    assert outcome.output == "out\nerr\nout2\n"
    assert outcome.detail["exit_code"] == 3
    assert outcome.detail["error"] == "exited with status 3"


def test_death_by_signal_is_reported() -> None:
    outcome = execute("shell", {"argv": ["/bin/sh", "-c", "kill -SEGV $$"]}, ctx())
    assert outcome.status == "failed"
    assert outcome.detail["signal"] == "SIGSEGV"
    assert outcome.detail["exit_code"] is None


def test_argv_runs_without_a_shell() -> None:
    outcome = execute("shell", {"argv": ["/bin/echo", "a b", "$HOME", "*"]}, ctx())
    assert outcome.status == "succeeded"
    assert outcome.output == "a b $HOME *\n"


def test_stdin_is_empty() -> None:
    outcome = execute("shell", {"script": "cat; echo end"}, ctx(timeout=5))
    assert outcome.status == "succeeded"
    assert outcome.output == "end\n"


def test_cwd_and_env_apply_and_worker_env_is_inherited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_TEST_INHERITED", "from-worker")
    config = {"script": 'pwd; echo "$GREETING $BATON_TEST_INHERITED"', "cwd": str(tmp_path), "env": {"GREETING": "hi"}}
    outcome = execute("shell", config, ctx())
    assert outcome.status == "succeeded"
    assert outcome.output == f"{tmp_path}\nhi from-worker\n"


def test_missing_cwd_fails_before_starting(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    outcome = execute("shell", {"script": "touch created", "cwd": str(missing)}, ctx())
    assert outcome.status == "failed"
    assert "working directory" in outcome.detail["error"]
    assert str(missing) in outcome.detail["error"]
    assert "does not exist" in outcome.output


def test_command_not_found_fails_with_a_clear_message() -> None:
    outcome = execute("shell", {"argv": ["baton-no-such-command"]}, ctx())
    assert outcome.status == "failed"
    assert "command not found: 'baton-no-such-command'" in outcome.detail["error"]


def test_script_command_not_found_is_exit_127() -> None:
    outcome = execute("shell", {"script": "baton-no-such-command"}, ctx())
    assert outcome.status == "failed"
    assert outcome.detail["exit_code"] == 127
    assert "not found" in outcome.output


def test_invalid_config_fails_without_running() -> None:
    outcome = execute("shell", {"script": "echo a", "argv": ["echo"]}, ctx())
    assert outcome.status == "failed"
    assert "exactly one of 'script' or 'argv'" in outcome.detail["error"]


def test_timeout_kills_the_whole_process_group_quickly() -> None:
    started = time.monotonic()
    outcome = execute("shell", {"script": "sleep 30 & sh -c 'sleep 30'"}, ctx(timeout=0.5, kill_grace=0.5))
    elapsed = time.monotonic() - started
    assert outcome.status == "timed_out"
    assert elapsed < 0.5 + 0.5 + 2
    assert "timed out after 0.5s" in outcome.detail["error"]
    assert "[baton] timed out" in outcome.output
    pgid = outcome.detail["pid"]
    assert wait_until_group_gone(pgid)
    with pytest.raises(ProcessLookupError):
        live_check(pgid)


def live_check(pgid: int) -> None:
    """Raise ProcessLookupError when no live process is in the group (zombies reaped or not)."""
    if not group_alive(pgid):
        raise ProcessLookupError(pgid)
    os.killpg(pgid, 0)


def test_process_ignoring_sigterm_is_killed_after_grace() -> None:
    started = time.monotonic()
    outcome = execute("shell", {"script": "trap '' TERM; sleep 30"}, ctx(timeout=0.3, kill_grace=0.4))
    elapsed = time.monotonic() - started
    assert outcome.status == "timed_out"
    assert 0.3 + 0.4 <= elapsed < 0.3 + 0.4 + 2
    assert outcome.detail["signal"] == "SIGKILL"
    assert "SIGTERM then SIGKILL" in outcome.detail["error"]
    assert wait_until_group_gone(outcome.detail["pid"])


def test_should_cancel_stops_the_run() -> None:
    calls: list[float] = []

    def should_cancel() -> bool:
        calls.append(time.monotonic())
        return len(calls) >= 3

    started = time.monotonic()
    outcome = execute("shell", {"script": "echo started; sleep 30"}, ctx(timeout=None, should_cancel=should_cancel))
    assert outcome.status == "cancelled"
    assert time.monotonic() - started < 2
    assert outcome.output.startswith("started\n")
    assert "cancelled" in outcome.detail["error"]
    assert wait_until_group_gone(outcome.detail["pid"])


def test_should_cancel_is_called_while_running_as_heartbeat() -> None:
    calls: list[float] = []
    outcome = execute(
        "shell",
        {"script": "sleep 0.5"},
        ctx(should_cancel=lambda: calls.append(1) or False, check_interval=0.1),
    )
    assert outcome.status == "succeeded"
    assert 2 <= len(calls) <= 8


def test_a_raising_should_cancel_does_not_kill_the_task() -> None:
    def broken() -> bool:
        raise RuntimeError("database is down")

    outcome = execute("shell", {"script": "sleep 0.2; echo ok"}, ctx(should_cancel=broken))
    assert outcome.status == "succeeded"
    assert outcome.output == "ok\n"


def test_background_leftovers_are_stopped_and_do_not_hang() -> None:
    started = time.monotonic()
    outcome = execute("shell", {"script": "sleep 30 & echo done"}, ctx())
    assert time.monotonic() - started < 2
    assert outcome.status == "succeeded"
    assert outcome.output.startswith("done\n")
    assert outcome.detail["leftover_processes_stopped"] == ["SIGTERM"]
    assert wait_until_group_gone(outcome.detail["pid"])


def test_output_is_truncated_keeping_head_and_tail() -> None:
    script = "i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done"
    outcome = execute("shell", {"script": script}, ctx(output_limit=200))
    assert outcome.status == "succeeded"
    assert outcome.output.startswith("line0\nline1\n")
    assert outcome.output.endswith("line1999\n")
    assert "bytes truncated]…" in outcome.output
    assert outcome.detail["truncated"] is True
    assert outcome.detail["output_bytes"] > 10000
    assert len(outcome.output.encode()) < 200 + 40


def test_large_output_goes_to_a_file_not_memory() -> None:
    outcome = execute("shell", {"script": "head -c 20000000 /dev/zero | tr '\\0' x"}, ctx(output_limit=100))
    assert outcome.status == "succeeded"
    assert outcome.detail["output_bytes"] == 20_000_000
    assert outcome.output.startswith("x" * 50)
    assert "[19999900 bytes truncated]" in outcome.output


def test_secrets_are_masked_in_output() -> None:
    config = {
        "script": 'echo "token=$TOKEN"; echo "pw=$PW" >&2',
        "env": {"TOKEN": "tok-123", "PW": {"secret": "hunter2"}},
    }
    outcome = execute("shell", config, ctx(secrets=("tok-123",)))
    assert outcome.output == "token=***\npw=***\n"


def test_secret_is_masked_before_truncation_so_no_half_leaks() -> None:
    secret = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    script = f"printf '%s' {'x' * 90}{secret}{'y' * 90}"
    outcome = execute("shell", {"script": script}, ctx(output_limit=100, secrets=(secret,)))
    assert "ABC" not in outcome.output
    assert "XYZ" not in outcome.output


def test_a_file_that_is_not_executable_fails_with_permission_denied(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho no\n")
    outcome = execute("shell", {"argv": [str(script)]}, ctx())
    assert outcome.status == "failed"
    assert f"permission denied running {str(script)!r}" in outcome.detail["error"]


def test_a_bare_name_is_found_in_the_task_path_and_gets_its_own_argv0(tmp_path: Path) -> None:
    program = tmp_path / "baton-echo-argv0"
    program.write_text('#!/bin/sh\necho "$0 $1"\n')
    program.chmod(0o755)
    config = {"argv": ["baton-echo-argv0", "one"], "env": {"PATH": f"{tmp_path}:/usr/bin:/bin"}}
    outcome = execute("shell", config, ctx())
    assert outcome.status == "succeeded", outcome.output
    assert outcome.output == f"{program} one\n"


def test_the_process_group_is_recorded_once_for_a_command_that_keeps_running() -> None:
    recorded: list[int] = []
    outcome = execute("shell", {"script": "sleep 0.3"}, ctx(on_start=recorded.append))
    assert outcome.status == "succeeded"
    assert recorded == [outcome.detail["pid"]]


def test_a_command_done_at_once_leaving_nothing_behind_is_not_recorded() -> None:
    recorded: list[int] = []
    outcome = execute("shell", {"script": "true"}, ctx(on_start=recorded.append))
    assert outcome.status == "succeeded"
    assert recorded == []


def test_leftovers_are_recorded_before_they_are_stopped() -> None:
    """Stopping may take the grace period; a worker dying meanwhile leaves the sweep the group to kill."""
    recorded: list[tuple[int, bool]] = []
    outcome = execute(
        "shell",
        {"script": "sleep 30 & exit 0"},
        ctx(on_start=lambda pgid: recorded.append((pgid, group_alive(pgid)))),
    )
    assert outcome.detail["leftover_processes_stopped"] == ["SIGTERM"]
    assert recorded == [(outcome.detail["pid"], True)]


def test_a_guardian_that_died_is_replaced_at_the_next_task() -> None:
    assert GUARDIAN.ready()
    first = GUARDIAN.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while GUARDIAN.pid == first and time.monotonic() < deadline:
        time.sleep(0.01)
    outcome = execute("shell", {"script": "sleep 0.05"}, ctx())
    assert outcome.status == "succeeded"
    assert GUARDIAN.pid not in (None, first)


def test_the_guardian_kills_the_groups_still_listed_when_its_pipe_ends_and_only_those() -> None:
    from executions.kinds.processes import _GUARDIAN_SCRIPT

    groups = [subprocess.Popen(["sleep", "30"], start_new_session=True) for _ in range(3)]
    read, write = os.pipe()
    guardian = subprocess.Popen(["/bin/sh", "-c", _GUARDIAN_SCRIPT], stdin=read, env={})
    os.close(read)
    try:
        first, second, third = (group.pid for group in groups)
        os.write(write, f"+{first}\n+{second}\n+{third}\n-{second}\n-{first}\n+{first}\n".encode())
        os.close(write)
        assert guardian.wait(timeout=5) == 0
        codes = [group.wait(timeout=5) if group.pid != second else group.poll() for group in groups]
        assert codes == [-signal.SIGKILL, None, -signal.SIGKILL]
    finally:
        for group in groups:
            group.kill()
            group.wait()


DIES_WITH_ITS_STARTER = """
import os, sys, time
from executions.kinds import RunContext, execute
if sys.argv[2] == "fork":  # a process forked from the worker must not keep its guardian from seeing it die
    from executions.kinds.processes import GUARDIAN
    GUARDIAN.ready()
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
script = f"sleep 30 & echo $$ $! > {sys.argv[1]}.tmp; mv {sys.argv[1]}.tmp {sys.argv[1]}; sleep 30"
execute("shell", {"script": script, "env": {"PATH": "/usr/bin:/bin"}}, RunContext(timeout=60))
"""


@pytest.mark.parametrize("fork", ["plain", "fork"])
def test_the_command_and_its_background_processes_die_when_the_worker_is_killed(tmp_path: Path, fork: str) -> None:
    """kill -9 of the process running a shell task kills the task's whole group at once."""
    pid_file = tmp_path / "pids"
    pids: list[int] = []
    starter = subprocess.Popen(
        [sys.executable, "-c", DIES_WITH_ITS_STARTER, str(pid_file), fork], cwd=REPO, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists():
            assert time.monotonic() < deadline and starter.poll() is None, "the shell task did not start"
            time.sleep(0.02)
        pids = [int(pid) for pid in pid_file.read_text().split()]
        assert all(alive(pid) for pid in pids)
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait()
        deadline = time.monotonic() + 2
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not [pid for pid in pids if alive(pid)], "the shell task outlived the process that started it"
    finally:
        for group in (starter.pid, *pids[:1]):  # the worker stand-in (and its fork), the task's group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        starter.wait()


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


# -- masking and truncation (shared by every kind) -------------------------------------------


def test_mask_replaces_longest_secret_first() -> None:
    assert mask("pw=abcdef and abc", ["abc", "abcdef", ""]) == "pw=*** and ***"


def test_truncate_keeps_head_and_tail_within_the_limit() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("0123456789abcdefghij", 10) == "01234\n…[10 bytes truncated]…\nfghij"
    assert truncate("héllo wörld", 6) == "hé\n…[7 bytes truncated]…\nrld"


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.text(alphabet="ab€s3cr\n", max_size=12), max_size=12),
    secrets=st.lists(st.text(alphabet="ab€s3cr", min_size=1, max_size=5), max_size=3),
    limit=st.integers(min_value=0, max_value=60),
)
def test_streamed_output_equals_masking_then_truncating_the_whole(
    pieces: list[str], secrets: list[str], limit: int
) -> None:
    collector = OutputCollector(secrets, limit)
    for piece in pieces:
        collector.write(piece)
    assert collector.getvalue() == truncate(mask("".join(pieces), secrets), limit)
