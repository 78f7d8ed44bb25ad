"""The hop's two stores: the SQL checked against the models and the transition map, and both run side by side.

The differential test drives the services (start, claim, finish, the sweep, stop) with the ORM
store for one batch and the PostgreSQL store for a twin batch of the same version, in lock step
on a frozen clock, and requires the same node runs, attempts, events, batch results and
wake-ups. The same examples run every time (a red CI means a change broke something); explore
with BATON_FUZZ_RANDOM=1 BATON_FUZZ_EXAMPLES=500 (which also shrinks what it finds).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.models import F
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from executions import kinds, lifecycle
from executions.models import Attempt, Batch, Event, NodeRun
from executions.states import BATCH_TRANSITIONS, NODE_TRANSITIONS, BatchStatus, NodeStatus
from executions.store import OrmHopStore, PostgresHopStore, using_store
from executions.store import postgres as pg
from executions.transitions import InvalidTransition
from tests.conftest import machine
from tests.executions.conftest import chain_document, python
from tests.executions.strategies import dags
from workflows.graph import START, TASK, Edge, Graph, Node
from workflows.models import Workflow
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the PostgreSQL store runs on PostgreSQL only"
)

# --- the SQL, read statement by statement ----------------------------------------------------------


def test_every_status_guard_in_the_sql_is_an_allowed_transition():
    statuses = {NodeRun: set(NodeStatus.values), Batch: set(BatchStatus.values)}
    for statement in pg.statements():
        for guard in statement.guards:
            table = NODE_TRANSITIONS if guard.model is NodeRun else BATCH_TRANSITIONS
            assert guard.to in table[guard.current], f"{statement.name}: {guard}"
        # Every status the text names is one of a guard or a read the statement declares.
        declared = {s for g in statement.guards for s in (g.current, g.to)} | {s for _, s in statement.reads}
        named = set(re.findall(r"'([a-z_]+)'", statement.sql)) & (statuses[NodeRun] | statuses[Batch])
        assert named <= declared, f"{statement.name} names {named - declared} outside its guards"
    assert {(g.current, g.to) for s in pg.statements() for g in s.guards if g.model is NodeRun} == {
        (current, to) for current, targets in NODE_TRANSITIONS.items() for to in targets
    }  # every edge of the map the hop uses, and no other


def test_a_statement_with_a_forbidden_guard_is_refused():
    with pytest.raises(InvalidTransition, match="succeeded → queued"):
        pg.apply_statement((((NodeStatus.SUCCEEDED, NodeStatus.QUEUED),), False))
    with pytest.raises(InvalidTransition, match="pending → running"):
        pg.Sql().move(NodeRun, NodeStatus.PENDING, NodeStatus.RUNNING)


def test_the_sql_names_only_the_models_tables_and_columns():
    names = {model._meta.db_table for model in (Batch, NodeRun, Attempt, Event)}
    names |= {field.column for model in (Batch, NodeRun, Attempt, Event) for field in model._meta.concrete_fields}
    for statement in pg.statements():
        quoted = set(re.findall(r'"([^"]+)"', statement.sql))
        assert quoted <= names, f"{statement.name}: {quoted - names}"
        unquoted = set(re.findall(r"\bexecutions_[a-z]+\b", re.sub(r'"[^"]*"', "", statement.sql)))
        assert not unquoted, f"{statement.name} writes table names by hand: {unquoted}"


# --- the divergence the two paths had -------------------------------------------------------------

STORES = {"orm": OrmHopStore, "postgres": PostgresHopStore}


@pytest.fixture(params=list(STORES))
def store(request):
    if request.param == "postgres" and connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL store runs on PostgreSQL only")
    with using_store(STORES[request.param]()) as chosen:
        yield chosen


def test_a_late_finish_of_a_lost_attempt_is_ignored(recorder, settings, store):
    """A worker declared lost reports attempt 1 after attempt 2 started: nothing of attempt 2 changes."""
    task = {**python("a", "baton.noop"), "retries": 1, "retry_interval_seconds": 0}
    batch = lifecycle.batch_start(
        workflow=workflow_save_definition(
            document=chain_document("w", task, python("b", "baton.noop")), actor=machine()
        ).workflow,
        actor=machine(),
    )
    run_id, _, _ = recorder.sent.popleft()
    lost = lifecycle.node_run_claim(run_id)  # attempt 1, on a worker that then goes silent
    later = lost.heartbeat_at + timedelta(seconds=settings.BATON_WORKER_LOST_SECONDS + 1)
    assert lifecycle.recover(now=later)["worker_lost"] == 1
    second = lifecycle.node_run_claim(run_id)
    assert second.attempts == 2

    done = kinds.Outcome(status="succeeded", output="attempt 1's late word", detail={})
    assert lifecycle.node_run_finish(run=lost, outcome=done, retries=1, interval=0) == lifecycle.Finished(None)
    run = NodeRun.objects.get(pk=run_id)
    assert (run.status, run.attempts) == (NodeStatus.RUNNING, 2) and "late word" not in run.output
    assert list(run.attempt_set.values_list("number", "status")) == [(1, "failed")]
    assert NodeRun.objects.get(batch=batch, node_key="n1").status == NodeStatus.PENDING

    finished = lifecycle.node_run_finish(run=second, outcome=done, retries=1, interval=0)
    assert finished.status == NodeStatus.SUCCEEDED
    assert list(run.attempt_set.values_list("number", "status")) == [(1, "failed"), (2, "succeeded")]
    assert NodeRun.objects.get(batch=batch, node_key="n1").status == NodeStatus.QUEUED


def test_a_finish_in_a_paused_batch_queues_nothing_until_it_continues(recorder, store):
    """The straight finish (a chain) holds its successor in a paused batch, on either store; continue queues it."""
    document = chain_document("w", python("a", "baton.noop"), python("b", "baton.noop"))
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    batch = lifecycle.batch_start(workflow=workflow, actor=machine())
    run_id, _, _ = recorder.sent.popleft()
    claimed = lifecycle.node_run_claim(run_id)
    lifecycle.batch_pause(batch_id=batch.pk, actor=machine())
    done = kinds.Outcome(status="succeeded", output="", detail={})
    assert lifecycle.node_run_finish(run=claimed, outcome=done, retries=0, interval=0).status == NodeStatus.SUCCEEDED
    assert NodeRun.objects.get(batch=batch, node_key="n1").status == NodeStatus.PENDING
    assert not recorder.sent
    lifecycle.batch_continue(batch_id=batch.pk, actor=machine())
    assert NodeRun.objects.get(batch=batch, node_key="n1").status == NodeStatus.QUEUED
    assert len(recorder.sent) == 1


# --- both stores, side by side ------------------------------------------------------------------------

EXPLORING = os.environ.get("BATON_FUZZ_RANDOM") == "1"
FUZZ = settings(
    max_examples=int(os.environ.get("BATON_FUZZ_EXAMPLES", "60")),
    derandomize=not EXPLORING,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    # Shrinking replays hundreds of batches (minutes): in the suite a failure shows the example
    # that found it, with every action drawn; exploring shrinks it to the smallest.
    phases=list(Phase) if EXPLORING else [Phase.explicit, Phase.generate],
)
OUTCOMES = [kinds.SUCCEEDED, kinds.FAILED, kinds.TIMED_OUT, kinds.CANCELLED]


class Twin:
    """One batch of the pair, the store it runs on, and the runs its "workers" hold."""

    def __init__(self, store: Any, retries: dict[str, int]) -> None:
        self.store = store
        self.retries = retries
        self.batch_id = ""
        self.ids: dict[str, int] = {}
        self.claimed: dict[str, NodeRun] = {}  # the attempt a worker is running, by node key
        self.lost: dict[str, list[NodeRun]] = {}  # attempts the sweep declared lost, still held by their worker

    def key_of(self, run_id: int) -> str:
        return next(key for key, pk in self.ids.items() if pk == run_id)

    def statuses(self) -> dict[str, str]:
        return dict(NodeRun.objects.filter(batch_id=self.batch_id).values_list("node_key", "status"))

    # The actions, each as a worker, the sweep or an operator does it.

    def start(self, workflow: Workflow) -> str:
        self.batch_id = lifecycle.batch_start(workflow=workflow, actor=machine()).pk
        self.ids = dict(NodeRun.objects.filter(batch_id=self.batch_id).values_list("node_key", "pk"))
        return "started"

    def claim(self, key: str) -> tuple | None:
        run = lifecycle.node_run_claim(self.ids[key])
        if run is None:
            return None
        self.claimed[key] = run
        return run.node_key, run.attempts, run.status, run.batch.stop_requested_at

    def finish(self, key: str, outcome: kinds.Outcome, continue_on: str | None, late: bool) -> tuple:
        run = self.lost[key].pop(0) if late else self.claimed.pop(key)
        done = lifecycle.node_run_finish(
            run=run, outcome=outcome, retries=self.retries[key], interval=0, continue_on=continue_on
        )
        if late:
            assert done.status is None  # its next attempt started, or the run ended: nothing is recorded
        return done.status, done.continue_with and self.key_of(done.continue_with[0])

    def lose_workers(self) -> list[tuple]:
        """Do what the sweep does to every running run when its worker stopped heart-beating."""
        ended = []
        for run in NodeRun.objects.select_related("batch").filter(batch_id=self.batch_id, status="running"):
            outcome = kinds.Outcome(status=kinds.FAILED, output="worker lost", detail={"error": "worker_lost"})
            done = lifecycle.node_run_finish(run=run, outcome=outcome, retries=self.retries[run.node_key], interval=0)
            ended.append((run.node_key, done.status))
        for key in list(self.claimed):
            self.lost.setdefault(key, []).append(self.claimed.pop(key))
        return sorted(ended)

    def stop(self) -> str:
        return lifecycle.batch_stop(batch_id=self.batch_id, actor=machine()).status

    def pass_deadline(self) -> int:
        return Batch.objects.filter(pk=self.batch_id).update(deadline_at=datetime.now(UTC))

    def resend(self) -> int:
        """Mark the waiting runs re-sent, as the sweep does when their wake-up seems lost (a claim resets it)."""
        waiting = NodeRun.objects.filter(batch_id=self.batch_id, status__in=[NodeStatus.QUEUED, NodeStatus.RETRYING])
        return waiting.update(resent=F("resent") + 1, resend_at=datetime.now(UTC))

    def record(self) -> dict[str, Any]:
        """Everything the hop wrote for this batch, by node key (ids left out)."""
        batch = Batch.objects.values(
            "status", "created_at", "finished_at", "deadline_at", "stop_requested_at", "stop_reason"
        ).get(pk=self.batch_id)
        fields = ["node_type", "task_name", "queue", "status", "attempts", "queued_at", "started_at", "finished_at"]
        fields += ["heartbeat_at", "retry_at", "resent", "resend_at", "worker", "output", "detail", "outputs"]
        runs = {
            row.pop("node_key"): row
            for row in NodeRun.objects.filter(batch_id=self.batch_id).values("node_key", *fields)
        }
        attempts = list(
            Attempt.objects.filter(node_run__batch_id=self.batch_id)
            .order_by("node_run__node_key", "number")
            .values_list("node_run__node_key", "number", "status", "worker", "started_at", "finished_at", "output")
        )
        trails: dict[str, list[tuple]] = {}
        events = Event.objects.filter(batch_id=self.batch_id).order_by("id")
        for key, *event in events.values_list("node_key", "from_status", "to_status", "message", "at"):
            trails.setdefault(key, []).append(tuple(event))
        return {"batch": batch, "runs": runs, "attempts": attempts, "events": trails}


def definition(graph: Graph, retries: dict[str, int], name: str) -> dict[str, Any]:
    """A workflow document of a drawn graph: every task a no-op (the test decides how each attempt ends)."""
    nodes = []
    for node in graph.nodes:
        if node.type != TASK:
            nodes.append({"key": node.key, "type": node.type})
            continue
        task = {**python(f"{name}-{node.key}", "baton.noop"), "retries": retries[node.key], "retry_interval_seconds": 0}
        nodes.append({"key": node.key, "type": TASK, "task": task, "core": node.core})
    edges = [{"from": e.source, "to": e.target, **({"on": e.on} if e.on else {})} for e in graph.edges]
    return {"name": name, "team": "t", "nodes": nodes, "edges": edges}


@on_postgresql
@FUZZ
@given(dags(), st.data())
def test_both_stores_write_the_same_hop(recorder, graph: Graph, data: st.DataObject):
    """Random DAGs, finish orders, outcomes, retries, lost workers and their late finishes, stops, timeouts."""
    drive_twins(recorder, graph, data)


@on_postgresql
@FUZZ
@given(st.booleans(), st.data())
def test_both_stores_write_the_same_end_of_a_one_node_batch(recorder, core: bool, data: st.DataObject):
    """A one-node batch ends in the finish's one statement (`finish_straight` with a result): the same rows."""
    drive_twins(recorder, Graph((Node("only", TASK, "task-only", core),), (Edge(START, "only"),)), data)


def drive_twins(recorder, graph: Graph, data: st.DataObject) -> None:
    """Drive an ORM batch and a PostgreSQL twin through the same drawn actions; require the same writes."""
    name = f"d{Workflow.objects.count()}"
    retries = {key: data.draw(st.integers(0, 2), label=f"retries of {key}") for key in graph.task_keys}
    document = definition(graph, retries, name)
    note(f"nodes {[(n['key'], n['type']) for n in document['nodes']]}, edges {document['edges']}")
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    orm, postgres = Twin(OrmHopStore(), retries), Twin(PostgresHopStore(), retries)
    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False) as clock:

        def both(action: str, *args: Any) -> None:
            """Do the action to each twin on its store at the same instant: the same result, the same wake-ups."""
            seen = []
            for twin in (orm, postgres):
                recorder.sent.clear()
                with using_store(twin.store):
                    returned = getattr(twin, action)(*args)
                sent = sorted((twin.key_of(run_id), countdown) for run_id, _, countdown in recorder.sent)
                seen.append((returned, sent))
            assert seen[0] == seen[1], f"the stores differ on {action}{args}"
            clock.shift(1)

        both("start", workflow)
        for _ in range(300):
            statuses = orm.statuses()
            assert statuses == postgres.statuses()
            choices = [("claim", key) for key, status in statuses.items() if status in ("queued", "retrying")]
            choices += [("resend", "")] if choices else []
            choices += [("finish", key) for key in orm.claimed]
            choices += [("late finish", key) for key, held in orm.lost.items() if held]
            if orm.claimed and Batch.objects.get(pk=orm.batch_id).status == BatchStatus.RUNNING:
                choices += [("lose_workers", ""), ("stop", ""), ("pass_deadline", "")]
            if not choices:
                break
            action, key = data.draw(st.sampled_from(choices), label="action")
            if action == "claim":
                both("claim", key)
            elif action in ("finish", "late finish"):
                outcome = kinds.Outcome(
                    status=data.draw(st.sampled_from(OUTCOMES), label="outcome"),
                    output=f"{key} said {data.draw(st.integers(0, 9), label='output')}",
                    detail={"exit_code": data.draw(st.integers(0, 3), label="exit code")},
                    outputs=data.draw(
                        st.dictionaries(st.sampled_from(["version", "url"]), st.integers(0, 9) | st.text(max_size=3)),
                        label="published values",
                    ),
                )
                continue_on = data.draw(st.sampled_from([None, ""]), label="continue on")
                both("finish", key, outcome, continue_on, action == "late finish")
            else:
                both(action)
        written, written_by_postgres = orm.record(), postgres.record()
        for part in written:
            assert written[part] == written_by_postgres[part], f"the stores wrote different {part}"
        assert Batch.objects.get(pk=orm.batch_id).status != BatchStatus.RUNNING


@on_postgresql
def test_a_finish_reads_a_finish_that_committed_while_it_waited_for_the_batch(recorder):
    """Two branches of a join end at once: the later one sees the earlier one's end and queues what follows.

    The earlier finish holds the batch lock (its transaction open) while the later one waits for
    it; once the earlier one commits, the later one must read its `succeeded`, not a `running`
    of a snapshot taken before the lock was granted, or the join never fires.
    """
    import threading
    import time

    from django.db import transaction

    from executions.lifecycle.run import _attempt_end
    from tests.executions.conftest import join_document, start, states

    batch = start(join_document("both"))
    runs = {run.node_key: run for run in (lifecycle.node_run_claim(pk) for pk, _, _ in list(recorder.sent))}
    recorder.sent.clear()
    outcome = kinds.Outcome(status="succeeded", output="", detail={})
    store = PostgresHopStore()
    holding, release, errors = threading.Event(), threading.Event(), []

    def earlier() -> None:
        try:
            with transaction.atomic():
                store.lock_batch(batch.pk)
                end = _attempt_end(
                    runs["a"], outcome, "succeeded", to="succeeded", message="a ends", now=runs["a"].started_at
                )
                assert store.record_finish(end, read_states=False) is not None
                holding.set()
                release.wait(10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            holding.set()
        finally:
            connection.close()

    def later() -> None:
        try:
            with using_store(store):
                lifecycle.node_run_finish(run=runs["b"], outcome=outcome, retries=0, interval=0)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=earlier)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=later)
    second.start()
    with connection.cursor() as cursor:  # the later finish waits for the batch lock before the earlier commits
        for _ in range(200):
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the later finish never waited for the batch lock")
    release.set()
    first.join(10)
    second.join(10)
    assert not errors, errors
    assert states(batch) == {"a": "succeeded", "b": "succeeded", "j": "succeeded", "c": "queued"}
    assert [run_id for run_id, _, _ in recorder.sent] == [batch.node_runs.get(node_key="c").pk]
