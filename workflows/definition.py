"""The definition format (SPEC §10): one parser and one serializer for every interface.

`parse` turns a JSON/YAML document into a frozen `Definition` or raises `DefinitionError`
listing every problem with its path; `to_document` writes the canonical document back.
`to_document(parse(to_document(d)))` is `to_document(d)`: export ∘ import is the identity.
Pure: no Django import; what needs the database (teams, existing tasks, sealed secrets) is
checked by `workflows.services`.

Every entry point reads a document through `load_text` (text) or `parse`/`parse_task`/
`parse_trigger` (a value), and each runs `check_document` first: a document is a JSON value
nested at most `MAX_DEPTH` levels, of at most `MAX_VALUES` values and `MAX_ENCODED_BYTES`
as JSON (a YAML alias counts at each use, so an alias bomb or a recursive alias is refused
after at most `MAX_VALUES` steps), with finite numbers, integers of 64 bits, and text
without NUL or unpaired surrogates (what PostgreSQL's jsonb refuses).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import yaml

from baton.errors import Invalid
from baton.text import _
from workflows import graph, kinds, params, references, task_config, triggers
from workflows.params import Param
from workflows.policies import MisfirePolicy, OverlapPolicy

TOP_FIELDS = {
    "name",
    "team",
    "description",
    "enabled",
    "trigger",
    "timeout_seconds",
    "overlap_policy",
    "misfire_policy",
    "params",
    "nodes",
    "edges",
}
NODE_FIELDS = {"key", "type", "task", "core", "position"}
EDGE_FIELDS = {"from", "to", "on"}
TASK_FIELDS = {
    "name",
    "kind",
    "config",
    "description",
    "timeout_seconds",
    "retries",
    "retry_interval_seconds",
    "retry_backoff",
    "queue",
}
DEFAULT_TASK_TIMEOUT = 3600
DEFAULT_WORKFLOW_TIMEOUT = 86400
MAX_TIMEOUT = 7 * 86400
MAX_RETRIES = 100
MAX_DEPTH = 32  # nesting levels of a document (the API's JSON parser allows as many)
MAX_VALUES = 100_000  # values in a document, every use of a YAML alias counted
MAX_ENCODED_BYTES = 1024 * 1024  # a document as compact JSON (the API's default body limit)
MAX_TEXT_BYTES = 2 * MAX_ENCODED_BYTES  # a document's text as written: indentation, comments, YAML
MAX_INTEGER = 2**63 - 1  # integers are 64-bit, as in most JSON readers and PostgreSQL's bigint
MAX_POSITION = 1_000_000  # the largest editor coordinate on either axis
MAX_LISTED_PROBLEMS = 20  # odd values reported at once


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, at a path such as `nodes[2].task.config.script`."""

    path: str
    message: str
    nodes: tuple[str, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DefinitionError(Invalid):
    """A document that breaks the format or the topology rules; carries every problem."""

    summary = _("The definition is not valid.")

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class TaskSpec:
    """A task as written inline in a definition."""

    name: str
    kind: str
    config: dict[str, Any]
    description: str = ""
    timeout_seconds: int = DEFAULT_TASK_TIMEOUT
    retries: int = 0
    retry_interval_seconds: int = 0
    retry_backoff: bool = False
    queue: str = "default"


@dataclass(frozen=True)
class NodeSpec:
    """A node: `task` is a TaskSpec, the name of an existing standalone task, or None."""

    key: str
    type: str
    task: TaskSpec | str | None = None
    core: bool = False
    position: tuple[float, float] | None = None

    @property
    def task_name(self) -> str | None:
        """Return the name of the task this node runs."""
        return self.task.name if isinstance(self.task, TaskSpec) else self.task


EdgeSpec = graph.Edge  # an edge between node keys is the validator's edge


@dataclass(frozen=True)
class Definition:
    """A parsed, valid workflow definition."""

    name: str
    team: str
    nodes: tuple[NodeSpec, ...]
    edges: tuple[EdgeSpec, ...]
    description: str = ""
    enabled: bool = True
    trigger: dict[str, Any] = field(default_factory=lambda: {"type": "none"})
    timeout_seconds: int = DEFAULT_WORKFLOW_TIMEOUT
    overlap_policy: str = OverlapPolicy.SKIP.value
    misfire_policy: str = MisfirePolicy.FIRE_ONCE_NOW.value
    params: dict[str, Param] = field(default_factory=dict)

    def graph(self) -> graph.Graph:
        """Return the topology for the validator and the engine."""
        return to_graph(self.nodes, self.edges)


def to_graph(nodes: Collection[NodeSpec], edges: Collection[EdgeSpec]) -> graph.Graph:
    """Build the validator's graph from node and edge specs."""
    return graph.Graph(
        nodes=tuple(graph.Node(n.key, n.type, n.task_name, n.core) for n in nodes),
        edges=tuple(edges),
    )


def load_text(text: str | bytes) -> Any:
    """Read a JSON or YAML document (JSON is YAML's subset; JSON is tried first for speed) and check it."""
    if len(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise DefinitionError(
            [Problem("", _("the document is larger than %(value)s KiB", value=MAX_TEXT_BYTES // 1024))]
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DefinitionError(
                [Problem("", _("the document is not UTF-8 (%(reason)s)", reason=exc.reason))]
            ) from exc
    if "\x00" in text:
        raise DefinitionError([Problem("", _("the document contains a NUL character"))])
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise DefinitionError([Problem("", _too_deep())]) from exc
    except json.JSONDecodeError:
        document = _load_yaml(text)
    except ValueError as exc:  # an integer past Python's 4300-digit limit
        raise DefinitionError(
            [Problem("", _("a number is too long to read (%(range)s)", range=_integer_range()))]
        ) from exc
    check_document(document)
    return document


class _YamlLoader(yaml.SafeLoader):
    """YAML's safe loader, which also refuses, with its line, an integer too long to read."""

    def construct_yaml_int(self, node: Any) -> Any:
        if len(node.value) > 100:  # Python refuses past 4300 digits; anything this long is out of range anyway
            message = _("a number is too long to read (%(range)s)", range=_integer_range())
            raise yaml.constructor.ConstructorError(None, None, message, node.start_mark)
        return super().construct_yaml_int(node)


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _YamlLoader.construct_yaml_int)


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader
    except RecursionError as exc:
        raise DefinitionError([Problem("", _too_deep())]) from exc
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a value Python cannot hold, such as 2031-02-30
        raise DefinitionError([Problem("", _("neither valid JSON nor valid YAML: %(exc)s", exc=exc))]) from exc


def check_document(document: Any) -> None:
    """Raise DefinitionError unless the value is a JSON document within the caps (see the module's docstring).

    The walk keeps its own stack and counts a container's values before it pushes them, so it
    stops within `MAX_VALUES` steps whatever the shape: YAML's shared (or recursive) aliases are
    followed once per use.
    """
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    values, size = 1, 0
    while stack and len(problems) < MAX_LISTED_PROBLEMS:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DefinitionError([Problem(path, _too_deep())])
        if isinstance(value, dict | list):
            values += len(value)
            if values > MAX_VALUES:
                raise DefinitionError(
                    [
                        Problem(
                            "",
                            _(
                                "the document has more than %(count)s values%(aliases)s",
                                count=MAX_VALUES,
                                aliases=_aliases(),
                            ),
                        )
                    ]
                )
            size += 1 + len(value)
        if isinstance(value, dict):
            for key, child in reversed(value.items()):
                where = _join(path, str(key))
                if isinstance(key, str):
                    size += _text_size(key, where, problems)
                stack.append((child, where, depth + 1))
        elif isinstance(value, list):
            stack.extend((value[index], f"{path}[{index}]", depth + 1) for index in range(len(value) - 1, -1, -1))
        elif isinstance(value, str):
            size += _text_size(value, path, problems)
        elif isinstance(value, bool) or value is None:
            size += 5
        elif isinstance(value, int):
            if not -MAX_INTEGER - 1 <= value <= MAX_INTEGER:
                problems.append(Problem(path, _("is out of range (%(range)s)", range=_integer_range())))
            size += 20
        elif isinstance(value, float):
            if not math.isfinite(value):
                problems.append(Problem(path, _("must be a finite number, not %(value)s", value=value)))
            size += 24
        if size > MAX_ENCODED_BYTES:
            raise DefinitionError(
                [
                    Problem(
                        "",
                        _(
                            "the document is larger than %(value)s KiB as JSON%(aliases)s",
                            value=MAX_ENCODED_BYTES // 1024,
                            aliases=_aliases(),
                        ),
                    )
                ]
            )
    if problems:
        raise DefinitionError(problems)


def _text_size(text: str, path: str, problems: list[Problem]) -> int:
    """Return a string's size in JSON; note a NUL or an unpaired surrogate (PostgreSQL refuses both)."""
    try:
        size = len(text.encode("utf-8")) + 3
    except UnicodeEncodeError:
        problems.append(Problem(path, _("contains an unpaired surrogate (not Unicode text)")))
        return len(text) + 3
    if "\x00" in text:
        problems.append(Problem(path, _("contains a NUL character")))
    return size


def _aliases() -> str:
    return _(" (a YAML alias counts at each use)")


def _too_deep() -> str:
    return _("the document is nested deeper than %(count)s levels (or a YAML alias contains itself)", count=MAX_DEPTH)


def _integer_range() -> str:
    return _("integers must lie between %(low)s and %(high)s", low=-MAX_INTEGER - 1, high=MAX_INTEGER)


class _Reader:
    """Collects problems while reading typed values out of a document."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, **kwargs: Any) -> None:
        self.problems.append(Problem(path, message, **kwargs))

    def unknown(self, obj: dict, allowed: set[str], path: str) -> None:
        for key in sorted(set(obj) - allowed, key=str):
            self.add(
                _join(path, str(key)), _("unknown field (allowed: %(allowed)s)", allowed=", ".join(sorted(allowed)))
            )

    def string(self, obj: dict, key: str, path: str, *, default: str | None = None) -> str | None:
        value = obj.get(key, default)
        if value is None:
            self.add(_join(path, key), _("is required"))
        elif not isinstance(value, str):
            self.add(_join(path, key), _("must be a string, not %(type)s", type=_type(value)))
            return None
        return value

    def name(self, obj: dict, key: str, path: str) -> str | None:
        value = self.string(obj, key, path)
        if value is not None and (problem := graph.name_problem(value)):
            self.add(_join(path, key), problem)
            return None
        return value

    def integer(self, obj: dict, key: str, path: str, default: int, low: int, high: int) -> int:
        value = obj.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(_join(path, key), _("must be an integer, not %(type)s", type=_type(value)))
            return default
        if not low <= value <= high:
            self.add(
                _join(path, key),
                _("must be between %(low)s and %(high)s, not %(value)s", low=low, high=high, value=value),
            )
            return default
        return value

    def boolean(self, obj: dict, key: str, path: str, default: bool) -> bool:
        value = obj.get(key, default)
        if not isinstance(value, bool):
            self.add(_join(path, key), _("must be true or false, not %(type)s", type=_type(value)))
            return default
        return value

    def choice(self, obj: dict, key: str, path: str, choices: tuple[str, ...]) -> str:
        value = obj.get(key, choices[0])
        if value not in choices:
            self.add(
                _join(path, key),
                _("must be one of %(choices)s, not %(value)r", choices=", ".join(choices), value=value),
            )
            return choices[0]
        return value


def parse(
    document: Any,
    *,
    registered_callables: Collection[str] | None = None,
    max_tasks: int = 20,
    now: datetime | None = None,
) -> Definition:
    """Validate a document and return its Definition, or raise DefinitionError with every problem.

    With `now`, a cron trigger that has no fire time after `now` is refused too.
    """
    if isinstance(document, (str, bytes)):
        document = load_text(document)
    else:
        check_document(document)
    reader = _Reader()
    if not isinstance(document, dict):
        raise DefinitionError(
            [Problem("", _("the definition must be an object, not %(value)s", value=_type(document)))]
        )
    reader.unknown(document, TOP_FIELDS, "")
    declared = params.read_declarations(document.get("params"), reader.add)
    name = reader.name(document, "name", "")
    team = reader.name(document, "team", "")
    description = reader.string(document, "description", "", default="") or ""
    enabled = reader.boolean(document, "enabled", "", True)
    trigger = _workflow_trigger(reader, document.get("trigger", {"type": "none"}), now, declared)
    timeout = reader.integer(document, "timeout_seconds", "", DEFAULT_WORKFLOW_TIMEOUT, 1, MAX_TIMEOUT)
    overlap = reader.choice(document, "overlap_policy", "", tuple(policy.value for policy in OverlapPolicy))
    misfire = reader.choice(document, "misfire_policy", "", tuple(policy.value for policy in MisfirePolicy))
    read = _nodes(reader, document.get("nodes"), registered_callables)
    nodes = read[0] if read else None
    edges = _edges(reader, document.get("edges"))
    if read is not None and edges is not None:
        broken = read[1]
        checkable = [e for e in edges if e.source not in broken and e.target not in broken]
        topology = to_graph(read[0], checkable)
        violations = graph.validate(topology, max_tasks=max_tasks)
        for violation in violations:
            reader.add("", violation.message, nodes=violation.nodes, edges=violation.edges)
        if not violations and not broken:
            _check_references(reader, document.get("nodes"), read[0], topology, declared)
    if reader.problems:
        raise DefinitionError(reader.problems)
    assert name is not None and team is not None and nodes is not None and edges is not None
    return Definition(
        name=name,
        team=team,
        description=description,
        enabled=enabled,
        trigger=trigger,
        timeout_seconds=timeout,
        overlap_policy=overlap,
        misfire_policy=misfire,
        nodes=tuple(nodes),
        edges=tuple(edges),
        params=declared,
    )


def _workflow_trigger(reader: _Reader, raw: Any, now: datetime | None, declared: dict[str, Param]) -> dict:
    """Read a workflow's trigger: its type's fields, and the fixed `params` values its batches get."""
    if not isinstance(raw, dict) or "params" not in raw:
        trigger = _trigger(reader, raw, now)
        values: Any = {}
    else:
        trigger = _trigger(reader, {k: v for k, v in raw.items() if k != "params"}, now)
        values = raw["params"]
        if not isinstance(values, dict):
            reader.add("trigger.params", _("must be an object: parameter name → value"))
            return trigger
    trigger_type = triggers.find(trigger.get("type"))
    fires = trigger_type is not None and trigger_type.fires
    if values and not fires:
        reader.add("trigger.params", _("only a trigger that fires (cron, periodic, once) gives parameter values"))
        return trigger
    if not fires:
        return trigger
    try:
        resolved = params.resolve(declared, values)
    except params.ParamsProblem as exc:
        for param_name, message in exc.pairs:
            reader.add(f"trigger.params.{param_name}", message)
        return trigger
    if values:
        trigger["params"] = {key: resolved[key] for key in values}
    return trigger


def _check_references(
    reader: _Reader, raw_nodes: Any, nodes: list[NodeSpec], topology: graph.Graph, declared: dict[str, Param]
) -> None:
    """Refuse references to unknown parameters, to nodes not on every path, and in fields that take none."""
    dominators = graph.dominators(topology)
    paths = {item.get("key"): index for index, item in enumerate(raw_nodes) if isinstance(item, dict)}
    for node in nodes:
        if isinstance(node.task, TaskSpec):
            for sub, message in _task_references(node.key, node.task, topology, dominators, declared):
                reader.add(f"nodes[{paths.get(node.key, '?')}].task.{sub}", message, nodes=(node.key,))


def _task_references(
    key: str,
    task: TaskSpec,
    topology: graph.Graph,
    dominators: Mapping[str, frozenset[str]],
    declared: dict[str, Param],
) -> list[tuple[str, str]]:
    kind = kinds.find(task.kind)
    if kind is None:
        return []
    return references.check(
        node=key,
        config=task.config,
        fields=kind.reference_fields,
        hints=kind.reference_hints,
        declared=declared,
        topology=topology,
        dominators=dominators,
    )


def named_task_problems(definition: Definition, named: Mapping[str, TaskSpec]) -> list[Problem]:
    """Check the references inside the standalone tasks that nodes name (`named`: node key → the stored task).

    `parse` sees only a name for such a node; the service looks the task up and asks here, so a
    reference the workflow cannot satisfy is refused when the workflow is saved, not when it runs.
    """
    topology = definition.graph()
    dominators = graph.dominators(topology)
    problems: list[Problem] = []
    for index, node in enumerate(definition.nodes):
        task = named.get(node.key)
        if not isinstance(node.task, str) or task is None:
            continue
        for sub, message in _task_references(node.key, task, topology, dominators, definition.params):
            text = _("standalone task %(task)r, %(field)s: %(message)s", task=node.task, field=sub, message=message)
            problems.append(Problem(f"nodes[{index}].task", text, nodes=(node.key,)))
    return problems


def _nodes(reader: _Reader, raw: Any, callables: Collection[str] | None) -> tuple[list[NodeSpec], set[str]] | None:
    """Read the nodes; also return the keys of nodes too broken to take part in the topology check."""
    if not isinstance(raw, list):
        reader.add("nodes", _("is required") if raw is None else _("must be a list, not %(type)s", type=_type(raw)))
        return None
    nodes: list[NodeSpec] = []
    broken: set[str] = set()
    for index, item in enumerate(raw):
        node = _node(reader, item, f"nodes[{index}]", callables)
        if node is not None:
            nodes.append(node)
        elif isinstance(item, dict) and isinstance(item.get("key"), str):
            broken.add(item["key"])
    return nodes, broken


def _node(reader: _Reader, item: Any, path: str, callables: Collection[str] | None) -> NodeSpec | None:
    if not isinstance(item, dict):
        reader.add(path, _("must be an object, not %(type)s", type=_type(item)))
        return None
    reader.unknown(item, NODE_FIELDS, path)
    key = reader.string(item, "key", path)
    kind = item.get("type")
    if kind not in (graph.TASK, graph.AND, graph.OR):
        reader.add(_join(path, "type"), _("must be one of task, and, or, not %(kind)r", kind=kind))
    core = reader.boolean(item, "core", path, False)
    position = _position(reader, item.get("position"), _join(path, "position"))
    task: TaskSpec | str | None = None
    if kind == graph.TASK:
        raw = item.get("task")
        if isinstance(raw, str):
            if problem := graph.name_problem(raw):
                reader.add(_join(path, "task"), problem)
            task = raw
        elif isinstance(raw, dict):
            task = _task(reader, raw, _join(path, "task"), callables)
        else:
            reader.add(_join(path, "task"), _("a task node needs a task: an object or the name of a standalone task"))
    elif kind in (graph.AND, graph.OR) and "task" in item:
        reader.add(_join(path, "task"), _("a %(kind)s node has no task", kind=kind))
    if key is None or kind not in (graph.TASK, graph.AND, graph.OR):
        return None
    if isinstance(task, TaskSpec) and graph.name_problem(task.name):
        task = replace(task, name=key)  # stands in for the topology check; its problem is already listed
    return NodeSpec(key=key, type=kind, task=task, core=core, position=position)


def _position(reader: _Reader, raw: Any, path: str) -> tuple[float, float] | None:
    if raw is None:
        return None
    if (
        isinstance(raw, dict)
        and set(raw) == {"x", "y"}
        and all(isinstance(raw[a], (int, float)) and not isinstance(raw[a], bool) for a in "xy")
        and all(abs(raw[a]) <= MAX_POSITION for a in "xy")
    ):
        return (raw["x"], raw["y"])
    reader.add(
        path,
        _(
            'must be {"x": number, "y": number}, each between %(low)s and %(high)s',
            low=-MAX_POSITION,
            high=MAX_POSITION,
        ),
    )
    return None


def _task(reader: _Reader, raw: dict, path: str, callables: Collection[str] | None) -> TaskSpec:
    reader.unknown(raw, TASK_FIELDS, path)
    name = reader.name(raw, "name", path)
    kind = raw.get("kind")
    config = raw.get("config", {})
    for sub, message in task_config.config_problems(kind, config, registered_callables=callables):
        reader.add(_join(path, sub), message)
    spec = TaskSpec(
        name=name or "",
        kind=kind if isinstance(kind, str) else "",
        config=config if isinstance(config, dict) else {},
        description=reader.string(raw, "description", path, default="") or "",
        timeout_seconds=reader.integer(raw, "timeout_seconds", path, DEFAULT_TASK_TIMEOUT, 1, MAX_TIMEOUT),
        retries=reader.integer(raw, "retries", path, 0, 0, MAX_RETRIES),
        retry_interval_seconds=reader.integer(raw, "retry_interval_seconds", path, 0, 0, MAX_TIMEOUT),
        retry_backoff=reader.boolean(raw, "retry_backoff", path, False),
        queue=_queue(reader, raw, path),
    )
    return spec


def _queue(reader: _Reader, raw: dict, path: str) -> str:
    """Read a task's queue: a name, and none of Baton's own (the scheduler tick's and the sweep's)."""
    queue = (reader.name(raw, "queue", path) or "default") if "queue" in raw else "default"
    if task_config.is_reserved_queue(queue):
        reader.add(
            _join(path, "queue"),
            _(
                "the queue %(queue)r is reserved for Baton's scheduler and sweep (queues starting with "
                "%(prefix)r are Baton's own); pick another queue",
                queue=queue,
                prefix=task_config.RESERVED_QUEUE_PREFIX,
            ),
        )
        return "default"
    return queue


def _edges(reader: _Reader, raw: Any) -> list[EdgeSpec] | None:
    if not isinstance(raw, list):
        reader.add("edges", _("is required") if raw is None else _("must be a list, not %(type)s", type=_type(raw)))
        return None
    edges: list[EdgeSpec] = []
    for index, item in enumerate(raw):
        path = f"edges[{index}]"
        if not isinstance(item, dict):
            reader.add(path, _("must be an object, not %(type)s", type=_type(item)))
            continue
        reader.unknown(item, EDGE_FIELDS, path)
        source = reader.string(item, "from", path)
        target = reader.string(item, "to", path)
        on = item.get("on")
        if on is not None and not isinstance(on, str):
            reader.add(_join(path, "on"), _("must be success or failure, not %(type)s", type=_type(on)))
            on = None
        if source is not None and target is not None:
            edges.append(EdgeSpec(source, target, on))
    return edges if len(edges) == len(raw) else None


def _trigger(reader: _Reader, raw: Any, now: datetime | None) -> dict[str, Any]:
    """Validate a trigger through its type's module (`workflows.triggers`) and return its canonical form."""
    path = "trigger"
    if not isinstance(raw, dict):
        reader.add(path, _("must be an object, not %(type)s", type=_type(raw)))
        return {"type": "none"}
    declared = triggers.find(raw.get("type"))
    if declared is None:
        known = ", ".join(triggers.TRIGGER_TYPES)
        reader.add(
            _join(path, "type"), _("must be one of %(known)s, not %(value)r", known=known, value=raw.get("type"))
        )
        return {"type": "none"}
    reader.unknown(raw, {"type", *declared.fields}, path)
    return declared.read(reader, raw, path, now)


def to_document(definition: Definition) -> dict[str, Any]:
    """Write the canonical document (every field present, in a fixed order)."""
    document: dict[str, Any] = {
        "name": definition.name,
        "team": definition.team,
        "description": definition.description,
        "enabled": definition.enabled,
        "trigger": dict(definition.trigger),
        "timeout_seconds": definition.timeout_seconds,
        "overlap_policy": definition.overlap_policy,
        "misfire_policy": definition.misfire_policy,
    }
    if definition.params:  # written only when declared: a definition without any reads as before
        document["params"] = {name: param.document() for name, param in definition.params.items()}
    document["nodes"] = [_node_document(node) for node in definition.nodes]
    document["edges"] = [_edge_document(edge) for edge in definition.edges]
    return document


def _node_document(node: NodeSpec) -> dict[str, Any]:
    document: dict[str, Any] = {"key": node.key, "type": node.type}
    if isinstance(node.task, TaskSpec):
        document["task"] = task_document(node.task)
    elif node.task is not None:
        document["task"] = node.task
    if node.core:
        document["core"] = True
    if node.position is not None:
        document["position"] = {"x": node.position[0], "y": node.position[1]}
    return document


def task_document(task: TaskSpec) -> dict[str, Any]:
    """Write a task's canonical object."""
    return {
        "name": task.name,
        "kind": task.kind,
        "config": task.config,
        "description": task.description,
        "timeout_seconds": task.timeout_seconds,
        "retries": task.retries,
        "retry_interval_seconds": task.retry_interval_seconds,
        "retry_backoff": task.retry_backoff,
        "queue": task.queue,
    }


def _edge_document(edge: EdgeSpec) -> dict[str, Any]:
    document = {"from": edge.source, "to": edge.target}
    if edge.on is not None:
        document["on"] = edge.on
    return document


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type(value: Any) -> str:
    names = {dict: _("an object"), list: _("a list"), str: _("a string"), bool: _("a boolean"), type(None): "null"}
    return names.get(type(value), type(value).__name__)


def parse_task(
    document: Any, *, registered_callables: Collection[str] | None = None, now: datetime | None = None
) -> tuple[TaskSpec, dict[str, Any]]:
    """Validate a standalone task's object (task fields plus an optional `trigger`)."""
    check_document(document)
    reader = _Reader()
    if not isinstance(document, dict):
        raise DefinitionError([Problem("", _("a task must be an object, not %(value)s", value=_type(document)))])
    fields = {k: v for k, v in document.items() if k != "trigger"}
    spec = _task(reader, fields, "", registered_callables)
    trigger = _trigger(reader, document.get("trigger", {"type": "none"}), now)
    if reader.problems:
        raise DefinitionError(reader.problems)
    return spec, trigger


def parse_trigger(raw: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Validate a trigger alone (a standalone task's, edited in the admin) and return its canonical form."""
    check_document(raw)
    reader = _Reader()
    trigger = _trigger(reader, raw, now)
    if reader.problems:
        raise DefinitionError(reader.problems)
    return trigger
