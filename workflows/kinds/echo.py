"""The ``echo`` task kind: print a text (its executor: ``executions.kinds.echo``).

Config: ``text`` (a string). For trying a workflow's shape out without running anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from workflows.kinds.declaration import CheckContext, Problems, TaskKind


def config_problems(config: Mapping[str, object], context: CheckContext) -> Problems:
    """Return the problems of an echo task's config."""
    return [] if isinstance(config.get("text"), str) else [("config.text", "must be a string")]


KIND = TaskKind(name="echo", fields=("text",), check=config_problems, editor_config={"text": "hello"})
