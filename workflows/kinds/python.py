"""The ``python`` task kind: a registered callable run by the worker (its executor: ``executions.kinds.python``).

Config: ``callable`` (a name registered in ``workflows.registry``; when the check is given the
registered names, an unknown name is a problem listing close matches or the known names) and
``kwargs`` (a JSON object, default ``{}``; finite numbers only; its strings may hold references).
A callable that returns a mapping publishes it as the node's outputs.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping

from baton.text import _
from workflows.kinds.declaration import CheckContext, Problems, TaskKind
from workflows.kinds.fields import is_json

_MAX_LISTED_CALLABLES = 20


def config_problems(config: Mapping[str, object], context: CheckContext) -> Problems:
    """Return the problems of a python task's config."""
    problems: Problems = []
    name = config.get("callable")
    registered = context.registered_callables
    if not isinstance(name, str) or not name.strip():
        problems.append(("config.callable", _("must be a non-empty string (a registered name)")))
    elif registered is not None and name not in registered:
        problems.append(("config.callable", _unknown_callable_message(name, registered)))
    if "kwargs" in config:
        kwargs = config["kwargs"]
        if not isinstance(kwargs, dict):
            problems.append(("config.kwargs", _("must be a JSON object")))
        elif not is_json(kwargs):
            problems.append(("config.kwargs", _("must be valid JSON (string keys, finite numbers)")))
    return problems


def _unknown_callable_message(name: str, registered: Collection[str]) -> str:
    known = sorted(registered)
    close = difflib.get_close_matches(name, known, n=3)
    if close:
        return _("unknown callable %(name)r; did you mean %(close)s?", name=name, close=", ".join(close))
    if not known:
        return _("unknown callable %(name)r; no python tasks are registered", name=name)
    listed = ", ".join(known[:_MAX_LISTED_CALLABLES])
    if len(known) > _MAX_LISTED_CALLABLES:
        return _(
            "unknown callable %(name)r; registered: %(listed)s and %(more)d more",
            name=name,
            listed=listed,
            more=len(known) - _MAX_LISTED_CALLABLES,
        )
    return _("unknown callable %(name)r; registered: %(listed)s", name=name, listed=listed)


KIND = TaskKind(
    name="python",
    fields=("callable", "kwargs"),
    check=config_problems,
    editor_config={"callable": "", "kwargs": {}},
    reference_fields={"kwargs": "typed"},
)
