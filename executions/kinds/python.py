"""Run a ``python`` task: call a callable registered in ``workflows.registry`` with JSON kwargs.

Decisions:

- The callable runs in the calling thread (a Celery prefork child or solo worker runs it in
  its main thread). Its prints to ``sys.stdout``/``sys.stderr`` are captured through
  ``redirect_stdout``/``redirect_stderr``, which swap the process-wide streams: prints from
  other threads during the run land in the task's output too. Capture is masked and kept
  head+tail as it arrives, so a chatty callable cannot exhaust memory.
- A callable that returns a mapping (``dict``) publishes it as the node's outputs (string keys
  that are names, JSON values; otherwise the run fails saying which key).
- Output ends with ``return value: <JSON>`` (or the ``repr`` when not JSON-able); an exception
  makes the run fail with the last lines of its traceback in the output and
  ``detail.error = "ExceptionType: message"``.
- Timeout and cancel interrupt the callable by raising an internal ``BaseException``
  (``TaskInterrupted``) inside it, so ``except Exception`` in user code does not swallow it:
  - in the main thread, a watcher thread sends ``SIGUSR2`` to the main thread, whose
    temporary handler raises; this also breaks ``time.sleep`` and blocking socket calls.
    The previous SIGUSR2 handler is restored afterwards;
  - in any other thread (no signals there), ``PyThreadState_SetAsyncExc`` raises in the
    running thread at its next bytecode, so a blocking C call (``time.sleep(60)``) ends first.
  The interruption is repeated every ``check_interval`` while the callable keeps running
  (it may catch ``BaseException``). Code that never returns to the interpreter cannot be
  interrupted; Celery's hard time limit is the last resort.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Mapping
from types import FrameType
from typing import Any

import executions.builtins  # noqa: F401 - registers the baton.* callables
from executions.kinds.executor import (
    FAILED,
    SUCCEEDED,
    Outcome,
    RunClock,
    RunContext,
    failed,
    refused_outputs,
)
from executions.kinds.masking import OutputCollector, live_ticker, mask
from executions.kinds.outputs import OutputsProblem, from_mapping
from workflows import registry

_TRACEBACK_LINES = 20


class TaskInterrupted(BaseException):
    """Raised inside a running callable to stop it (timeout or cancel)."""


def run_python(config: dict[str, Any], ctx: RunContext) -> Outcome:
    """Call the registered callable named in ``config`` with its kwargs under ``ctx``'s limits."""
    clock = RunClock(ctx)
    name = config["callable"]
    try:
        function = registry.get(name)
    except KeyError as exc:
        return failed(mask(str(exc.args[0]), ctx.secrets), started=clock.started)
    kwargs = config.get("kwargs") or {}
    collector = OutputCollector(ctx.secrets, ctx.output_limit)
    status, error, result = SUCCEEDED, None, None
    interrupter = _Interrupter(clock, live_ticker(collector, ctx.live_output))
    try:
        with contextlib.redirect_stdout(collector), contextlib.redirect_stderr(collector), interrupter:
            result = function(**kwargs)
    except TaskInterrupted:
        status = interrupter.reason or FAILED
        error = clock.stop_message(status) if interrupter.reason else "interrupted"
    except Exception as exc:
        status, error = FAILED, f"{type(exc).__name__}: {exc}"
        collector.write(("" if collector.at_line_start else "\n") + _traceback_tail(exc))
    else:
        separator = "" if collector.at_line_start else "\n"
        collector.write(f"{separator}return value: {_render(result)}\n")
    output = collector.getvalue()
    detail: dict[str, Any] = {
        "callable": name,
        "duration_seconds": round(clock.elapsed(), 3),
        "output_bytes": collector.total_bytes,
        "truncated": collector.truncated,
    }
    if error is not None:
        detail["error"] = mask(error, ctx.secrets)
    if status not in (SUCCEEDED, FAILED):
        output += ("" if not output or output.endswith("\n") else "\n") + f"[baton] {detail['error']}\n"
    outcome = Outcome(status=status, output=output, detail=detail)
    if status == SUCCEEDED and isinstance(result, Mapping):
        try:
            return Outcome(status=status, output=output, detail=detail, outputs=from_mapping(result))
        except OutputsProblem as exc:
            return refused_outputs(outcome, str(exc))
    return outcome


def _render(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)


def _traceback_tail(exc: BaseException) -> str:
    """Return the last lines of ``exc``'s traceback, without Baton's own frame."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
    text = "".join(lines).rstrip("\n").splitlines()
    if len(text) > _TRACEBACK_LINES:
        text = ["Traceback (most recent call last, earlier frames left out):", *text[-_TRACEBACK_LINES:]]
    return "\n".join(text) + "\n"


class _Interrupter:
    """Interrupt the calling thread when the run times out or is cancelled.

    1. ``__enter__`` records the calling thread, installs the SIGUSR2 handler when that is
       the main thread, sets ``armed`` and hands itself to the process's watcher thread.
    2. The watcher (`_Watcher`, one thread a process) waits ``check_interval`` (less near the
       deadline) and asks ``clock.check()``; once there is a reason it interrupts the caller
       while ``armed``, again every interval until the caller leaves the callable.
    3. ``__exit__`` runs in the caller: under the watcher's lock it clears ``armed`` and takes
       itself off the watch (the watcher interrupts only under that lock, so none is sent
       after it) and, in the thread case, clears any asynchronous exception still pending, so
       none can fire after the run. An interruption landing inside ``__exit__`` itself (the
       callable had just returned) is caught and the loop repeats, so cleanup always completes.
    4. The signal handler raises only while ``armed``; it runs in the caller's thread, so
       once ``__exit__`` cleared ``armed`` a late SIGUSR2 is a no-op. The previous handler is
       restored only after the run left the watch, when no more signals can be sent.
    """

    def __init__(self, clock: RunClock, tick: Any = None) -> None:
        self.clock = clock
        self.tick = tick
        self.reason: str | None = None
        self.armed = False
        self._thread_id = 0
        self._use_signal = False
        self._previous_handler: Any = None

    def __enter__(self) -> _Interrupter:
        self._thread_id = threading.get_ident()
        self._use_signal = threading.current_thread() is threading.main_thread()
        if self._use_signal:
            self._previous_handler = signal.signal(signal.SIGUSR2, self._on_signal)
        self.armed = True
        _watcher().watch(self, self.clock.next_wait())
        return self

    def __exit__(self, *exc_info: object) -> None:
        while True:
            try:
                _watcher().forget(self)
                if not self._use_signal:
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id), None)
                break
            except TaskInterrupted:
                continue
        if self._use_signal:
            signal.signal(signal.SIGUSR2, self._previous_handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            raise TaskInterrupted(self.reason)

    def check(self) -> float:
        """Look once (the watcher calls this, off the lock: it may query the database); return the next wait."""
        if self.reason is None:
            if self.tick is not None:
                with contextlib.suppress(Exception):  # watching is a convenience: the callable runs on
                    self.tick()
            self.reason = self.clock.check()
        if self.reason is None:
            return self.clock.next_wait()
        return max(0.01, self.clock.ctx.check_interval)

    def interrupt(self) -> None:
        """Interrupt the caller (the watcher calls this under its lock, while armed)."""
        if self._use_signal:
            signal.pthread_kill(self._thread_id, signal.SIGUSR2)
        else:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(TaskInterrupted)
            )


class _Watcher:
    """The one thread of a process that watches its running callables.

    Until issue 17 each run started a thread of its own and joined it: 0.3–0.5 ms of a no-op
    node's time on a busy worker (`Thread.start` waits for the new thread to run), most of a
    short callable's cost. This thread is started once a process (again in a forked child)
    and sleeps while nothing runs.
    """

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.due: dict[_Interrupter, float] = {}  # each watched run → when to look next (monotonic)
        self.wakes_at = -math.inf  # when the thread looks next, if it sleeps (under the lock)
        self.thread = threading.Thread(target=self._run, name="baton-python-watcher", daemon=True)
        self.thread.start()

    def watch(self, run: _Interrupter, wait: float) -> None:
        """Watch a run; wake the thread only if the run is due before the thread's next look.

        A short callable ends long before its first look (the heartbeat interval): waking the
        thread for each would hand it the interpreter lock once a run for nothing.
        """
        with self.lock:
            at = self.due[run] = time.monotonic() + wait
            if at < self.wakes_at:
                self.lock.notify()

    def forget(self, run: _Interrupter) -> None:
        with self.lock:
            run.armed = False
            self.due.pop(run, None)

    def _run(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                ready = [run for run, at in self.due.items() if at <= now]
                if not ready:
                    self.wakes_at = min(self.due.values(), default=now + 60)
                    self.lock.wait(self.wakes_at - now)
                    self.wakes_at = -math.inf  # awake: a run watched now is seen by this loop
                    continue
                for run in ready:
                    self.due[run] = math.inf  # being looked at, off the lock
            for run in ready:
                wait = run.check()
                with self.lock:
                    if run not in self.due:
                        continue  # it ended meanwhile
                    if run.reason is not None and run.armed:
                        run.interrupt()
                    self.due[run] = time.monotonic() + wait


_WATCHER: tuple[int, _Watcher] | None = None
_WATCHER_LOCK = threading.Lock()


def _watcher() -> _Watcher:
    """The process's watcher, started at its first run (a forked child starts its own)."""
    global _WATCHER
    current = _WATCHER
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _WATCHER_LOCK:
        if _WATCHER is None or _WATCHER[0] != os.getpid():
            _WATCHER = (os.getpid(), _Watcher())
        return _WATCHER[1]


def _after_fork_in_child() -> None:
    global _WATCHER, _WATCHER_LOCK
    _WATCHER, _WATCHER_LOCK = None, threading.Lock()  # the parent's thread and locks did not come along


os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = ["TaskInterrupted", "run_python"]
