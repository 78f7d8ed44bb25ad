"""A workflow's parameters: their declaration, the values a run gets, and the built-in values.

A definition may declare `params`: name → {type, default, required, description, choices}
(`read_declarations`). A batch's values come from its start — run once (the API's JSON body,
the CLI's and the admin's text), a trigger's fixed `params`, the defaults — and are resolved
once (`resolve`), stored on the batch, and reused unchanged by a re-run. Values are JSON:
`date` is `YYYY-MM-DD`, `datetime` ISO 8601 with its offset. The built-ins (`builtins`) say
when the batch was meant to run: its fire time (the start time for a batch started by hand),
the fire date in the trigger's time zone, and the business date, the day before it.

Pure: no Django import.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from baton.errors import FieldProblem, Invalid
from baton.text import _, message_of

TYPES = ("string", "integer", "number", "boolean", "date", "datetime")
DECLARATION_FIELDS = {"type", "default", "required", "description", "choices"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_PARAMS = 50
MAX_TEXT = 4096  # characters of a string value
TRUE_TEXTS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class ValueProblem(ValueError):
    """A value that does not fit its parameter's type or choices (the message says why)."""


@dataclass(frozen=True)
class Param:
    """One declared parameter."""

    name: str
    type: str = "string"
    default: Any = None
    required: bool = False
    description: str = ""
    choices: tuple[Any, ...] = ()

    def document(self) -> dict[str, Any]:
        """Return the canonical declaration (fields at their default are left out)."""
        document: dict[str, Any] = {"type": self.type}
        if self.default is not None:
            document["default"] = self.default
        if self.required:
            document["required"] = True
        if self.description:
            document["description"] = self.description
        if self.choices:
            document["choices"] = list(self.choices)
        return document


def name_problem(name: object) -> str | None:
    """Return why a parameter (or output) name is not valid, or None."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return _("must be a name of letters, digits and '_' (at most 64), not starting with a digit")
    return None


def read_declarations(raw: Any, add: Any) -> dict[str, Param]:
    """Read a definition's `params` object; call `add(path, message)` for each problem."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        add("params", _("must be an object: parameter name → declaration"))
        return {}
    if len(raw) > MAX_PARAMS:
        add("params", _("declares %(count)d parameters; at most %(most)d", count=len(raw), most=MAX_PARAMS))
        return {}
    declared: dict[str, Param] = {}
    for name, item in raw.items():
        path = f"params.{name}"
        if problem := name_problem(name):
            add(path, problem)
            continue
        param = _declaration(name, item, path, add)
        if param is not None:
            declared[name] = param
    return declared


def _declaration(name: str, item: Any, path: str, add: Any) -> Param | None:
    if not isinstance(item, dict):
        add(path, _('must be an object such as {"type": "string", "default": "x"}'))
        return None
    for key in sorted(set(item) - DECLARATION_FIELDS, key=str):
        add(f"{path}.{key}", _("unknown field (allowed: %(allowed)s)", allowed=", ".join(sorted(DECLARATION_FIELDS))))
    kind = item.get("type", "string")
    if kind not in TYPES:
        add(f"{path}.type", _("must be one of %(types)s, not %(kind)r", types=", ".join(TYPES), kind=kind))
        return None
    required, description = item.get("required", False), item.get("description", "")
    if not isinstance(required, bool):
        add(f"{path}.required", _("must be true or false"))
        required = False
    if not isinstance(description, str):
        add(f"{path}.description", _("must be a string"))
        description = ""
    param = Param(name, kind, None, required, description)
    choices: list[Any] = []
    raw_choices = item.get("choices", [])
    if not isinstance(raw_choices, list) or (kind == "boolean" and raw_choices):
        add(f"{path}.choices", _("must be a list of values of the parameter's type (not for a boolean)"))
    else:
        for index, choice in enumerate(raw_choices):
            try:
                choices.append(from_json(param, choice))
            except ValueProblem as exc:
                add(f"{path}.choices[{index}]", message_of(exc))
    param = Param(name, kind, None, required, description, tuple(choices))
    default = item.get("default")
    if default is not None:
        if required:
            add(f"{path}.default", _("a required parameter has no default (drop one of the two)"))
        try:
            default = from_json(param, default)
        except ValueProblem as exc:
            add(f"{path}.default", message_of(exc))
            default = None
    return Param(name, kind, default, required, description, tuple(choices))


def from_json(param: Param, value: Any) -> Any:
    """Return a JSON value checked against the parameter (dates normalised); raise ValueProblem."""
    kind = param.type
    if kind == "string":
        if not isinstance(value, str):
            raise ValueProblem(_("must be a string, not %(type)s", type=_type(value)))
        if len(value) > MAX_TEXT:
            raise ValueProblem(_("must be at most %(most)d characters", most=MAX_TEXT))
        checked: Any = value
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueProblem(_("must be an integer, not %(type)s", type=_type(value)))
        checked = value
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueProblem(_("must be a finite number, not %(type)s", type=_type(value)))
        checked = value
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ValueProblem(_("must be true or false, not %(type)s", type=_type(value)))
        checked = value
    elif kind == "date":
        checked = _date(value)
    else:
        checked = _datetime(value)
    if param.choices and checked not in param.choices:
        raise ValueProblem(
            _("must be one of %(choices)s, not %(value)r", choices=", ".join(map(str, param.choices)), value=checked)
        )
    return checked


def from_text(param: Param, text: str) -> Any:
    """Return a value typed as text (the CLI's `--param`, a form field) checked against the parameter."""
    kind = param.type
    value: Any = text
    try:
        if kind == "integer":
            value = int(text.strip())
        elif kind == "number":
            number = float(text.strip())
            value = int(number) if number.is_integer() and re.fullmatch(r"\s*[-+]?\d+\s*", text) else number
        elif kind == "boolean":
            value = TRUE_TEXTS[text.strip().lower()]
    except (ValueError, KeyError) as exc:
        expected = {"integer": _("an integer"), "number": _("a number"), "boolean": _("true or false")}[kind]
        raise ValueProblem(_("must be %(expected)s, not %(text)r", expected=expected, text=text)) from exc
    return from_json(param, value)


def _date(value: Any) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueProblem(_("must be a date such as 2026-12-31, not %(value)r", value=value))


def _datetime(value: Any) -> str:
    parsed = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValueProblem(_("must be a date and time such as 2026-12-31T18:00:00+08:00, not %(value)r", value=value))
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueProblem(_("must include its UTC offset (such as Z or +08:00), not %(value)r", value=value))
    return parsed.isoformat()


def resolve(declared: Mapping[str, Param], given: Mapping[str, Any], *, as_text: bool = False) -> dict[str, Any]:
    """Return every declared parameter's value: `given` (JSON, or text with `as_text`), else its default.

    Raises `ParamsProblem` listing every unknown name, missing required value and bad value.
    """
    problems: list[tuple[str, str]] = []
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or _("none are declared")
            problems.append((str(name), _("is not a parameter of this workflow (parameters: %(known)s)", known=known)))
    values: dict[str, Any] = {}
    for name, param in declared.items():
        if name in given and given[name] is not None:
            try:
                value = given[name]
                values[name] = (
                    from_text(param, value) if as_text and isinstance(value, str) else from_json(param, value)
                )
            except ValueProblem as exc:
                problems.append((name, message_of(exc)))
        elif param.required:
            problems.append((name, _("is required: give it a value")))
        else:
            values[name] = param.default
    if problems:
        raise ParamsProblem(problems)
    return values


class ParamsProblem(Invalid):
    """Values that do not fit the declared parameters; `pairs` is (name, message) pairs."""

    summary = _("The parameter values are not valid.")

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs
        self.problems = tuple(FieldProblem(f"params.{name}", message) for name, message in pairs)
        super().__init__("\n".join(f"parameter {name}: {message}" for name, message in pairs))


def builtins(*, workflow: str, fire_time: datetime, timezone: str = "UTC") -> dict[str, Any]:
    """Return the built-in values a batch records: its workflow, fire time, fire date and business date.

    The fire time is written in the trigger's zone, so `%H` formats the local hour; the
    business date is the day before the fire date (the day whose data a nightly run works on).
    """
    local = fire_time.astimezone(ZoneInfo(timezone or "UTC"))
    return {
        "workflow": workflow,
        "fire_time": local.isoformat(),
        "fire_date": local.date().isoformat(),
        "business_date": (local.date() - timedelta(days=1)).isoformat(),
    }


BUILTIN_TYPES = {"id": "string", "workflow": "string", "fire_time": "datetime", "fire_date": "date"}
BUILTIN_TYPES["business_date"] = "date"


def _type(value: Any) -> str:
    return {dict: _("an object"), list: _("a list"), str: _("a string"), bool: _("a boolean"), type(None): "null"}.get(
        type(value), type(value).__name__
    )
