"""Validate a task's ``kind`` and ``config`` (SPEC §2, §10) without touching the database.

``config_problems`` returns ``(path, message)`` pairs, e.g.
``("config.script", "must be a non-empty string")``; an empty list means the config is valid.
Paths start at ``kind`` or ``config`` so a parser can prefix them with the node's location.

The kind is looked up in the registry (``workflows.kinds``), whose modules hold each kind's
rules: a kind no module declares is a problem naming the declared ones, as is any key of
``config`` that the kind does not list ("unknown field").

A task's ``queue`` must not be one of Baton's own (``is_reserved_queue``): the definition
parser refuses it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from baton.text import _
from workflows import kinds
from workflows.kinds.declaration import CheckContext, Problems


def config_problems(
    kind: object,
    config: object,
    *,
    registered_callables: Collection[str] | None = None,
) -> Problems:
    """Return the problems of ``config`` for a task of ``kind``; empty when it is valid."""
    declared = kinds.find(kind)
    if declared is None:
        return [("kind", _("must be one of %(kinds)s; got %(kind)r", kinds=", ".join(kinds.TASK_KINDS), kind=kind))]
    if not isinstance(config, Mapping):
        return [("config", _("must be an object"))]
    allowed = ", ".join(declared.fields)
    problems: Problems = [
        (
            f"config.{key}",
            _("unknown field for a %(name)s task; allowed: %(allowed)s", name=declared.name, allowed=allowed),
        )
        for key in config
        if key not in declared.fields
    ]
    return problems + declared.check(config, CheckContext(registered_callables=registered_callables))


RESERVED_QUEUE_PREFIX = "baton-"


def is_reserved_queue(name: str) -> bool:
    """Tell whether a queue name belongs to Baton's own machinery (the scheduler tick, the sweep)."""
    return name.startswith(RESERVED_QUEUE_PREFIX)
