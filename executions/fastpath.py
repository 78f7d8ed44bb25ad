"""The node hop on PostgreSQL in as few round trips as the guarantees allow.

A claim and a finish are what every node run pays, so on PostgreSQL they are written as
data-modifying CTEs (one statement does the guarded update, the attempt row and the event
rows) instead of the ORM's one statement per row kind. The rules are those of
`executions.transitions` and `executions.services`, unchanged:

* every status change is a compare-and-set on the row's current status (and, for a finish,
  on the attempt number, so a worker declared lost cannot overwrite its successor attempt);
* a finish that reads the batch's node states first locks the batch row (FOR NO KEY UPDATE)
  in its own statement, so the statement that reads them takes its snapshot after every
  earlier finish of the batch committed — two branches finishing at once see each other; a
  finish that needs no other state (`engine.straight_successors`) locks and writes in one;
* a claim locks the run's row before it reads it, so it also waits for a transaction that
  queued the run and sent its wake-up before committing;
* events are written in the statement that makes the change, so they commit together.

The statements are prepared on the server (`BATON_PG_PREPARED`, on by default): planning a CTE
costs more than running it (0.33 ms against 0.17 ms for the claim). Django itself keeps
prepared statements off for the sake of connection poolers; PgBouncer in transaction mode
handles them from 1.21 (`max_prepared_statements`), older poolers need the setting off.

Other databases (SQLite, the embedded default) take the ORM path in `executions.services`;
round trips cost microseconds there. Why by hand: no library writes PostgreSQL CTEs for
Django models, and the ORM cannot express an UPDATE … RETURNING feeding an INSERT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import connection

from executions.states import NodeStatus

N = NodeStatus

# The run's row is locked first and the guard reads the locked (newest) version: a wake-up
# sent before the queuing transaction committed (`dispatch.dispatch_before_commit`) waits
# here for that commit and then sees `queued`. The UPDATE filters on nothing of its own row
# version: the version in the statement's snapshot may be the older `pending` one, and a
# filter on it would skip the row instead of waiting. The lock makes `old` the current state.
CLAIM = """
WITH old AS (
    SELECT id, status, retry_at FROM executions_noderun WHERE id = %(id)s FOR NO KEY UPDATE
), run AS (
    UPDATE executions_noderun r
       SET status = 'running', attempts = r.attempts + 1, started_at = %(now)s, finished_at = NULL,
           heartbeat_at = %(now)s, worker = %(worker)s, resent = 0, resend_at = NULL,
           queued_at = CASE WHEN old.status = 'retrying' THEN %(now)s ELSE r.queued_at END
      FROM old
     WHERE r.id = old.id
       AND (old.status = 'queued' OR (old.status = 'retrying' AND (old.retry_at IS NULL OR old.retry_at <= %(soon)s)))
 RETURNING r.id, r.batch_id, r.node_key, r.node_type, r.task_name, r.queue, r.attempts, old.status AS was
), ev AS (
    INSERT INTO executions_event (batch_id, node_run_id, node_key, from_status, to_status, message, at)
    SELECT batch_id, id, node_key, 'retrying', 'queued', 'retry due', %(now)s FROM run WHERE was = 'retrying'
    UNION ALL
    SELECT batch_id, id, node_key, 'queued', 'running', 'attempt ' || attempts || ' on ' || %(worker)s, %(now)s
      FROM run
)
SELECT run.id, run.batch_id, run.node_key, run.node_type, run.task_name, run.queue, run.attempts,
       b.workflow_id, b.version_id, b.task_id, b.snapshot, b.status, b.stop_requested_at, b.stop_reason,
       b.deadline_at
  FROM run JOIN executions_batch b ON b.id = run.batch_id
"""

LOCK_BATCH = (
    "SELECT status, stop_requested_at, stop_reason, deadline_at FROM executions_batch WHERE id = %s FOR NO KEY UPDATE"
)

FINISH = """
WITH fin AS (
    UPDATE executions_noderun
       SET status = %(to)s, output = %(output)s, detail = %(detail)s::jsonb, finished_at = %(now)s,
           retry_at = COALESCE(%(retry_at)s, retry_at)
     WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s
 RETURNING id
), att AS (
    INSERT INTO executions_attempt (node_run_id, number, status, worker, started_at, finished_at, output, detail)
    SELECT id, %(attempt)s, %(status)s, %(worker)s, %(started_at)s, %(now)s, %(output)s, %(detail)s::jsonb FROM fin
), ev AS (
    INSERT INTO executions_event (batch_id, node_run_id, node_key, from_status, to_status, message, at)
    SELECT %(batch)s, id, %(key)s, 'running', %(to)s, %(message)s, %(now)s FROM fin
)
SELECT r.id, r.node_key, r.status, r.queue, EXISTS (SELECT 1 FROM fin)
  FROM executions_noderun r WHERE r.batch_id = %(batch)s AND %(read_states)s
UNION ALL
SELECT NULL, NULL, NULL, NULL, EXISTS (SELECT 1 FROM fin) WHERE NOT %(read_states)s
"""

# A finish whose decision needs no other state (`engine.straight_successors`): lock, record,
# queue the successors and write the events in one statement. The batch row is locked with
# its conditions re-checked on the newest version, so a stop that committed while we waited
# empties `b`, and nothing else runs: the caller then takes the general path.
FINISH_STRAIGHT = """
WITH b AS (
    SELECT id FROM executions_batch
     WHERE id = %(batch)s AND status = 'running' AND stop_requested_at IS NULL
       AND (deadline_at IS NULL OR deadline_at > %(now)s)
       FOR NO KEY UPDATE
), fin AS (
    UPDATE executions_noderun
       SET status = %(to)s, output = %(output)s, detail = %(detail)s::jsonb, finished_at = %(now)s
     WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s AND EXISTS (SELECT 1 FROM b)
 RETURNING id
), att AS (
    INSERT INTO executions_attempt (node_run_id, number, status, worker, started_at, finished_at, output, detail)
    SELECT id, %(attempt)s, %(to)s, %(worker)s, %(started_at)s, %(now)s, %(output)s, %(detail)s::jsonb FROM fin
), q AS (
    UPDATE executions_noderun SET status = 'queued', queued_at = %(now)s
     WHERE batch_id = %(batch)s AND node_key = ANY(%(next)s) AND status = 'pending' AND EXISTS (SELECT 1 FROM fin)
 RETURNING id, node_key, queue
), ev AS (
    INSERT INTO executions_event (batch_id, node_run_id, node_key, from_status, to_status, message, at)
    SELECT %(batch)s, id, %(key)s, 'running', %(to)s, %(message)s, %(now)s FROM fin
    UNION ALL
    SELECT %(batch)s, id, node_key, 'pending', 'queued', '', %(now)s FROM q
)
SELECT EXISTS (SELECT 1 FROM b), EXISTS (SELECT 1 FROM fin), array_agg(q.id), array_agg(q.queue) FROM q
"""

# One CTE per kind of move an engine decision makes (pending nodes only), with its event rows.
MOVES = {
    "q": (
        """q AS (UPDATE executions_noderun SET status = 'queued', queued_at = %(now)s
                  WHERE id = ANY(%(q)s) AND status = 'pending' RETURNING id, node_key, queue)""",
        "SELECT %(batch)s, id, node_key, 'pending', 'queued', '', %(now)s FROM q",
    ),
    "s": (
        """s AS (UPDATE executions_noderun SET status = 'succeeded', finished_at = %(now)s
                  WHERE id = ANY(%(s)s) AND status = 'pending' RETURNING id, node_key)""",
        "SELECT %(batch)s, id, node_key, 'pending', 'succeeded', '', %(now)s FROM s",
    ),
    "k": (
        """k AS (UPDATE executions_noderun SET status = 'skipped', finished_at = %(now)s
                  WHERE id = ANY(%(k)s) AND status = 'pending' RETURNING id, node_key)""",
        "SELECT %(batch)s, id, node_key, 'pending', 'skipped', '', %(now)s FROM k",
    ),
    "ended": (
        """ended AS (UPDATE executions_batch SET status = %(result)s, finished_at = %(now)s
                      WHERE id = %(batch)s AND status = 'running' RETURNING id)""",
        "SELECT %(batch)s, NULL::integer, '', 'running', %(result)s, '', %(now)s FROM ended",
    ),
}
EVENTS = "ev AS (INSERT INTO executions_event (batch_id, node_run_id, node_key, from_status, to_status, message, at)"
QUEUED = ("SELECT id, queue FROM q", "SELECT NULL::integer, NULL::varchar WHERE false")


_cursor_class: Any = None


def _cursor() -> Any:
    """A server-side-binding cursor that prepares its statements, wrapped as Django wraps cursors.

    Django's wrapper translates driver errors (a lost connection is `OperationalError`, which
    the worker's retry handles) and logs the statement where Django logs queries.
    """
    global _cursor_class
    if _cursor_class is None:
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


@dataclass
class Claimed:
    """A claimed node run and its batch, as the claim statement returned them."""

    run: dict[str, Any]
    batch: dict[str, Any]


def claim(node_run_id: int, *, now: datetime, soon: datetime, worker: str) -> Claimed | None:
    """Move QUEUED (or a due RETRYING) → RUNNING with its events; None if nothing moved."""
    with _cursor() as cursor:
        cursor.execute(CLAIM, {"id": node_run_id, "now": now, "soon": soon, "worker": worker})
        row = cursor.fetchone()
    if row is None:
        return None
    (pk, batch_id, key, node_type, task_name, queue, attempts,
     workflow_id, version_id, task_id, snapshot, status, stop_at, stop_reason, deadline) = row  # fmt: skip
    if isinstance(snapshot, str):
        snapshot = json.loads(snapshot)
    run = {"pk": pk, "batch_id": batch_id, "node_key": key, "node_type": node_type, "task_name": task_name,
           "queue": queue, "attempts": attempts, "status": N.RUNNING, "started_at": now,
           "heartbeat_at": now, "worker": worker}  # fmt: skip
    batch = {"pk": batch_id, "workflow_id": workflow_id, "version_id": version_id, "task_id": task_id,
             "snapshot": snapshot, "status": status, "stop_requested_at": stop_at, "stop_reason": stop_reason,
             "deadline_at": deadline}  # fmt: skip
    return Claimed(run, batch)


def lock_batch(batch_id: str) -> tuple[str, datetime | None, str, datetime | None]:
    """Lock the batch row for this transaction; return (status, stop requested at, reason, deadline)."""
    with _cursor() as cursor:
        cursor.execute(LOCK_BATCH, [batch_id])
        return cursor.fetchone()


def finish(
    *, run_id: int, batch_id: str, key: str, attempt: int, to: str, status: str, message: str, output: str,
    detail: dict[str, Any], worker: str, started_at: datetime, now: datetime, retry_at: datetime | None,
    read_states: bool,
) -> tuple[bool, list[tuple[int, str, str, str]]]:  # fmt: skip
    """Record one attempt's end; return (whether it was recorded, the batch's node rows).

    The node rows are read in the same statement, so the finished run still shows its old
    status there: the caller puts the new one in.
    """
    params = {
        "id": run_id, "batch": batch_id, "key": key, "attempt": attempt, "to": to, "status": status,
        "message": message, "output": output, "detail": json.dumps(detail), "worker": worker,
        "started_at": started_at, "now": now, "retry_at": retry_at, "read_states": read_states,
    }  # fmt: skip
    with _cursor() as cursor:
        cursor.execute(FINISH, params)
        rows = cursor.fetchall()
    recorded = bool(rows and rows[0][4])
    return recorded, [(pk, k, s, q) for pk, k, s, q, _ in rows if pk is not None]


def finish_straight(
    *, run_id: int, batch_id: str, key: str, attempt: int, to: str, message: str, output: str,
    detail: dict[str, Any], worker: str, started_at: datetime, now: datetime, successors: tuple[str, ...],
) -> tuple[bool, bool, list[tuple[int, str]]]:  # fmt: skip
    """Lock, record the end and queue `successors` in one statement; (locked, recorded, queued runs).

    Not locked means the batch is stopping, past its deadline or no longer running: nothing
    was written and the caller takes the general path.
    """
    params = {
        "id": run_id, "batch": batch_id, "key": key, "attempt": attempt, "to": to, "message": message,
        "output": output, "detail": json.dumps(detail), "worker": worker, "started_at": started_at,
        "now": now, "next": list(successors),
    }  # fmt: skip
    with _cursor() as cursor:
        cursor.execute(FINISH_STRAIGHT, params)
        locked, recorded, ids, queues = cursor.fetchone()
    return locked, recorded, list(zip(ids or [], queues or [], strict=True))


def advance(
    *, batch_id: str, now: datetime, queue: list[int], satisfy: list[int], skip: list[int], result: str | None
) -> list[tuple[int, str]]:
    """Apply one engine decision (pending nodes only) and its events; return the queued (id, queue)."""
    params: dict[str, Any] = {"now": now, "batch": batch_id, "result": result, "q": queue, "s": satisfy, "k": skip}
    used = [name for name, ids in (("q", queue), ("s", satisfy), ("k", skip)) if ids]
    used += ["ended"] if result is not None else []
    if not used:
        return []
    ctes = ",\n".join(MOVES[name][0] for name in used)
    events = " UNION ALL ".join(MOVES[name][1] for name in used)
    sql = "\n".join(["WITH", ctes, ",", EVENTS, events, ")", QUEUED[0] if queue else QUEUED[1]])
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return [(pk, q) for pk, q in cursor.fetchall()]
