"""Rules several task kinds' configs share: secret references, maps of names to text, JSON values, numbers.

Pure: no Django import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from baton.text import _
from workflows.kinds.declaration import Problems


def is_secret(value: object) -> bool:
    """Return whether ``value`` has the shape of a written secret, ``{"secret": ...}``."""
    return isinstance(value, Mapping) and set(value) == {"secret"}


def string_map_problems(
    path: str, value: object, name_problem: Callable[[str], str | None], *, forbidden: str = "\0"
) -> Problems:
    """Check an object of name → string or ``{"secret": string}`` (``env``, ``headers``) whose text has no ``forbidden``."""
    if not isinstance(value, Mapping):
        return [(path, 'must be an object of names to strings or {"secret": string}')]
    problems: Problems = []
    for name, item in value.items():
        item_path = f"{path}.{name}"
        message = name_problem(name) if isinstance(name, str) else _("must be a string")
        if message is not None:
            problems.append((item_path, message))
            continue
        if is_secret(item):
            text, where = item["secret"], f"{item_path}.secret"
        else:
            text, where = item, item_path
        if not isinstance(text, str):
            problems.append((where, 'must be a string or {"secret": string}'))
        elif any(character in text for character in forbidden):
            problems.append((where, _("must not contain NUL, CR or LF characters")))
    return problems


def is_positive_number(value: object) -> bool:
    """Return whether ``value`` is a finite number (not a boolean) greater than 0."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def is_json(value: object) -> bool:
    """Return whether ``value`` is made only of JSON types (with string keys, finite numbers)."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_json(item) for key, item in value.items())
    return False
