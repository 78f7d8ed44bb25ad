"""Run a ``shell`` task: a script through ``/bin/sh -c`` or an argv list executed directly.

Decisions:

- The child gets its own session and process group (``start_new_session=True``), stdin from
  ``/dev/null``, and stdout and stderr merged in order (as a terminal shows them) into an
  unlinked temporary file, never a pipe: output of any size costs disk, not worker memory,
  and a background grandchild keeping the file open cannot hang the worker. It is killed if
  the worker dies; how it is started, waited for and stopped cheaply is ``processes``'.
- Environment: the worker's environment (``os.environ``) plus the task's ``env``, which wins.
  Shell tasks therefore see what the worker sees (PATH, HOME, proxies…); run workers with
  only the variables tasks may see. ``{"secret": value}`` env values are accepted as well as
  plaintext and masked either way.
- ``cwd`` must be an existing directory; otherwise the task fails before anything starts.
- Stopping (timeout, cancel, leftovers): SIGTERM to the whole process group, up to
  ``kill_grace`` seconds for every process of the group to exit, then SIGKILL to the group.
  When the main process exits on its own but left processes running in its group (``cmd &``),
  those are stopped the same way: a task may not leave processes behind (a deliberate daemon
  must ``setsid`` itself). The run's status still follows the main process's exit status.
- Outputs: ``$BATON_OUTPUT`` names a file in a folder private to the worker process (mode 0700),
  new for each run and removed after it; the task creates it by writing (``>>``). What the task
  wrote there is read once the process has ended (``executions.kinds.outputs``),
  whatever its exit status, and a file that cannot be read fails a run that succeeded.
- Status: exit 0 → succeeded; other exit or death by a signal → failed (``detail.exit_code``
  or ``detail.signal``); ``timed_out``/``cancelled`` when Baton stopped it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from typing import IO, Any

from executions.kinds.executor import (
    FAILED,
    SUCCEEDED,
    Outcome,
    RunClock,
    RunContext,
    failed,
    refused_outputs,
)
from executions.kinds.masking import OutputCollector, mask
from executions.kinds.outputs import OutputsProblem, read_output_file
from executions.kinds.processes import group_alive, spawn, stop_process_group, wait_for_exit
from workflows.kinds.fields import is_secret

logger = logging.getLogger(__name__)
_CHUNK = 1 << 16
# Record the process group (``ctx.on_start``) only for a command still running after this
# many seconds: one that ends sooner leaves nothing for the sweep to kill (docs/decisions.md).
RECORD_AFTER = 0.01


def run_shell(config: dict[str, Any], ctx: RunContext) -> Outcome:
    """Run the command in ``config`` under the limits of ``ctx``."""
    clock = RunClock(ctx)
    env_overrides, env_secrets = _split_env(config.get("env") or {})
    secrets = (*ctx.secrets, *env_secrets)
    argv = ["/bin/sh", "-c", config["script"]] if "script" in config else list(config["argv"])
    cwd = config.get("cwd") or None
    if cwd is not None and not os.path.isdir(cwd):
        message = f"working directory {cwd!r} does not exist or is not a directory"
        return failed(mask(message, secrets), started=clock.started)
    values_path = _values_path()
    try:
        return _run(argv, cwd, env_overrides, values_path, secrets, clock, ctx)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(values_path)


_values_dir: list[str] = []  # this process's private folder (0700) for the runs' $BATON_OUTPUT files
_values_names = itertools.count()


def _values_path() -> str:
    """Return a fresh path for a run's ``$BATON_OUTPUT`` in this process's private folder (made once).

    The file is not created: the task's ``>>`` creates it, and a run that publishes nothing costs
    one failed open (cheaper than making and removing a file for every shell node).
    """
    if not _values_dir or not os.path.isdir(_values_dir[0]):
        _values_dir[:] = [tempfile.mkdtemp(prefix=f"baton-output-{os.getpid()}-")]
        atexit.register(shutil.rmtree, _values_dir[0], ignore_errors=True)
    return os.path.join(_values_dir[0], str(next(_values_names)))


def _run(
    argv: list[str],
    cwd: str | None,
    env_overrides: dict[str, str],
    values_path: str,
    secrets: tuple[str, ...],
    clock: RunClock,
    ctx: RunContext,
) -> Outcome:
    """Start the command with ``$BATON_OUTPUT`` naming ``values_path``, wait for it, and read what it left."""
    with tempfile.TemporaryFile(prefix="baton-shell-") as out:
        try:
            process = spawn(argv, output=out, cwd=cwd, env={**os.environ, **env_overrides, "BATON_OUTPUT": values_path})
        except OSError as exc:
            return failed(mask(_start_error(argv[0], exc), secrets), started=clock.started)
        record_group = _group_recorder(ctx, process.pid)
        stopped_by: str | None = None
        signals_sent: list[str] = []
        live = _LiveOutput(out.fileno(), secrets, ctx)
        try:
            stopped_by = wait_for_exit(process, clock, still_running=record_group, after=RECORD_AFTER, tick=live.update)
        finally:
            signals_sent = stop_process_group(process, ctx.kill_grace, before_signals=record_group)
        outcome = _outcome(process, out, clock, secrets, stopped_by, signals_sent)
        return _with_published(outcome, values_path, ctx.output_values_limit)


def _with_published(outcome: Outcome, path: str, limit: int) -> Outcome:
    """Read what the task wrote to ``$BATON_OUTPUT`` (at most a little past the limit) into the outcome."""
    try:
        with open(path, "rb") as values:
            data = values.read(4 * limit + 1)
        if len(data) > 4 * limit:
            raise OutputsProblem(f"$BATON_OUTPUT holds more than {4 * limit} bytes (BATON_OUTPUT_VALUES_LIMIT)")
        published = read_output_file(data) if data else {}
    except OutputsProblem as exc:
        return refused_outputs(outcome, str(exc))
    except FileNotFoundError:  # the task wrote nothing there (most do not)
        published = {}
    except OSError as exc:  # the task replaced the file by something unreadable: nothing was published
        logger.info("could not read $BATON_OUTPUT: %s", exc)
        published = {}
    return Outcome(status=outcome.status, output=outcome.output, detail=outcome.detail, outputs=published)


def _group_recorder(ctx: RunContext, pgid: int) -> Callable[[], None]:
    """Return a function that records the process group with ``ctx.on_start``, once."""
    recorded: list[int] = []

    def record_group() -> None:
        if recorded:
            return
        recorded.append(pgid)
        try:
            ctx.on_start(pgid)
        except Exception:  # the task runs even if the record fails; log and go on
            logger.exception("could not record the process group of a shell task")

    return record_group


def _split_env(env: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Return the env values as plain strings, and those that were marked secret."""
    plain: dict[str, str] = {}
    secrets: list[str] = []
    for name, value in env.items():
        if is_secret(value):
            value = value["secret"]
            secrets.append(str(value))
        plain[str(name)] = str(value)
    return plain, secrets


def _start_error(program: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {program!r} ({exc.strerror})"
    if isinstance(exc, PermissionError):
        return f"permission denied running {program!r} ({exc.strerror})"
    return f"could not start {program!r}: {exc.strerror or exc}"


class _LiveOutput:
    """The output so far, read from the capture file at each check and handed to ``ctx.live_output`` when it grew."""

    def __init__(self, fd: int, secrets: tuple[str, ...], ctx: RunContext) -> None:
        self.fd, self.ctx, self.read = fd, ctx, 0
        self.collector = OutputCollector(secrets, ctx.output_limit)

    def update(self) -> None:
        grew = False
        while chunk := os.pread(self.fd, _CHUNK, self.read):
            self.read += len(chunk)
            self.collector.write_bytes(chunk)
            grew = True
        if grew:
            try:
                self.ctx.live_output(self.collector.snapshot())
            except Exception:  # watching is a convenience: the task runs on
                logger.exception("could not hand on the live output of a shell task")


def _outcome(
    process: subprocess.Popen[bytes],
    out: IO[bytes],
    clock: RunClock,
    secrets: tuple[str, ...],
    stopped_by: str | None,
    signals_sent: list[str],
) -> Outcome:
    collector = OutputCollector(secrets, clock.ctx.output_limit)
    out.seek(0)
    while chunk := out.read(_CHUNK):
        collector.write_bytes(chunk)
    output = collector.getvalue()
    code = process.returncode
    detail: dict[str, Any] = {
        "pid": process.pid,
        "exit_code": code if code is not None and code >= 0 else None,
        "signal": _signal_name(-code) if code is not None and code < 0 else None,
        "duration_seconds": round(clock.elapsed(), 3),
        "output_bytes": collector.total_bytes,
        "truncated": collector.truncated,
    }
    if stopped_by is not None:
        status = stopped_by
        error = clock.stop_message(stopped_by)
        detail["error"] = f"{error}; sent {' then '.join(signals_sent) or 'nothing'} to the process group"
        return Outcome(status=status, output=_with_note(output, detail["error"]), detail=detail)
    if signals_sent:
        detail["leftover_processes_stopped"] = signals_sent
        output = _with_note(output, "stopped processes left running in the task's process group")
    if code == 0:
        return Outcome(status=SUCCEEDED, output=output, detail=detail)
    if code is not None and code < 0:
        detail["error"] = f"killed by signal {detail['signal']}"
    else:
        detail["error"] = f"exited with status {code}"
    return Outcome(status=FAILED, output=output, detail=detail)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _with_note(output: str, note: str) -> str:
    separator = "" if not output or output.endswith("\n") else "\n"
    return f"{output}{separator}[baton] {note}\n"


__all__ = ["group_alive", "run_shell", "stop_process_group"]
