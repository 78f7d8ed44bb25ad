"""What every executor shares: the run's context, its clock, the outcome it returns.

An executor is ``run(config, ctx) -> Outcome`` (``Executor``): it runs one task of its kind in
the calling process, with ``config``'s secrets already plaintext, and never raises for
task-level problems. ``executions.kinds`` registers one per task kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"
STATUSES = (SUCCEEDED, FAILED, TIMED_OUT, CANCELLED)


def _never() -> bool:
    return False


@dataclass(frozen=True)
class RunContext:
    """What a task run may use besides its config: limits, secrets and the cancel hook."""

    timeout: float | None  # the task's timeout in seconds (None = no limit)
    output_limit: int = 65536  # bytes of captured output kept, after masking
    output_values_limit: int = 16384  # bytes (as JSON) of the values a run may publish (`outputs`)
    # Called about every check_interval seconds while the task runs, possibly from a
    # non-main thread; also the heartbeat hook. True means cancel now.
    should_cancel: Callable[[], bool] = _never
    check_interval: float = 1.0
    kill_grace: float = 5.0  # SIGTERM, wait this long, then SIGKILL
    secrets: tuple[str, ...] = ()  # plaintext values masked as "***" in every output
    # CIDRs and host names allowed despite the SSRF guard (BATON_HTTP_ALLOWED_NETWORKS)
    http_allowed_networks: tuple[str, ...] = ()
    # Called once with the process group id of a shell task's process that still runs after
    # shell.RECORD_AFTER seconds (or left processes behind), so the group can be killed from
    # outside if this worker dies.
    on_start: Callable[[int], None] = lambda pgid: None
    # Called about every check_interval seconds, before ``should_cancel``, with the output so far
    # (masked, head and tail kept) while it grows: the heartbeat stores it, so the run can be watched.
    live_output: Callable[[str], None] = lambda text: None


@dataclass(frozen=True)
class Outcome:
    """How a task run ended: its status, its captured output and JSON-able details."""

    status: str  # "succeeded" | "failed" | "timed_out" | "cancelled"
    output: str
    detail: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)  # the values published for later nodes

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


class RunClock:
    """Track a run's deadline and ask ``should_cancel`` whether to stop."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.started = time.monotonic()
        self.deadline = None if ctx.timeout is None else self.started + max(0.0, ctx.timeout)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float | None:
        """Return the seconds left before the timeout, or ``None`` without a timeout."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def next_wait(self) -> float:
        """Return how long to wait before the next check: the interval, or less near the end."""
        interval = max(0.01, self.ctx.check_interval)
        remaining = self.remaining()
        return interval if remaining is None else min(interval, remaining)

    def check(self) -> str | None:
        """Return ``TIMED_OUT`` or ``CANCELLED`` when the run must stop, else ``None``."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return TIMED_OUT
        return CANCELLED if self.cancel_requested() else None

    def cancel_requested(self) -> bool:
        """Call ``should_cancel``; a hook that raises is logged and taken as "keep going"."""
        try:
            return bool(self.ctx.should_cancel())
        except Exception:
            logger.exception("should_cancel raised; the task keeps running")
            return False

    def stop_message(self, reason: str) -> str:
        """Return the sentence explaining why Baton stopped the task."""
        if reason == TIMED_OUT:
            return f"timed out after {self.ctx.timeout:g}s"
        return f"cancelled after {self.elapsed():.1f}s"


def failed(error: str, *, started: float, output: str | None = None, **detail: Any) -> Outcome:
    """Return a failed outcome whose output (by default) and detail carry ``error``."""
    text = error if output is None else output
    detail = {
        "error": error,
        "duration_seconds": round(time.monotonic() - started, 3),
        "output_bytes": len(text.encode("utf-8")),
        "truncated": False,
        **detail,
    }
    return Outcome(status=FAILED, output=text, detail=detail)


def refused_outputs(outcome: Outcome, problem: str) -> Outcome:
    """Return the outcome without published values, failed (unless it already did not succeed), saying why."""
    separator = "" if not outcome.output or outcome.output.endswith("\n") else "\n"
    detail = dict(outcome.detail)
    if outcome.status == SUCCEEDED:
        detail["error"] = problem
    else:
        detail["outputs_error"] = problem
    status = FAILED if outcome.status == SUCCEEDED else outcome.status
    return Outcome(status=status, output=f"{outcome.output}{separator}[baton] {problem}\n", detail=detail, outputs={})


Executor = Callable[[dict[str, Any], RunContext], Outcome]  # runs one task of its kind and says how it ended
