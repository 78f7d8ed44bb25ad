"""A shell task's child process: start it fast, wait for it, make sure its group is gone.

What each step protects, and how it stays cheap (docs/benchmarks.md has the measured costs):

- **Death with the worker.** The child gets ``PR_SET_PDEATHSIG`` = SIGKILL: the kernel kills it
  when the worker thread that started it dies, even by ``kill -9``. Setting it from Python
  needs ``preexec_fn``, which forces CPython to ``fork()`` the whole worker (page tables of a
  Django worker, every at-fork handler, copy-on-write faults) instead of ``vfork()``: about
  10 ms per task against 1 ms. So where util-linux's ``setpriv`` can set it, the child is
  started on the fast path as ``setpriv --pdeathsig KILL -- <command>``, which sets it and
  execs the command in the same process (same pid, same parent, same group). Otherwise the
  slow ``preexec_fn`` path is kept. Either way the signal can only be set a moment after the
  child exists; a worker killed in that moment leaves the child to the recovery sweep, which
  kills the recorded process group (``executions.lifecycle.run.kill_orphan``).
- **Errors before the start.** A command that cannot be executed is reported as before
  ("command not found", "permission denied"): with ``setpriv`` in between, exec's own error
  would only be setpriv's exit status, so the program is looked up here first.
- **Waiting.** A ``pidfd`` (Linux ≥ 5.3) becomes readable the moment the child exits, so the
  wait ends at once, and still wakes every check interval for the heartbeat and the cancel
  check. ``Popen.wait(timeout)`` polls with growing sleeps instead (1, 2, 4… ms), which adds
  up to half the command's run time; it remains the fallback.
- **The record of the process group** (``RunContext.on_start``, a database write the sweep
  reads to kill the group of a worker that died) is written only once the command has run
  for ``shell.RECORD_AFTER`` seconds, while it runs: a command that ends sooner has nothing left
  to kill, and its worker does not wait for a write (about 3 ms) longer than the command.
- **Leftovers.** After the leader exits, one ``killpg(pgid, 0)`` says whether anything of its
  group is left; only if something is does ``/proc`` get scanned (to tell zombies apart).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO

from executions.kinds.executor import RunClock

_PR_SET_PDEATHSIG = 1
_POLL = 0.02  # seconds between checks while waiting for a signalled group to exit


def spawn(argv: list[str], *, output: IO[bytes], cwd: str | None, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, stdin empty, stdout and stderr into ``output``; raise ``OSError``.

    The child is set to be killed when the calling thread dies (see the module's docstring).
    """
    options = {
        "stdin": subprocess.DEVNULL,
        "stdout": output,
        "stderr": subprocess.STDOUT,
        "cwd": cwd,
        "env": dict(env),
        "start_new_session": True,
        "close_fds": True,
    }
    launcher = death_launcher()
    if launcher is None:
        return subprocess.Popen(argv, preexec_fn=_die_with_parent, **options)  # type: ignore[call-overload]
    problem = exec_problem(argv[0], env, cwd)
    if problem is not None:
        raise problem
    return subprocess.Popen([*launcher, *argv], **options)  # type: ignore[call-overload]


@functools.cache
def death_launcher() -> tuple[str, ...] | None:
    """Return the ``setpriv`` prefix that sets the parent-death signal, if this system has one that can."""
    if not sys.platform.startswith("linux"):
        return None
    path = shutil.which("setpriv")
    if path is None:
        return None
    prefix = (path, "--pdeathsig", "KILL", "--")
    try:
        probe = subprocess.run(
            [*prefix, "/bin/sh", "-c", ":"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return prefix if probe.returncode == 0 else None


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the worker thread that started it dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def exec_problem(program: str, env: Mapping[str, str], cwd: str | None) -> OSError | None:
    """Return the error exec would give for ``program`` (not found, not executable), or ``None``.

    A name with a slash is taken relative to ``cwd``; a bare name is searched in the child's PATH.
    """
    if os.sep in program:
        candidates = [os.path.join(cwd or "", program)]
    else:
        candidates = [os.path.join(d or ".", program) for d in env.get("PATH", os.defpath).split(os.pathsep)]
    denied = False
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return None
            denied = True
    if denied:
        return PermissionError(13, os.strerror(13), program)
    return FileNotFoundError(2, os.strerror(2), program)


def wait_for_exit(
    process: subprocess.Popen[bytes],
    clock: RunClock,
    *,
    still_running: Callable[[], None] | None = None,
    after: float = 0.0,
) -> str | None:
    """Wait for the process; return ``TIMED_OUT``/``CANCELLED`` if it must be stopped first.

    Wakes at the process's exit, or every ``clock.next_wait()`` seconds to check the clock.
    ``still_running`` is called once if the process still runs ``after`` seconds after the start.
    """
    with _exit_signal(process.pid) as exited:

        def block(seconds: float) -> None:
            if exited is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=seconds)
            else:
                exited.poll(seconds * 1000)

        if still_running is not None:
            block(min(after, clock.next_wait()))
            if process.poll() is None:
                still_running()
        while process.poll() is None:
            block(clock.next_wait())
            if process.poll() is not None:
                break
            reason = clock.check()
            if reason is not None:
                return reason
    return None


@contextlib.contextmanager
def _exit_signal(pid: int):  # type: ignore[no-untyped-def]
    """Yield a ``select.poll`` that turns readable when ``pid`` exits, or ``None`` without pidfds."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        yield None
        return
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        yield poller
    finally:
        os.close(pidfd)


def stop_process_group(
    process: subprocess.Popen[bytes], grace: float, *, before_signals: Callable[[], None] | None = None
) -> list[str]:
    """Make sure no process of the child's group survives; return the signals sent.

    1. If the leader has exited and nothing else of its group runs, there is nothing to do.
       Otherwise ``before_signals`` is called first (the shell executor records the group
       there, if it has not yet: stopping may take ``grace`` seconds).
    2. SIGTERM the group, then poll (reaping the leader) until the group is empty or
       ``grace`` seconds passed.
    3. SIGKILL the group and reap the leader. The group id is the leader's pid, which the
       kernel does not reuse while any member of the group exists.
    """
    pgid = process.pid
    if process.poll() is not None and not group_alive(pgid):
        return []
    if before_signals is not None:
        before_signals()
    sent = ["SIGTERM"]
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + max(0.0, grace)
    while time.monotonic() < deadline:
        if process.poll() is not None and not group_alive(pgid):
            return sent
        time.sleep(_POLL)
    sent.append("SIGKILL")
    _signal_group(pgid, signal.SIGKILL)
    process.wait()
    return sent


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def group_alive(pgid: int) -> bool:
    """Return whether a live (non-zombie) process is in group ``pgid``.

    1. ``killpg(pgid, 0)`` failing with "no such process" means the group is empty: the usual
       answer once a task's command has exited, in one system call.
    2. Otherwise scan ``/proc``: zombies are ignored, since an orphan whose reaper is slow
       (PID 1 in a container) is already dead. Without ``/proc``, a group that exists counts
       as alive, zombies included.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return scan_group(pgid)


def scan_group(pgid: int) -> bool:
    """Return whether ``/proc`` shows a live (non-zombie) process in group ``pgid``; True without ``/proc``."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


__all__ = ["death_launcher", "exec_problem", "group_alive", "spawn", "stop_process_group", "wait_for_exit"]
