"""What a task kind declares (SPEC §2): its name, its config's fields and rules, its editor default, its permission.

Pure: no Django import. Each kind's module (`workflows/kinds/shell.py` …) declares one
`TaskKind`; `workflows.kinds` lists them, and the executor of each runs on the other side of
the house (`executions.kinds`), registered under the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

Problems = list[tuple[str, str]]  # (path such as "config.script", message)


@dataclass(frozen=True)
class CheckContext:
    """What a config check may consult besides the config itself."""

    registered_callables: Collection[str] | None = None  # the python callables; None: names are not checked


@dataclass(frozen=True)
class Permission:
    """A permission of the `workflows` app that defining a task of a kind needs, on top of the editor role."""

    codename: str
    label: str

    @property
    def name(self) -> str:
        """Return the permission as `user.has_perm` takes it, e.g. `workflows.define_shell_task`."""
        return f"workflows.{self.codename}"


@dataclass(frozen=True)
class TaskKind:
    """One kind of task, declared once."""

    name: str  # what a definition's `kind` says
    fields: tuple[str, ...]  # the keys its config may have; any other is an "unknown field"
    check: Callable[[Mapping[str, object], CheckContext], Problems]  # the problems of a config of these fields
    editor_config: Mapping[str, Any]  # the config a new task of this kind starts with in the editor
    permission: Permission | None = None  # needed to create or change one; None: the editor role is enough
    # The fields that may hold `${…}` references (`workflows.references`) and how each takes a
    # value: "text", "url" (percent-encoded) or "typed" (a string that is one reference keeps the JSON type).
    reference_fields: Mapping[str, str] = field(default_factory=dict)
    # What the validator says of a reference in another field (by field); a generic message otherwise.
    reference_hints: Mapping[str, str] = field(default_factory=dict)
