"""The task kinds (SPEC §2): each is declared once, in its own module; this is their registry.

A kind's module (``shell.py``, ``http.py``, ``python.py``) declares a ``TaskKind``: the fields
of its config and their rules, the config a new task of it starts with in the editor (served
to the browser), and the permission defining one needs. Its executor is registered under the
same name in ``executions/kinds/__init__.py``. A kind no module declares is refused by the
validator, by name, and never run.

Adding a kind: a module here that declares ``KIND``, its line in ``TASK_KINDS``, and its
executor's line in ``executions.kinds.EXECUTORS``. Pure: no Django import.
"""

from __future__ import annotations

from typing import Any

from workflows.kinds import http, python, shell
from workflows.kinds.declaration import TaskKind

TASK_KINDS: dict[str, TaskKind] = {
    kind.name: kind
    for kind in (
        shell.KIND,  # the first is the kind of a task added in the editor
        http.KIND,
        python.KIND,
    )
}


def find(name: object) -> TaskKind | None:
    """Return the kind called ``name``, or None for anything no module declares (whatever its type)."""
    return TASK_KINDS.get(name) if isinstance(name, str) else None


def kind_choices() -> list[tuple[str, str]]:
    """Return the kinds as a field's choices (a callable, so a new kind needs no migration)."""
    return [(name, name.title()) for name in TASK_KINDS]


def editor_configs() -> dict[str, Any]:
    """Return the config each kind starts with in the editor, in the registry's order."""
    return {name: dict(kind.editor_config) for name, kind in TASK_KINDS.items()}


def permissions() -> list[tuple[str, str]]:
    """Return ``(codename, label)`` of each permission a kind needs (the Task model declares them)."""
    declared = {kind.permission.codename: kind.permission.label for kind in TASK_KINDS.values() if kind.permission}
    return list(declared.items())
