"""Run one task of a given kind and report how it ended (SPEC §2).

``execute(kind, config, ctx)`` runs the task in the calling process with the executor
registered for its kind in ``EXECUTORS`` (one line per kind; each kind is declared in
``workflows.kinds``, under the same name) and returns an ``Outcome``; it never raises for
task-level problems (bad config, bad working directory, command not found, DNS failure, a
callable raising): those come back as ``Outcome(status="failed", detail={"error": ...})``. A
kind without an executor fails the same way, naming it: nothing runs in its stead. Nothing
here imports Django; the Celery task that calls it maps the outcome onto the node run.

Output (captured stdout/stderr, HTTP status line, headers and body, a callable's prints and
return value) is masked first (every value in ``ctx.secrets`` becomes ``***``) and then
truncated to ``ctx.output_limit`` bytes: the first half and the last half are kept, with
``…[N bytes truncated]…`` on its own line between them (see ``masking``). A short line
starting with ``[baton]`` is appended when Baton itself ended the task (timeout, cancel).

``detail`` is JSON-able and always holds ``duration_seconds``, ``output_bytes`` (masked
size before truncation) and ``truncated``; kind-specific keys are documented per module
(``exit_code``/``signal``/``pid`` for shell, ``status_code``/``address`` for http,
``error`` whenever the task did not succeed).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from executions.kinds import http, python, shell
from executions.kinds.executor import (
    CANCELLED,
    FAILED,
    STATUSES,
    SUCCEEDED,
    TIMED_OUT,
    Executor,
    Outcome,
    RunClock,
    RunContext,
    failed,
    refused_outputs,
)
from executions.kinds.masking import mask
from executions.kinds.outputs import OutputsProblem, finish
from workflows.kinds.fields import is_secret
from workflows.task_config import config_problems

logger = logging.getLogger(__name__)

EXECUTORS: dict[str, Executor] = {
    "shell": shell.run_shell,
    "http": http.run_http,
    "python": python.run_python,
}


def execute(kind: str, config: dict[str, Any], ctx: RunContext) -> Outcome:
    """Run a task of ``kind`` with ``config`` (secrets already plaintext) and say how it ended."""
    started = time.monotonic()
    executor = EXECUTORS.get(kind)
    if executor is None:
        known = ", ".join(EXECUTORS)
        return failed(f"unknown task kind {kind!r}: this worker runs {known} tasks", started=started)
    problems = config_problems(kind, config)
    if problems:
        message = "invalid task config: " + "; ".join(f"{path} {text}" for path, text in problems)
        return failed(mask(message, ctx.secrets), started=started)
    try:
        outcome = executor(config, ctx)
    except Exception as exc:  # a bug in Baton, not in the task: still never raise
        logger.exception("the %s executor crashed", kind)
        return failed(mask(f"internal error in the {kind} executor: {exc!r}", ctx.secrets), started=started)
    if not outcome.outputs:
        return outcome
    try:
        published = finish(outcome.outputs, (*ctx.secrets, *_secrets_in(config)), ctx.output_values_limit)
    except OutputsProblem as exc:
        return refused_outputs(outcome, str(exc))
    return dataclasses.replace(outcome, outputs=published)


def _secrets_in(value: Any) -> list[str]:
    """Return the plaintext of every ``{"secret": …}`` value in a config (env values, headers)."""
    if is_secret(value):
        return [str(value["secret"])]
    if isinstance(value, dict):
        return [secret for item in value.values() for secret in _secrets_in(item)]
    if isinstance(value, list):
        return [secret for item in value for secret in _secrets_in(item)]
    return []


__all__ = [
    "CANCELLED",
    "EXECUTORS",
    "FAILED",
    "STATUSES",
    "SUCCEEDED",
    "TIMED_OUT",
    "Executor",
    "Outcome",
    "RunClock",
    "RunContext",
    "execute",
    "failed",
]
