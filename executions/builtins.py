"""Built-in python tasks, registered on import, for demos, dry runs and benchmarks.

- ``baton.echo(message="", **kwargs)`` prints the message and returns it; other keyword
  arguments are accepted and ignored, so any demo config runs.
- ``baton.sleep(seconds=1.0)`` sleeps in short slices (so it can be interrupted at once even
  outside the main thread) and returns the seconds slept.
- ``baton.fail(message="failed on purpose")`` raises ``RuntimeError(message)``.
- ``baton.noop()`` does nothing and returns ``None``.
- ``baton.publish(**values)`` prints and returns its keyword arguments: the node's outputs.
- ``baton.log(message="", level="info")`` logs the message through the ``baton.task`` logger
  (the worker's log, with the run's ids under ``BATON_LOG_FORMAT=json``) and returns it.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from workflows.registry import task

_SLICE = 0.05


@task("baton.echo")
def echo(message: str = "", **kwargs: Any) -> str:
    """Print ``message`` and return it."""
    print(message)
    return message


@task("baton.sleep")
def sleep(seconds: float = 1.0) -> float:
    """Sleep for ``seconds`` and return them."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(_SLICE, left))
    return seconds


@task("baton.fail")
def fail(message: str = "failed on purpose") -> None:
    """Raise ``RuntimeError(message)``."""
    raise RuntimeError(message)


@task("baton.noop")
def noop() -> None:
    """Do nothing."""


@task("baton.publish")
def publish(**values: Any) -> dict[str, Any]:
    """Print the keyword arguments and return them (a returned mapping is the node's outputs)."""
    for name, value in values.items():
        print(f"{name}={value}")
    return values


@task("baton.log")
def log(message: str = "", level: str = "info") -> str:
    """Log ``message`` at ``level`` through the ``baton.task`` logger and return it."""
    number = logging.getLevelName(str(level).upper())
    if not isinstance(number, int):
        raise ValueError(f"level must be debug, info, warning, error or critical, got {level!r}")
    logging.getLogger("baton.task").log(number, "%s", message)
    return message
