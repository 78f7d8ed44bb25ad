"""What a hop writes, as named operations: the seam between the lifecycle services and the database.

The services (`executions.lifecycle`) decide — with the pure engine — and speak to the database
only through a `HopStore`; its two implementations write the same rows, one with the ORM
(`executions.store.orm`, any database, SQLite the embedded default) and one in as few
PostgreSQL statements as the guarantees allow (`executions.store.postgres`). Every operation
runs in the caller's transaction, except the claim and the straight finish, which are their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from executions.dispatch import Wakeup
from executions.models import NodeRun


class NodeRow(NamedTuple):
    """A node run of a batch as the engine reads it."""

    pk: int
    node_key: str
    status: str
    queue: str


@dataclass
class LockedBatch:
    """A batch row locked for the caller's transaction: what a finish and an advance read of it."""

    pk: str
    status: str
    stop_requested_at: datetime | None
    stop_reason: str
    deadline_at: datetime | None
    # Read with the lock at no extra cost, for the labels of the batch's end (`ops.metrics`).
    trigger: str = ""
    workflow_id: int | None = None
    task_id: int | None = None
    paused_at: datetime | None = None  # an operator paused it: nothing is queued until it continues
    team_id: int | None = None  # whose alerts its end may set off (`dispatch.alert_after_commit`)

    def past_deadline(self, now: datetime) -> bool:
        """Say whether the batch's deadline has passed."""
        return self.deadline_at is not None and self.deadline_at <= now

    def stopping(self, now: datetime) -> bool:
        """Say whether the batch starts nothing any more: a stop was requested or its deadline passed."""
        return self.stop_requested_at is not None or self.past_deadline(now)


@dataclass(frozen=True)
class AttemptEnd:
    """How one attempt of a node run ended, and the node run's move that records it."""

    run_id: int
    batch_id: str
    node_key: str
    attempt: int  # the attempt's number: recorded only while the run is still running this attempt
    worker: str
    started_at: datetime
    status: str  # the attempt's own status: succeeded, failed, timed_out or stopped
    to: str  # the node run's new status: the attempt's, or retrying
    message: str  # the event's message
    output: str
    detail: dict[str, Any]
    now: datetime
    retry_at: datetime | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # the values the attempt published


@dataclass(frozen=True)
class ReferenceContext:
    """What a node's references read when it runs: the batch's context and its referenced nodes' outputs."""

    batch: dict[str, Any]  # Batch.context
    nodes: dict[str, tuple[str, dict[str, Any]]]  # node key -> (status, outputs)


@dataclass(frozen=True)
class Move:
    """Node runs of one batch that move from `current` to `to` together (one guarded update)."""

    current: str
    to: str
    runs: tuple[NodeRow, ...]


@dataclass(frozen=True)
class Applied:
    """What applying moves did: the runs it queued (to wake) and whether it ended the batch."""

    queued: list[Wakeup]
    ended: bool


@dataclass(frozen=True)
class RecordedFinish:
    """A finish that was recorded, and the batch's node runs after it (when they were asked for)."""

    rows: list[NodeRow]


@dataclass(frozen=True)
class StraightFinish:
    """What a straight finish did.

    Not `locked`: the batch is stopping, paused, past its deadline or no longer running, and
    nothing was written (the caller takes the general path). Not `recorded`: the run was no
    longer running this attempt. `queued`: the successors it queued. `ended`: it ended the
    batch (asked with a result); `batch` is then the batch row as it was locked.
    """

    locked: bool
    recorded: bool
    queued: list[Wakeup]
    ended: bool = False
    batch: LockedBatch | None = None


class HopStore(Protocol):
    """The writes of a hop: claim, lock the batch, record a finish, apply moves, finish a straight chain."""

    # True where a claim locks the run's row before it reads it, so it waits for a transaction
    # that queued the run: wake-ups may then be sent before that transaction commits.
    claims_wait_for_commit: bool

    def insert(self, model: Any, objs: list[Any], now: datetime) -> None:
        """Insert rows the caller built (ids set on the instances); `auto_now_add` fields say `now`."""

    def claim(self, node_run_id: int, *, now: datetime, due_by: datetime, worker: str) -> NodeRun | None:
        """Move QUEUED (or RETRYING due by `due_by`) → RUNNING with its events; the run and its batch, or None."""

    def lock_batch(self, batch_id: str) -> LockedBatch:
        """Lock the batch row for the caller's transaction (FOR NO KEY UPDATE) and read it."""

    def node_rows(self, batch_id: str) -> list[NodeRow]:
        """Read every node run of the batch."""

    def reference_context(self, run_id: int, batch_id: str, nodes: frozenset[str]) -> ReferenceContext:
        """Read, in one query, the batch's context and the status and outputs of the `nodes` of the batch."""

    def record_finish(self, end: AttemptEnd, *, read_states: bool) -> RecordedFinish | None:
        """Record an attempt's end (running → `end.to`, the attempt row, the event); None if not recorded."""

    def finish_straight(
        self, end: AttemptEnd, successors: tuple[str, ...], *, result: str | None = None
    ) -> StraightFinish:
        """Lock the running batch, record the end, and queue the pending `successors` or end the batch with `result`.

        One transaction of its own (a part of the caller's, if it is in one). `successors` are node keys.
        """

    def apply(
        self, batch_id: str, moves: list[Move], *, now: datetime, message: str = "", result: str | None = None
    ) -> Applied:
        """Apply guarded moves of node runs with their events, and end the running batch with `result`."""

    def request_stop(self, batch_id: str, *, reason: str, now: datetime, message: str) -> None:
        """Record that the batch is to stop (`reason`: stopped or timed_out), with its event."""
