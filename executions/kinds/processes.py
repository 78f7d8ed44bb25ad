"""A shell task's child process: start it fast, wait for it, make sure its group is gone.

What each step protects, and how it stays cheap (docs/benchmarks.md has the measured costs):

- **Death with the worker.** Each worker process keeps a *guardian*: a tiny ``/bin/sh`` of
  its own session, started once, reading a pipe whose writing end only the worker holds. The
  worker writes ``+<pgid>`` when a task's child has started and ``-<pgid>`` once its group is
  gone; when the worker dies, even by ``kill -9``, the kernel closes the pipe, the guardian
  reads the end of it and SIGKILLs every group still listed, background grandchildren
  included. This replaced ``PR_SET_PDEATHSIG``, which can only be set in the child: from
  Python that needs a ``preexec_fn``, which forces CPython to ``fork()`` the whole worker (page
  tables of a Django worker, at-fork handlers, copy-on-write faults: about 10 ms per task)
  instead of ``vfork()`` (under 1 ms); and through ``setpriv --pdeathsig`` it costs a second
  ``exec`` per task. The pipe is not inherited by the task's children (``close_fds``), and a
  process forked from the worker in Python closes its copy (``os.register_at_fork``), so the
  worker's death is seen. If no guardian can be started, the ``preexec_fn`` path is used.
  A worker killed between the start of the child and the write leaves it to the recovery
  sweep, which kills the recorded process group (``executions.lifecycle.run.kill_orphan``).
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
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO

from executions.kinds.executor import RunClock

logger = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
_POLL = 0.02  # seconds between checks while waiting for a signalled group to exit


def spawn(argv: list[str], *, output: IO[bytes], cwd: str | None, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, stdin empty, stdout and stderr into ``output``; raise ``OSError``.

    The child's group is killed if this process dies (see the module's docstring);
    ``stop_process_group`` ends that watch.
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
    if not GUARDIAN.ready():
        return subprocess.Popen(argv, preexec_fn=_die_with_parent, **options)  # type: ignore[call-overload]
    process = subprocess.Popen(argv, **options)  # type: ignore[call-overload]
    GUARDIAN.watch(process.pid)
    return process


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the worker thread that started it dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# Keeps the groups listed ("+pgid" adds, "-pgid" removes: builtins only, no fork per line) and
# SIGKILLs the remaining ones when the pipe ends. Every group is a number by construction.
_GUARDIAN_SCRIPT = """\
groups=' '
while read -r line; do
  group=${line#?}
  case $line in
    +*) groups="$groups$group " ;;
    -*) case $groups in *" $group "*) groups="${groups% $group *} ${groups#* $group }" ;; esac ;;
  esac
done
for group in $groups; do kill -KILL -"$group" 2>/dev/null; done
exit 0
"""


class _Guardian:
    """This process's guardian: told which groups run, kills them if this process dies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe = -1
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    @property
    def pid(self) -> int | None:
        """The running guardian's pid, if one runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def ready(self) -> bool:
        """Return whether a guardian runs, starting one if needed."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return True
            self._close()
            try:
                self._start()
            except OSError:
                logger.warning("no guardian for shell tasks; they die with the worker through preexec_fn")
                self._close()
                return False
            return True

    def watch(self, pgid: int) -> None:
        """Have the group killed if this process dies."""
        if not self._send(f"+{pgid}\n") and not (self.ready() and self._send(f"+{pgid}\n")):
            logger.warning("the guardian did not take process group %s; the sweep kills it if need be", pgid)

    def release(self, pgid: int) -> None:
        """The group is gone: forget it."""
        self._send(f"-{pgid}\n")

    def _send(self, line: str) -> bool:
        with self._lock:
            if self._pipe < 0:
                return False
            try:
                os.write(self._pipe, line.encode())
            except BlockingIOError:  # not reading (stopped?): keep it, for it still lists the running groups
                return False
            except OSError:  # gone (EPIPE): start another next time
                self._close()
                return False
            return True

    def _start(self) -> None:
        read, write = os.pipe()
        try:
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", _GUARDIAN_SCRIPT],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            os.close(write)
            raise
        finally:
            os.close(read)
        os.set_blocking(write, False)
        self._pipe = write

    def _close(self) -> None:
        if self._pipe >= 0:
            with contextlib.suppress(OSError):
                os.close(self._pipe)  # an old guardian reads the end and kills what it still lists
            self._pipe = -1
        if self._process is not None:
            self._process.poll()  # reap it if it is gone
            self._process = None

    def _forget(self) -> None:
        """In a forked child: close the parent's pipe, so its guardian still sees the parent die."""
        if self._pipe >= 0:
            with contextlib.suppress(OSError):
                os.close(self._pipe)
        self._lock = threading.Lock()
        self._process, self._pipe = None, -1


GUARDIAN = _Guardian()


def wait_for_exit(
    process: subprocess.Popen[bytes],
    clock: RunClock,
    *,
    still_running: Callable[[], None] | None = None,
    after: float = 0.0,
    tick: Callable[[], None] | None = None,
) -> str | None:
    """Wait for the process; return ``TIMED_OUT``/``CANCELLED`` if it must be stopped first.

    Wakes at the process's exit, or every ``clock.next_wait()`` seconds to check the clock.
    ``still_running`` is called once if the process still runs ``after`` seconds after the start;
    ``tick`` before each check of the clock (the running output is handed on there).
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
            if tick is not None:
                tick()
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
    4. Either way, the guardian stops watching the group.
    """
    try:
        return _stop(process, grace, before_signals)
    finally:
        GUARDIAN.release(process.pid)


def _stop(process: subprocess.Popen[bytes], grace: float, before_signals: Callable[[], None] | None) -> list[str]:
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


__all__ = ["GUARDIAN", "group_alive", "scan_group", "spawn", "stop_process_group", "wait_for_exit"]
