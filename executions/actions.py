"""Which operator action is allowed in which batch and node state: the one table every interface checks.

Pure Python, no Django. The services refuse with `refusal`; the admin shows a button, the API
and the CLI answer, only where `refusal` is None; docs/decisions.md renders `table_markdown`.
A batch's state here is its status, refined while it runs: `paused` (an operator paused it),
`stopping` (a stop or its timeout was requested; it ends once nothing runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from baton.text import Text, _
from executions import engine

# The states of a batch the table knows (BatchStatus values, and the two refinements of running).
RUNNING, PAUSED, STOPPING = "running", "paused", "stopping"
SUCCEEDED, FAILED, TIMED_OUT, STOPPED = "succeeded", "failed", "timed_out", "stopped"
BATCH_STATES = (RUNNING, PAUSED, STOPPING, SUCCEEDED, FAILED, TIMED_OUT, STOPPED)
ENDED = frozenset({SUCCEEDED, FAILED, TIMED_OUT, STOPPED})

STOP, PAUSE, CONTINUE = "stop", "pause", "continue"
RERUN, RESUME, RERUN_FROM = "rerun", "resume", "rerun_from"
MARK_SUCCEEDED, SKIP = "mark_succeeded", "skip"


@dataclass(frozen=True)
class Rule:
    """Where an action is allowed: batch states, and for a node action the node's states (None: any)."""

    batch: frozenset[str]
    node: frozenset[str] | None
    refused: str  # the reason when the batch's state does not allow it: %(batch)s, %(state)s
    node_refused: str = ""  # the reason when the node's state does not allow it: %(node)s, %(state)s


RULES: dict[str, Rule] = {
    STOP: Rule(
        frozenset({RUNNING, PAUSED, STOPPING}),
        None,
        _("batch %(batch)s is %(state)s, not running"),
    ),
    PAUSE: Rule(
        frozenset({RUNNING}),
        None,
        _("batch %(batch)s is %(state)s: only a running batch can be paused"),
    ),
    CONTINUE: Rule(
        frozenset({PAUSED}),
        None,
        _("batch %(batch)s is %(state)s, not paused"),
    ),
    RERUN: Rule(
        ENDED,
        None,
        _("batch %(batch)s is %(state)s: it is still running; stop it or wait for it to end"),
    ),
    RESUME: Rule(
        frozenset({FAILED, TIMED_OUT, STOPPED}),
        None,
        _("batch %(batch)s %(state)s: only a failed, timed-out or stopped batch can be resumed; re-run it"),
    ),
    RERUN_FROM: Rule(
        ENDED,
        None,
        _("batch %(batch)s is %(state)s: it is still running; stop it or wait for it to end"),
    ),
    MARK_SUCCEEDED: Rule(
        frozenset({RUNNING, PAUSED, *ENDED}),
        frozenset({engine.FAILED, engine.TIMED_OUT, engine.STOPPED}),
        _("batch %(batch)s is %(state)s: wait for it to end, then mark the node succeeded"),
        _("node %(node)s is %(state)s: only a failed, timed-out or stopped task node can be marked succeeded"),
    ),
    SKIP: Rule(
        frozenset({RUNNING, PAUSED}),
        frozenset({engine.PENDING}),
        _("batch %(batch)s is %(state)s: only a node of a running or paused batch can be skipped"),
        _("node %(node)s is %(state)s: only a pending node (not started yet) can be skipped"),
    ),
}

# What each action is called in the table and in messages.
ACTION_NAMES = {
    STOP: "stop",
    PAUSE: "pause",
    CONTINUE: "continue (after a pause)",
    RERUN: "re-run",
    RESUME: "resume from failure",
    RERUN_FROM: "re-run from a node",
    MARK_SUCCEEDED: "mark a node succeeded",
    SKIP: "skip a node",
}


def batch_state(status: str, *, paused: bool, stopping: bool) -> str:
    """Return a batch's state for the table: its status, or paused / stopping while it runs."""
    if status != RUNNING:
        return status
    if stopping:
        return STOPPING
    return PAUSED if paused else RUNNING


def refusal(
    action: str, state: str, *, batch: str, node: str | None = None, node_state: str | None = None
) -> Text | None:
    """Say why `action` is not allowed on batch `batch` in `state` (and node `node` in `node_state`), or None."""
    rule = RULES[action]
    if state not in rule.batch:
        return _(str(rule.refused), batch=batch, state=state)
    if rule.node is not None and node_state is not None and node_state not in rule.node:
        return _(str(rule.node_refused), node=repr(node), state=node_state)
    return None


def allowed(action: str, state: str, node_state: str | None = None) -> bool:
    """Say whether the table allows `action` in these states."""
    return refusal(action, state, batch="", node="", node_state=node_state) is None


def table_markdown() -> str:
    """Render the table (docs/decisions.md holds this text; a test keeps them equal)."""
    head = "| action | " + " | ".join(BATCH_STATES) + " | node states |"
    lines = [head, "|" + "---|" * (len(BATCH_STATES) + 2)]
    for action, rule in RULES.items():
        cells = ["yes" if state in rule.batch else "—" for state in BATCH_STATES]
        nodes = "any task node" if rule.node is None else ", ".join(sorted(rule.node))
        if rule.node is None and action in (STOP, PAUSE, CONTINUE, RERUN, RESUME):
            nodes = "—"
        lines.append(f"| {ACTION_NAMES[action]} | " + " | ".join(cells) + f" | {nodes} |")
    return "\n".join(lines)
