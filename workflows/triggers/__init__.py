"""The trigger types (SPEC §5, §10): each is declared once, in its own module; this is their registry.

A type's module (``none.py``, ``cron.py``, ``periodic.py``, ``once.py``) declares a
``TriggerType``: how a definition's trigger of that type is checked and written back, when it
fires next, how the admin says it in a few words, and what a batch started by one of its fires
records as its trigger. The definition parser, ``workflows.schedule``, the scheduler and the admin all go
through here; a type no module declares is refused by the parser, by name, and an error
anywhere else — never read as another type.

Adding a type: a module here that declares ``TYPE``, and its line in ``TRIGGER_TYPES``.
Pure: no Django import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.text import _
from workflows.triggers import cron, none, once, periodic
from workflows.triggers.declaration import TriggerType

TRIGGER_TYPES: dict[str, TriggerType] = {
    trigger_type.name: trigger_type
    for trigger_type in (
        none.TYPE,
        cron.TYPE,
        periodic.TYPE,
        once.TYPE,
    )
}


def find(name: object) -> TriggerType | None:
    """Return the type called ``name``, or None for anything no module declares (whatever its type)."""
    return TRIGGER_TYPES.get(name) if isinstance(name, str) else None


def type_of(trigger: Mapping[str, Any] | None) -> TriggerType:
    """Return a stored trigger's type (``{}`` and None are ``none``); raise ValueError for a type no module declares."""
    name = (trigger or {}).get("type", none.TYPE.name)
    declared = find(name)
    if declared is None:
        raise ValueError(
            _("unknown trigger type %(name)r (known: %(known)s)", name=name, known=", ".join(TRIGGER_TYPES))
        )
    return declared


def describe(trigger: Mapping[str, Any] | None) -> str:
    """Say a trigger in a few words, e.g. ``cron 0 0 2 ? * MON-FRI (UTC)`` or ``manual``."""
    return type_of(trigger).describe(dict(trigger or {}))


def batch_trigger_of(trigger: Mapping[str, Any]) -> str:
    """Return what a batch started by a fire of ``trigger`` records as its trigger; ValueError if it never fires."""
    declared = type_of(trigger)
    if declared.batch_trigger is None:
        raise ValueError(_("a %(name)r trigger never fires, so no batch is started by one", name=declared.name))
    return declared.batch_trigger


def batch_trigger_choices() -> list[tuple[str, str]]:
    """Return what the fires of each type record on their batches, as a field's choices."""
    return [(t.batch_trigger, t.batch_trigger.title()) for t in TRIGGER_TYPES.values() if t.batch_trigger]
