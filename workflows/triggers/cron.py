"""The ``cron`` trigger: a Quartz expression on the wall clock of an IANA time zone (SPEC §5).

`{"type": "cron", "expression": "0 0 2 ? * MON-FRI", "timezone": "Asia/Shanghai"}`; the
timezone defaults to UTC. With `now`, an expression with no fire time after it is refused.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from baton.text import _, message_of
from workflows import quartz
from workflows.triggers.declaration import Reader, Trigger, TriggerType
from workflows.triggers.zones import read_zone


def read(reader: Reader, raw: dict[str, Any], path: str, now: datetime | None) -> Trigger:
    """Check the expression and the zone; return the canonical form."""
    expression = reader.string(raw, "expression", path)
    zone = read_zone(reader, raw.get("timezone", "UTC"), path)
    if expression is not None and zone is not None and (problem := cron_problem(expression, zone, now)):
        reader.add(f"{path}.expression", problem)
    return {"type": "cron", "expression": expression, "timezone": zone}


def cron_problem(expression: str, timezone: str, now: datetime | None = None) -> str | None:
    """Return why a cron expression cannot be a trigger, or None."""
    try:
        cron = quartz.QuartzCron(expression, timezone)
    except quartz.InvalidCronExpression as exc:
        return message_of(exc)
    if now is not None and cron.next_after(now) is None:
        return _("%(expression)r has no fire time after %(now)s", expression=expression, now=now.isoformat())
    return None


def next_after(trigger: Trigger, after: datetime) -> datetime | None:
    """Return the first fire time strictly after `after`, or None."""
    return _cron(trigger["expression"], trigger.get("timezone") or "UTC").next_after(after)


@lru_cache(maxsize=4096)
def _cron(expression: str, timezone: str) -> quartz.QuartzCron:
    """Parse an expression once per process (a QuartzCron is immutable)."""
    return quartz.QuartzCron(expression, timezone)


def describe(trigger: Trigger) -> str:
    """Say the expression and its zone."""
    return _("cron %(expression)s (%(zone)s)", expression=trigger["expression"], zone=trigger["timezone"])


TYPE = TriggerType(
    name="cron",
    fields=("expression", "timezone"),
    read=read,
    describe=describe,
    example={"type": "cron", "expression": "0 0 2 ? * MON-FRI", "timezone": "UTC"},
    next_after=next_after,
    batch_trigger="cron",
)
