"""What a trigger type declares (SPEC §5, §10): how to read it, when it fires, how to say it, what its batches record.

Pure: no Django import. Each type's module (`workflows/triggers/cron.py` …) declares one
`TriggerType`; `workflows.triggers` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

Trigger = dict[str, Any]  # a trigger as the definition writes it: {"type": …, …}


class Reader(Protocol):
    """What a trigger's reader uses of the definition parser's: typed values, and a list of problems."""

    def add(self, path: str, message: str) -> None:
        """Record a problem at a path such as `trigger.expression`."""

    def string(self, obj: dict, key: str, path: str, *, default: str | None = None) -> str | None:
        """Return a string field (recording a problem and returning None if it is missing or not a string)."""

    def integer(self, obj: dict, key: str, path: str, default: int, low: int, high: int) -> int:
        """Return an integer field within [low, high] (recording a problem and returning `default` otherwise)."""


@dataclass(frozen=True)
class TriggerType:
    """One type of trigger, declared once."""

    name: str  # what a trigger's `type` says
    fields: tuple[str, ...]  # its keys besides `type`; any other is an "unknown field"
    # Check a trigger of this type (at `path`, problems to the reader; `now`, if given, to refuse
    # one that could never fire again) and return its canonical form.
    read: Callable[[Reader, dict[str, Any], str, datetime | None], Trigger]
    describe: Callable[[Trigger], str]  # a few words for the admin, e.g. "cron 0 0 2 ? * * (UTC)"
    example: Trigger  # shown where a trigger is typed
    # The first fire strictly after an instant, or None; None for a type that never fires by itself.
    next_after: Callable[[Trigger, datetime], datetime | None] | None = None
    batch_trigger: str | None = None  # what a batch started by one of its fires records as its trigger

    @property
    def fires(self) -> bool:
        """Tell whether a trigger of this type starts batches by itself."""
        return self.next_after is not None
