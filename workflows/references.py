"""References in a task's config: `${params.NAME}`, `${nodes.KEY.outputs.NAME}`, `${batch.NAME}`.

A reference is written inside a string of a field its kind allows (`TaskKind.reference_fields`:
shell `env`, http `url`/`headers`/`body`, python `kwargs`). Optional parts:

* `|FORMAT` formats a date or date-time value with strftime: `${batch.business_date|%Y%m%d}`;
* `:-DEFAULT` is the text used when a node was skipped or did not publish that output:
  `${nodes.build.outputs.version:-0.0.0}`.

`$${` writes a literal `${`. Anything else in `${…}` (a shell's `${HOME}`) is not Baton's and
is left as written. `check` lists what the validator refuses (an unknown parameter, a node that
is not on every path to the referencing node, a reference in a field that does not take one);
`resolve` substitutes the values when the node runs. A string that is exactly one reference
takes the value's JSON type in a `typed` field (python kwargs, an http JSON body); everywhere
else the value becomes text, percent-encoded in a `url` field.

Pure: no Django import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from baton.text import _
from workflows import graph, params

PATTERN = re.compile(r"(\$?)\$\{([^{}]*)\}")
NAMESPACES = ("params", "nodes", "batch")
BUILTINS = tuple(params.BUILTIN_TYPES)
_NODE = re.compile(r"nodes\.(.+)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)")
TEXT, URL, TYPED = "text", "url", "typed"  # how a field takes a value (`TaskKind.reference_fields`)


@dataclass(frozen=True)
class Reference:
    """One parsed reference."""

    namespace: str  # params, nodes or batch
    name: str  # the parameter, output or built-in name
    node: str = ""  # for nodes: the node key
    format: str | None = None
    default: str | None = None

    def __str__(self) -> str:
        return "${" + (f"nodes.{self.node}.outputs.{self.name}" if self.node else f"{self.namespace}.{self.name}") + "}"


class Unresolved(ValueError):
    """A reference that has no value when the node runs (the message says which and why)."""


def parse(inner: str) -> Reference | str | None:
    """Parse what is inside `${…}`: a Reference, a problem (text), or None when it is not Baton's."""
    head = inner.split(".", 1)[0].strip()
    if head not in NAMESPACES:
        return None
    body, has_default, default_text = inner.partition(":-")
    body, has_format, format_text = body.partition("|")
    default = default_text if has_default else None
    fmt = format_text if has_format else None
    body = body.strip()
    if head == "nodes":
        match = _NODE.fullmatch(body)
        if not match:
            return _("%(ref)s must read ${nodes.KEY.outputs.NAME}", ref="${" + inner + "}")
        return Reference("nodes", match.group(2), match.group(1), fmt, default)
    name = body.split(".", 1)[1] if "." in body else ""
    if head == "batch" and name not in BUILTINS:
        return _("%(ref)s: the batch's values are %(names)s", ref="${" + inner + "}", names=", ".join(BUILTINS))
    if head == "params" and params.name_problem(name):
        return _("%(ref)s must read ${params.NAME}", ref="${" + inner + "}")
    return Reference(head, name, "", fmt, default)


def find(value: Any) -> Iterator[tuple[str, Reference | str]]:
    """Yield (path below `value`, Reference or problem) for each of Baton's references in the strings of a JSON value."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            for match in PATTERN.finditer(item):
                if not match.group(1) and (found := parse(match.group(2))) is not None:
                    yield path, found
        elif isinstance(item, dict):
            stack.extend((child, f"{path}.{key}" if path else str(key)) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((item[index], f"{path}[{index}]") for index in range(len(item) - 1, -1, -1))


def referenced_nodes(config: Mapping[str, Any]) -> frozenset[str]:
    """Return the keys of the nodes whose outputs a config refers to."""
    return frozenset(ref.node for _path, ref in find(dict(config)) if isinstance(ref, Reference) and ref.node)


def has_references(config: Mapping[str, Any]) -> bool:
    """Say whether a config holds any of Baton's references (a cheap test first: most configs hold none)."""
    text = json.dumps(config, ensure_ascii=False)
    return "${" in text and any(True for _found in find(dict(config)))


def check(
    *,
    node: str,
    config: Mapping[str, Any],
    fields: Mapping[str, str],
    hints: Mapping[str, str],
    declared: Mapping[str, params.Param],
    topology: graph.Graph,
    dominators: Mapping[str, frozenset[str]],
) -> list[tuple[str, str]]:
    """Return (path below the config, message) for each reference the validator refuses."""
    problems: list[tuple[str, str]] = []
    for field, value in config.items():
        for below, found in find(value):
            path = f"config.{field}" + (f".{below}" if below and not below.startswith("[") else below)
            if isinstance(found, str):
                problems.append((path, found))
            elif field not in fields:
                allowed = ", ".join(fields) or _("none of its fields")
                problems.append(
                    (
                        path,
                        hints.get(field)
                        or _(
                            "%(ref)s is not allowed here; references go in %(allowed)s", ref=str(found), allowed=allowed
                        ),
                    )
                )
            elif message := _reference_problem(found, node, declared, topology, dominators):
                problems.append((path, message))
    return list(dict.fromkeys(problems))  # one line per path and message


def _reference_problem(
    ref: Reference,
    node: str,
    declared: Mapping[str, params.Param],
    topology: graph.Graph,
    dominators: Mapping[str, frozenset[str]],
) -> str | None:
    if ref.namespace == "params" and ref.name not in declared:
        known = ", ".join(declared) or _("none are declared")
        return _(
            "%(ref)s names an unknown parameter %(name)r (parameters: %(known)s)",
            ref=str(ref),
            name=ref.name,
            known=known,
        )
    if ref.namespace == "nodes":
        if ref.node not in topology.keys:
            return _("%(ref)s names an unknown node %(node)r", ref=str(ref), node=ref.node)
        if topology.node(ref.node).type != graph.TASK:
            return _(
                "%(ref)s: node %(node)r is an %(type)s node; only task nodes publish outputs",
                ref=str(ref),
                node=ref.node,
                type=topology.node(ref.node).type,
            )
        if ref.node == node:
            return _("%(ref)s: a node cannot use its own outputs", ref=str(ref))
        if ref.node not in dominators.get(node, ()):
            return _(
                "%(ref)s: node %(node)r is not on every path from start to %(here)r, so its outputs may not exist "
                "when %(here)r runs; reference only nodes that %(here)r always runs after",
                ref=str(ref),
                node=ref.node,
                here=node,
            )
    if ref.format is not None and _type_of(ref, declared) not in ("date", "datetime"):
        return _("%(ref)s: a |format applies only to a date or datetime value", ref=str(ref))
    return None


def _type_of(ref: Reference, declared: Mapping[str, params.Param]) -> str | None:
    if ref.namespace == "params":
        return declared[ref.name].type if ref.name in declared else None
    if ref.namespace == "batch":
        return params.BUILTIN_TYPES.get(ref.name)
    return None


@dataclass(frozen=True)
class NodeOutputs:
    """What a referenced node left: its status and the outputs it published."""

    status: str
    outputs: Mapping[str, Any]


@dataclass(frozen=True)
class Context:
    """The values references resolve to when a node runs."""

    params: Mapping[str, Any]
    batch: Mapping[str, Any]
    nodes: Mapping[str, NodeOutputs]


def resolve(config: Mapping[str, Any], fields: Mapping[str, str], context: Context) -> dict[str, Any]:
    """Return the config with every reference in its reference fields replaced; raise Unresolved."""
    resolved = dict(config)
    for field, mode in fields.items():
        if field in resolved:
            resolved[field] = _substitute(resolved[field], mode, context)
    return resolved


def _substitute(value: Any, mode: str, context: Context) -> Any:
    if isinstance(value, dict):
        return {key: _substitute(child, mode, context) for key, child in value.items()}
    if isinstance(value, list):
        return [_substitute(child, mode, context) for child in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = PATTERN.fullmatch(value)
    if mode == TYPED and whole and not whole.group(1):
        ref = parse(whole.group(2))
        if isinstance(ref, Reference) and ref.format is None:
            return _value(ref, context)

    def replace(match: re.Match[str]) -> str:
        ref = parse(match.group(2))
        if ref is None:
            return match.group(0)
        if match.group(1):
            return match.group(0)[1:]  # $${…} is a literal ${…}
        if isinstance(ref, str):
            raise Unresolved(ref)
        text = _text(ref, _value(ref, context))
        return quote(text, safe="") if mode == URL else text

    return PATTERN.sub(replace, value)


def _value(ref: Reference, context: Context) -> Any:
    if ref.namespace == "params":
        if ref.name not in context.params:
            raise Unresolved(_("%(ref)s: the batch has no parameter %(name)r", ref=str(ref), name=ref.name))
        return context.params[ref.name]
    if ref.namespace == "batch":
        return context.batch.get(ref.name)
    found = context.nodes.get(ref.node)
    if found is not None and ref.name in found.outputs:
        return found.outputs[ref.name]
    if ref.default is not None:
        return ref.default
    if found is None or found.status == "skipped":
        raise Unresolved(
            _(
                "%(ref)s: node %(node)r was skipped, so it published no %(name)r; give a default such as %(example)s",
                ref=str(ref),
                node=ref.node,
                name=ref.name,
                example=f"${{nodes.{ref.node}.outputs.{ref.name}:-value}}",
            )
        )
    raise Unresolved(
        _(
            "%(ref)s: node %(node)r (%(status)s) published no output %(name)r",
            ref=str(ref),
            node=ref.node,
            status=found.status,
            name=ref.name,
        )
    )


def _text(ref: Reference, value: Any) -> str:
    if ref.format is not None:
        return _formatted(ref, value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _formatted(ref: Reference, value: Any) -> str:
    fmt = ref.format or ""
    try:
        return datetime.fromisoformat(str(value)).strftime(fmt)
    except ValueError:
        pass
    try:
        return date.fromisoformat(str(value)).strftime(fmt)
    except ValueError as exc:
        raise Unresolved(
            _(
                "%(ref)s: %(value)r is not a date, so |%(format)s cannot format it",
                ref=str(ref),
                value=value,
                format=fmt,
            )
        ) from exc
