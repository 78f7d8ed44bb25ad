"""The hop on PostgreSQL in as few round trips as the guarantees allow.

A claim and a finish are what every node run pays, so here they are data-modifying CTEs (one
statement does the guarded update, the attempt row and the event rows) instead of the ORM's
one statement per row kind. The rules are those of `executions.store.orm`, unchanged:

* every status change is a compare-and-set on the row's current status (and, for a finish,
  on the attempt number, so a worker declared lost cannot overwrite its successor attempt);
* a finish that reads the batch's node states first locks the batch row (FOR NO KEY UPDATE)
  in its own statement, so the statement that reads them takes its snapshot after every
  earlier finish of the batch committed — two branches finishing at once see each other; a
  finish that needs no other state (`engine.straight_successors`) locks and writes in one;
* a claim locks the run's row before it reads it, so it also waits for a transaction that
  queued the run and sent its wake-up before committing (`claims_wait_for_commit`);
* events are written in the statement that makes the change, so they commit together.

The SQL is generated: table and column names come from the models' metadata, and every status
guard from `Sql.move`, which refuses a transition the map in `executions.states` does not allow
and records it on the statement (`Statement.guards`, read by a test). The stop request and
reading a batch's node runs are the ORM store's (one plain statement each).

The statements are prepared on the server (`BATON_PG_PREPARED`, on by default): planning a CTE
costs more than running it (0.33 ms against 0.17 ms for the claim). Django itself keeps
prepared statements off for the sake of connection poolers; PgBouncer in transaction mode
handles them from 1.21 (`max_prepared_statements`), older poolers need the setting off.
Why by hand: no library writes PostgreSQL CTEs for Django models, and the ORM cannot express
an UPDATE … RETURNING feeding an INSERT.
"""

# The statements are built from strings, but only of names read from the models' metadata and
# status literals the transition map allows; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import connection

from executions.dispatch import Wakeup
from executions.models import Attempt, Batch, Event, NodeRun
from executions.states import BATCH_TRANSITIONS, NODE_TRANSITIONS, BatchStatus, NodeStatus
from executions.store.base import Applied, AttemptEnd, LockedBatch, Move, NodeRow, RecordedFinish, StraightFinish
from executions.store.orm import OrmHopStore, stamp_auto_now
from executions.transitions import check_transition, moved_at

# --- the SQL, generated from the models and the transition map ----------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Table:
    """A model's table and its columns, quoted, as its metadata names them: `RUN.status` is `"status"`."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = _quote(model._meta.db_table)

    def __str__(self) -> str:
        return self.name

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return _quote(self.model._meta.get_field(name).column)

    def columns(self, *names: str) -> str:
        """Return the quoted columns of these fields, comma-separated."""
        return ", ".join(getattr(self, name) for name in names)


RUN, BATCH, ATTEMPT, EVENT = Table(NodeRun), Table(Batch), Table(Attempt), Table(Event)
TRANSITIONS = {NodeRun: NODE_TRANSITIONS, Batch: BATCH_TRANSITIONS}
STATUSES = {NodeRun: frozenset(NodeStatus.values), Batch: frozenset(BatchStatus.values)}


@dataclass(frozen=True)
class Guard:
    """A status change a statement makes: rows of `model` in `current` move to `to`."""

    model: Any
    current: str
    to: str


@dataclass(frozen=True)
class Statement:
    """One generated statement, the status changes it guards, and the statuses it only reads."""

    name: str
    sql: str
    guards: frozenset[Guard]
    reads: frozenset[tuple[Any, str]] = frozenset()


@dataclass
class Sql:
    """Collects the guards and status reads of one statement while its text is written."""

    guards: set[Guard] = field(default_factory=set)
    reads: set[tuple[Any, str]] = field(default_factory=set)

    def status(self, model: Any, value: str) -> str:
        """Return the literal of a status the statement reads (not a change)."""
        if value not in STATUSES[model]:
            raise ValueError(f"{value!r} is not a status of {model.__name__}")
        self.reads.add((model, value))
        return f"'{value}'"

    def move(self, model: Any, current: str, to: str) -> tuple[str, str]:
        """Return the literals of a guarded change current → to, refused unless the map allows it."""
        check_transition(TRANSITIONS[model], current, to)
        self.guards.add(Guard(model, current, to))
        return f"'{current}'", f"'{to}'"

    def move_to_parameter(self, model: Any, current: str, parameter: str) -> tuple[str, str]:
        """Return the literal of `current` for a change to a bound status: any the map allows from it."""
        for to in TRANSITIONS[model][current]:
            self.move(model, current, to)
        return f"'{current}'", parameter

    def statement(self, name: str, sql: str) -> Statement:
        return Statement(name, sql, frozenset(self.guards), frozenset(self.reads))


EVENT_COLUMNS = ("batch", "node_run", "node_key", "from_status", "to_status", "message", "at")
ATTEMPT_COLUMNS = ("node_run", "number", "status", "worker", "started_at", "finished_at", "output", "detail")


def _events(rows: Iterable[str]) -> str:
    """The INSERT of event rows: one SELECT per kind (in EVENT_COLUMNS order), joined by UNION ALL."""
    return f"INSERT INTO {EVENT} ({EVENT.columns(*EVENT_COLUMNS)})\n" + "\nUNION ALL\n".join(rows)


def _attempt_from(source: str) -> str:
    """The INSERT of the attempt row of the run `source` returns."""
    return (
        f"INSERT INTO {ATTEMPT} ({ATTEMPT.columns(*ATTEMPT_COLUMNS)}) "
        f"SELECT {RUN.id}, %(attempt)s, %(status)s, %(worker)s, %(started_at)s, %(now)s, %(output)s, "
        f"%(detail)s::jsonb FROM {source}"
    )


def _finish(sql: Sql, *, also: str = "") -> tuple[str, str]:
    """The CTE `fin` recording an attempt's end (running, on this attempt → %(to)s) and its event row."""
    running, to = sql.move_to_parameter(NodeRun, NodeStatus.RUNNING, "%(to)s")
    cte = f"""fin AS (
    UPDATE {RUN}
       SET {RUN.status} = {to}, {RUN.output} = %(output)s, {RUN.detail} = %(detail)s::jsonb,
           {RUN.outputs} = %(outputs)s::jsonb, {RUN.finished_at} = %(now)s, {RUN.retry_at} = COALESCE(%(retry_at)s, {RUN.retry_at})
     WHERE {RUN.id} = %(id)s AND {RUN.status} = {running} AND {RUN.attempts} = %(attempt)s{also}
 RETURNING {RUN.id})"""
    event = f"SELECT %(batch)s, {RUN.id}, %(key)s, {running}, {to}, %(message)s, %(now)s FROM fin"
    return cte, event


def _move(sql: Sql, name: str, current: str, to: str, *, where: str, message: str) -> tuple[str, str]:
    """A CTE moving the node runs `where` selects from `current` to `to` (returning id, key, queue), and its events."""
    old, new = sql.move(NodeRun, current, to)
    cte = f"""{name} AS (
    UPDATE {RUN} SET {RUN.status} = {new}, {getattr(RUN, moved_at(to))} = %(now)s
     WHERE {where} AND {RUN.status} = {old}
 RETURNING {RUN.id}, {RUN.node_key}, {RUN.queue})"""
    event = f"SELECT %(batch)s, {RUN.id}, {RUN.node_key}, {old}, {new}, {message}, %(now)s FROM {name}"
    return cte, event


# What a claim returns of the run (after its id) and of its batch, by field name.
CLAIMED_RUN = ("batch", "node_key", "node_type", "task_name", "queue", "attempts", "queued_at", "team")
CLAIMED_BATCH = ("workflow", "version", "task", "snapshot", "status", "stop_requested_at", "stop_reason", "deadline_at")


def _claim() -> Statement:
    # The run's row is locked first and the guard reads the locked (newest) version: a wake-up
    # sent before the queuing transaction committed (`dispatch.before_commit`) waits here for
    # that commit and then sees `queued`. The UPDATE filters on nothing of its own row version:
    # the version in the statement's snapshot may be the older `pending` one, and a filter on it
    # would skip the row instead of waiting. The lock makes `old` the current state.
    sql = Sql()
    retrying, requeued = sql.move(NodeRun, NodeStatus.RETRYING, NodeStatus.QUEUED)
    queued, running = sql.move(NodeRun, NodeStatus.QUEUED, NodeStatus.RUNNING)
    returning = ", ".join(f"r.{getattr(RUN, name)}" for name in CLAIMED_RUN)
    selected = ", ".join(
        [
            *(f"run.{getattr(RUN, name)}" for name in CLAIMED_RUN),
            *(f"b.{getattr(BATCH, name)}" for name in CLAIMED_BATCH),
        ]
    )
    events = _events(
        [
            f"SELECT {RUN.batch}, {RUN.id}, {RUN.node_key}, {retrying}, {requeued}, 'retry due', %(now)s "
            f"FROM run WHERE was = {retrying}",
            f"SELECT {RUN.batch}, {RUN.id}, {RUN.node_key}, {queued}, {running}, "
            f"'attempt ' || {RUN.attempts} || ' on ' || %(worker)s, %(now)s FROM run",
        ]
    )
    text = f"""
WITH old AS (
    SELECT {RUN.id}, {RUN.status}, {RUN.retry_at} FROM {RUN} WHERE {RUN.id} = %(id)s FOR NO KEY UPDATE
), run AS (
    UPDATE {RUN} r
       SET {RUN.status} = {running}, {RUN.attempts} = r.{RUN.attempts} + 1, {RUN.started_at} = %(now)s,
           {RUN.finished_at} = NULL, {RUN.heartbeat_at} = %(now)s, {RUN.worker} = %(worker)s, {RUN.resent} = 0,
           {RUN.resend_at} = NULL, {RUN.output} = '',
           {RUN.queued_at} = CASE WHEN old.{RUN.status} = {retrying} THEN %(now)s ELSE r.{RUN.queued_at} END
      FROM old
     WHERE r.{RUN.id} = old.{RUN.id}
       AND (old.{RUN.status} = {queued}
            OR (old.{RUN.status} = {retrying} AND (old.{RUN.retry_at} IS NULL OR old.{RUN.retry_at} <= %(due_by)s)))
 RETURNING r.{RUN.id}, {returning}, old.{RUN.status} AS was
), ev AS (
    {events}
)
SELECT run.{RUN.id}, {selected} FROM run JOIN {BATCH} b ON b.{BATCH.id} = run.{RUN.batch}
"""
    return sql.statement("claim", text)


# What locking a batch reads of it, in `LockedBatch`'s order (after its id).
LOCKED_COLUMNS = BATCH.columns(
    "status", "stop_requested_at", "stop_reason", "deadline_at", "trigger", "workflow", "task", "paused_at", "team"
)


def _lock_batch() -> Statement:
    return Sql().statement(
        "lock batch", f"SELECT {LOCKED_COLUMNS} FROM {BATCH} WHERE {BATCH.id} = %s FOR NO KEY UPDATE"
    )


def _record_finish() -> Statement:
    # The node rows are read in the same statement, so the finished run still shows its old
    # status there: the store puts the new one in.
    sql = Sql()
    fin, event = _finish(sql)
    columns = ", ".join(f"r.{getattr(RUN, name)}" for name in ("id", "node_key", "status", "queue"))
    text = f"""
WITH {fin}, att AS (
    {_attempt_from("fin")}
), ev AS (
    {_events([event])}
)
SELECT {columns}, EXISTS (SELECT 1 FROM fin) FROM {RUN} r WHERE r.{RUN.batch} = %(batch)s AND %(read_states)s
UNION ALL
SELECT NULL, NULL, NULL, NULL, EXISTS (SELECT 1 FROM fin) WHERE NOT %(read_states)s
"""
    return sql.statement("record finish", text)


def _finish_straight() -> Statement:
    # Lock, record, queue the successors and write the events in one statement. The batch row is
    # locked with its conditions re-checked on the newest version, so a stop that committed while
    # we waited empties `b`, and nothing else runs: the caller then takes the general path.
    sql = Sql()
    running = sql.status(Batch, BatchStatus.RUNNING)
    fin, finish_event = _finish(sql, also=" AND EXISTS (SELECT 1 FROM b)")
    queue, queue_event = _move(
        sql,
        "q",
        NodeStatus.PENDING,
        NodeStatus.QUEUED,
        where=f"{RUN.batch} = %(batch)s AND {RUN.node_key} = ANY(%(successors)s) AND EXISTS (SELECT 1 FROM fin)",
        message="''",
    )
    text = f"""
WITH b AS (
    SELECT {BATCH.id} FROM {BATCH}
     WHERE {BATCH.id} = %(batch)s AND {BATCH.status} = {running} AND {BATCH.stop_requested_at} IS NULL
       AND {BATCH.paused_at} IS NULL AND ({BATCH.deadline_at} IS NULL OR {BATCH.deadline_at} > %(now)s)
       FOR NO KEY UPDATE
), {fin}, att AS (
    {_attempt_from("fin")}
), {queue}, ev AS (
    {_events([finish_event, queue_event])}
)
SELECT EXISTS (SELECT 1 FROM b), EXISTS (SELECT 1 FROM fin), array_agg(q.{RUN.id}), array_agg(q.{RUN.queue}) FROM q
"""
    return sql.statement("finish straight", text)


def _finish_alone() -> Statement:
    # A one-node batch's end: lock the running batch (re-checked on its newest version, as in the
    # straight finish), record the end and end the batch, with their events, in one statement. The
    # batch row is locked by `b` and updated by `ended` in the same statement: a row this
    # transaction locked it may update; `ended` re-checks `running` on the newest version.
    sql = Sql()
    running = sql.status(Batch, BatchStatus.RUNNING)
    fin, finish_event = _finish(sql, also=" AND EXISTS (SELECT 1 FROM b)")
    was, result = sql.move_to_parameter(Batch, BatchStatus.RUNNING, "%(result)s")
    text = f"""
WITH b AS (
    SELECT {LOCKED_COLUMNS} FROM {BATCH}
     WHERE {BATCH.id} = %(batch)s AND {BATCH.status} = {running} AND {BATCH.stop_requested_at} IS NULL
       AND {BATCH.paused_at} IS NULL AND ({BATCH.deadline_at} IS NULL OR {BATCH.deadline_at} > %(now)s)
       FOR NO KEY UPDATE
), {fin}, att AS (
    {_attempt_from("fin")}
), ended AS (
    UPDATE {BATCH} SET {BATCH.status} = {result}, {BATCH.finished_at} = %(now)s
     WHERE {BATCH.id} = %(batch)s AND {BATCH.status} = {was} AND EXISTS (SELECT 1 FROM fin)
 RETURNING {BATCH.id}
), ev AS (
    {_events([finish_event, f"SELECT %(batch)s, NULL::bigint, '', {was}, {result}, '', %(now)s FROM ended"])}
)
SELECT b.*, EXISTS (SELECT 1 FROM fin), EXISTS (SELECT 1 FROM ended) FROM (VALUES (1)) AS one (x) LEFT JOIN b ON true
"""
    return sql.statement("finish alone", text)


# A shape of `apply`: the (current, to) of each move, in order, and whether it ends the batch.
ApplyShape = tuple[tuple[tuple[str, str], ...], bool]


def apply_statement(shape: ApplyShape) -> Statement:
    """The statement applying moves of this shape: one CTE per move, the batch's end, every event."""
    moves, ends = shape
    sql = Sql()
    ctes, events, queued = [], [], []
    for index, (current, to) in enumerate(moves):
        name = f"move{index}"
        cte, event = _move(sql, name, current, to, where=f"{RUN.id} = ANY(%({name})s)", message="%(message)s")
        ctes.append(cte)
        events.append(event)
        if to == NodeStatus.QUEUED:
            queued.append(f"SELECT {RUN.id}, {RUN.queue} FROM {name}")
    if ends:
        running, result = sql.move_to_parameter(Batch, BatchStatus.RUNNING, "%(result)s")
        ctes.append(f"""ended AS (
    UPDATE {BATCH} SET {BATCH.status} = {result}, {BATCH.finished_at} = %(now)s
     WHERE {BATCH.id} = %(batch)s AND {BATCH.status} = {running}
 RETURNING {BATCH.id})""")
        events.append(f"SELECT %(batch)s, NULL::bigint, '', {running}, {result}, '', %(now)s FROM ended")
        queued.append("SELECT NULL::bigint, NULL::varchar FROM ended")
    ctes.append(f"ev AS (\n    {_events(events)}\n)")
    returned = "\nUNION ALL\n".join(queued) or "SELECT NULL::bigint, NULL::varchar WHERE false"
    return sql.statement(f"apply {shape}", "WITH " + ",\n".join(ctes) + "\n" + returned)


CLAIM = _claim()
LOCK_BATCH = _lock_batch()
RECORD_FINISH = _record_finish()
FINISH_STRAIGHT = _finish_straight()
FINISH_ALONE = _finish_alone()
_APPLY: dict[ApplyShape, Statement] = {}


def statements() -> list[Statement]:
    """Return the fixed statements and every apply statement the services can ask for."""
    decisions = [(NodeStatus.PENDING, to) for to in (NodeStatus.QUEUED, NodeStatus.SUCCEEDED, NodeStatus.SKIPPED)]
    stops = [(current, NodeStatus.STOPPED) for current in (NodeStatus.PENDING, NodeStatus.QUEUED, NodeStatus.RETRYING)]
    shapes = [(tuple(decisions), True), (tuple(decisions), False), (tuple(stops), False), ((), True)]
    return [
        CLAIM,
        LOCK_BATCH,
        RECORD_FINISH,
        FINISH_STRAIGHT,
        FINISH_ALONE,
        *(apply_statement(shape) for shape in shapes),
    ]


# --- the connection -----------------------------------------------------------------------------

_cursor_class: Any = None


def _cursor() -> Any:
    """A server-side-binding cursor that prepares its statements, wrapped as Django wraps cursors.

    Django's wrapper translates driver errors (a lost connection is `OperationalError`, which
    the worker's retry handles) and logs the statement where Django logs queries.
    """
    global _cursor_class
    if _cursor_class is None:
        # Imported on first use: this module loads on every database, SQLite included.
        from django.db.backends.postgresql.base import ServerBindingCursor

        class PreparingCursor(ServerBindingCursor):
            def execute(self, query, params=None, *, prepare=None, binary=None):
                prepare = settings.BATON_PG_PREPARED if prepare is None else prepare
                result = super().execute(query, params, prepare=prepare, binary=binary)
                if self._query is None:  # psycopg keeps no text of a prepared execution; Django's log reads it
                    self._query = SimpleNamespace(query=query.encode(), params=params)
                return result

        _cursor_class = PreparingCursor
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # psycopg prepares nothing, not even on request, without a threshold; a huge one keeps
        # its automatic preparation of other statements off while `prepare=True` works.
        raw.prepare_threshold = 1_000_000_000
    with connection.wrap_database_errors:
        return connection._prepare_cursor(_cursor_class(raw))


def _run(statement: Statement, params: Any) -> list[tuple]:
    with _cursor() as cursor:
        cursor.execute(statement.sql, params)
        return cursor.fetchall()


# --- the store ----------------------------------------------------------------------------------


class PostgresHopStore(OrmHopStore):
    """A hop's writes as PostgreSQL CTEs; a claim and a straight finish are one statement each."""

    claims_wait_for_commit = True

    def insert(self, model: Any, objs: list[Any], now: datetime) -> None:
        """Insert rows with one `INSERT … SELECT … FROM unnest(…)`, one binary array per column.

        The arrays are read straight off the instances (the ORM's bulk_create converts every field
        of every object in Python first). An auto id comes back through RETURNING in the order of
        the arrays, which is what the ORM's bulk_create relies on too. No signals, no field
        validation: for rows the caller built itself.
        """
        if not objs:
            return
        stamp_auto_now(model, objs, now)
        sql, fields, returning = _unnest_insert(model, with_pk=objs[0].pk is not None)
        columns: list[list[Any]] = []
        for column in fields:
            values = [getattr(obj, column.attname) for obj in objs]
            if column.get_internal_type() == "JSONField":
                encoder = column.encoder
                values = [None if v is None else json.dumps(v, cls=encoder) for v in values]
            columns.append(values)
        # Bound on the server and sent in binary: Django's client-side binding quotes every array
        # element in Python, which was half of the time of inserting a thousand fires' events.
        with _cursor() as cursor:
            cursor.execute(sql.replace("%s", "%b"), columns)
            if returning:
                for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                    obj.pk = pk
        for obj in objs:
            obj._state.adding, obj._state.db = False, connection.alias

    def claim(self, node_run_id: int, *, now: datetime, due_by: datetime, worker: str) -> NodeRun | None:
        """Lock, guard, move and write the events in one statement."""
        rows = _run(CLAIM, {"id": node_run_id, "now": now, "due_by": due_by, "worker": worker})
        if not rows:
            return None
        row = rows[0]
        run_values, batch_values = row[1 : 1 + len(CLAIMED_RUN)], row[1 + len(CLAIMED_RUN) :]
        # The primary keys by their field names: `pk=` would first fill in each model's default (a
        # batch's is a new random id), which was half the cost of building these two objects.
        run = NodeRun(
            id=row[0],
            status=NodeStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            **_attributes(NodeRun, CLAIMED_RUN, run_values),
        )
        run.batch = Batch(id=run.batch_id, **_attributes(Batch, CLAIMED_BATCH, batch_values))
        if isinstance(run.batch.snapshot, str):
            run.batch.snapshot = json.loads(run.batch.snapshot)
        return run

    def lock_batch(self, batch_id: str) -> LockedBatch:
        """Lock the batch row (FOR NO KEY UPDATE) and read what a finish needs of it."""
        rows = _run(LOCK_BATCH, [batch_id])
        if not rows:
            raise Batch.DoesNotExist(f"batch {batch_id} does not exist")
        return LockedBatch(batch_id, *rows[0])

    def record_finish(self, end: AttemptEnd, *, read_states: bool) -> RecordedFinish | None:
        """Record the end, the attempt and the event, and read the batch's node runs, in one statement."""
        rows = _run(RECORD_FINISH, {**_finish_params(end), "read_states": read_states})
        if not (rows and rows[0][4]):
            return None
        states = [NodeRow(pk, key, end.to if pk == end.run_id else status, queue) for pk, key, status, queue, _ in rows]
        return RecordedFinish([row for row in states if row.pk is not None])

    def finish_straight(
        self, end: AttemptEnd, successors: tuple[str, ...], *, result: str | None = None
    ) -> StraightFinish:
        """Lock the running batch, record the end and queue the successors, or end the batch, in one statement."""
        if result is not None:
            check_transition(BATCH_TRANSITIONS, BatchStatus.RUNNING, result)
            ((*locked, recorded, ended),) = _run(FINISH_ALONE, {**_finish_params(end), "result": result})
            if locked[0] is None:
                return StraightFinish(locked=False, recorded=False, queued=[])
            batch = LockedBatch(end.batch_id, *locked)
            return StraightFinish(locked=True, recorded=recorded, queued=[], ended=ended, batch=batch)
        params = {**_finish_params(end), "successors": list(successors)}
        ((locked, recorded, ids, queues),) = _run(FINISH_STRAIGHT, params)
        return StraightFinish(locked, recorded, list(zip(ids or [], queues or [], strict=True)))

    def apply(
        self, batch_id: str, moves: list[Move], *, now: datetime, message: str = "", result: str | None = None
    ) -> Applied:
        """Apply every move and the batch's end, with their events, in one statement."""
        moves = [move for move in moves if move.runs]
        if not moves and result is None:
            return Applied([], False)
        if result is not None:
            check_transition(BATCH_TRANSITIONS, BatchStatus.RUNNING, result)
        shape: ApplyShape = (tuple((move.current, move.to) for move in moves), result is not None)
        statement = _APPLY.get(shape) or _APPLY.setdefault(shape, apply_statement(shape))
        params: dict[str, Any] = {"batch": batch_id, "now": now, "message": message, "result": result}
        params |= {f"move{index}": [row.pk for row in move.runs] for index, move in enumerate(moves)}
        rows = _run(statement, params)
        queued: list[Wakeup] = [(pk, queue) for pk, queue in rows if pk is not None]
        return Applied(queued, ended=any(pk is None for pk, _ in rows))


def _attributes(model: Any, names: tuple[str, ...], values: Iterable[Any]) -> dict[str, Any]:
    """Map the values a statement returned for these fields to the model's attribute names."""
    return {model._meta.get_field(name).attname: value for name, value in zip(names, values, strict=True)}


def _finish_params(end: AttemptEnd) -> dict[str, Any]:
    check_transition(NODE_TRANSITIONS, NodeStatus.RUNNING, end.to)
    return {
        "id": end.run_id,
        "batch": end.batch_id,
        "key": end.node_key,
        "attempt": end.attempt,
        "to": end.to,
        "status": end.status,
        "message": end.message,
        "output": end.output,
        "detail": json.dumps(end.detail),
        "outputs": json.dumps(end.outputs),
        "worker": end.worker,
        "started_at": end.started_at,
        "now": end.now,
        "retry_at": end.retry_at,
    }


_UNNEST_SQL: dict[tuple[Any, bool], tuple[str, list[Any], bool]] = {}


def _unnest_insert(model: Any, *, with_pk: bool) -> tuple[str, list[Any], bool]:
    """The `INSERT … SELECT FROM unnest` statement of a model (built once per model)."""
    key = (model, with_pk)
    if key not in _UNNEST_SQL:
        fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
        names = [_quote(f.column) for f in fields]
        arrays = [
            "%s::text[]" if f.get_internal_type() == "JSONField" else f"%s::{f.db_type(connection)}[]" for f in fields
        ]
        selects = [
            f"u.{n}::jsonb" if f.get_internal_type() == "JSONField" else f"u.{n}"
            for f, n in zip(fields, names, strict=True)
        ]
        returning = not with_pk
        # Names and types come from the model's metadata; every value is a bound parameter.
        sql = (
            f"INSERT INTO {_quote(model._meta.db_table)} ({', '.join(names)}) "
            f"SELECT {', '.join(selects)} FROM unnest({', '.join(arrays)}) AS u({', '.join(names)})"
            + (f" RETURNING {_quote(model._meta.pk.column)}" if returning else "")
        )
        _UNNEST_SQL[key] = (sql, fields, returning)
    return _UNNEST_SQL[key]
