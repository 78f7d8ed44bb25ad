"""Time zones as triggers use them: an IANA name read from a definition, and a wall time made an instant.

Pure: no Django import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from baton.text import _
from workflows import quartz
from workflows.triggers.declaration import Reader


def read_zone(reader: Reader, value: Any, path: str) -> str | None:
    """Read an IANA time zone name (never `localtime`, `posixrules`, a path or a file only this machine has)."""
    try:
        quartz.load_zone(value)
    except quartz.InvalidCronExpression:
        reader.add(f"{path}.timezone", _("must be an IANA time zone such as Europe/Berlin, not %(value)r", value=value))
        return None
    return value


def localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the instant of a wall time: its first occurrence, or the end of a DST gap (cron's rule)."""
    aware = wall.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return aware
    # In a gap: fire at the transition, the first instant after it. Both readings of the wall
    # time bracket the transition; find it to the second.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    low, high = min(low, high), max(low, high)
    after_offset = datetime.fromtimestamp(high, zone).utcoffset()
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(high, zone)
