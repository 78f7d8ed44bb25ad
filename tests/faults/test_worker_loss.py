"""SIGKILL a worker (its pool process, or all of it) while it runs a node."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from executions import lifecycle
from executions.models import Attempt, Batch, NodeRun
from tests.conftest import machine
from tests.faults.conftest import (
    WORKER_LOST_BOUND,
    chain,
    cmdline_of,
    parent_of,
    python,
    read_pids,
    shell,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

NODE_SECONDS = 2


def _sleeper(cluster, tmp_path, retries: int) -> tuple[str, object]:
    pids = tmp_path / "shell-pids"
    document = chain(
        f"killed-{retries}",
        shell(f"sleeper-{retries}", f"echo $$ >> {pids}; sleep {NODE_SECONDS}", retries=retries),
        python(f"after-{retries}", "baton.noop"),
    )
    return pids, cluster.workflow(document)


def _wait_for_shell(pids_file, count: int = 1) -> int:
    wait_until(lambda: len(read_pids(pids_file)) >= count, 30, message=f"shell attempt {count} started")
    return read_pids(pids_file)[count - 1]


@pytest.mark.parametrize("retries", [0, 1])
def test_sigkill_of_the_pool_process_running_a_node(cluster, tmp_path, retries):
    """The node fails "worker_lost" (retries 0) or succeeds on attempt 2 (retries 1), in bounded time."""
    main = cluster.start_worker()
    cluster.start_sweeper()
    pids, workflow = _sleeper(cluster, tmp_path, retries)
    (batch_id,) = cluster.start(workflow)
    shell_pid = _wait_for_shell(pids)
    child = parent_of(shell_pid)
    assert child in main.children() and "celery" in cmdline_of(child), "the shell's parent is a pool process"
    os.kill(child, signal.SIGKILL)
    killed_at = time.monotonic()

    bound = WORKER_LOST_BOUND + (NODE_SECONDS + 3 if retries else 0)
    took = cluster.wait_finished([batch_id], timeout=bound + 30)
    assert took < bound, f"the batch took {took:.1f}s after the kill (bound {bound:.1f}s)"
    batch = Batch.objects.get(pk=batch_id)
    node = NodeRun.objects.get(batch=batch, node_key="n0")
    attempts = list(Attempt.objects.filter(node_run=node).values_list("number", "status"))
    if retries == 0:
        assert batch.status == "failed"
        assert node.status == "failed" and node.attempts == 1 and node.detail["error"] == "worker_lost"
        assert attempts == [(1, "failed")]
        assert NodeRun.objects.get(batch=batch, node_key="n1").status == "skipped"
    else:
        assert batch.status == "succeeded", cluster.describe([batch_id])
        assert node.status == "succeeded" and node.attempts == 2
        assert attempts == [(1, "failed"), (2, "succeeded")]
        assert node.events.filter(to_status="running").count() == 2
        assert len(read_pids(pids)) == 2
    assert main.process.poll() is None, "the worker main process survived the loss of a pool process"
    cluster.assert_no_task_processes(timeout=NODE_SECONDS + 2)
    print(f"batch ended {time.monotonic() - killed_at:.1f}s after the kill")


def test_sigkill_of_the_whole_worker_then_a_new_worker(cluster, tmp_path):
    """The worker and its pool die at once; a new worker and the sweep finish the batch."""
    first = cluster.start_worker()
    cluster.start_sweeper()
    pids, workflow = _sleeper(cluster, tmp_path, retries=1)
    (batch_id,) = cluster.start(workflow)
    _wait_for_shell(pids)
    first.kill()
    cluster.start_worker()
    took = cluster.wait_finished([batch_id], timeout=60)
    # the new worker's start-up (~2-5 s) overlaps the worker-lost threshold
    assert took < WORKER_LOST_BOUND + NODE_SECONDS + 6
    batch = Batch.objects.get(pk=batch_id)
    node = NodeRun.objects.get(batch=batch, node_key="n0")
    assert batch.status == "succeeded", cluster.describe([batch_id])
    assert node.attempts == 2
    assert list(Attempt.objects.filter(node_run=node).values_list("status", flat=True)) == ["failed", "succeeded"]
    assert Attempt.objects.get(node_run=node, number=1).detail["error"] == "worker_lost"
    cluster.assert_no_task_processes(timeout=NODE_SECONDS + 2)


def test_a_node_that_keeps_killing_its_worker_fails_without_blocking_others(cluster, tmp_path):
    """`kill -9 $PPID` kills the pool process running the shell; after 3 attempts the node fails."""
    parents = tmp_path / "parents"
    main = cluster.start_worker()
    cluster.start_sweeper()
    killer = cluster.workflow(
        chain(
            "killer",
            shell("killer", f"echo $PPID >> {parents}; kill -9 $PPID", retries=2, retry_interval_seconds=0),
            python("never", "baton.noop"),
        )
    )
    normal = cluster.workflow(chain("normal", *(python(f"nap-{i}", "baton.sleep", seconds=0.3) for i in range(5))))
    started = time.monotonic()
    (killer_id,) = cluster.start(killer)
    others = cluster.start(normal, 10)
    cluster.wait_finished(others, timeout=60)
    others_took = time.monotonic() - started
    cluster.wait_finished([killer_id], timeout=60)
    killer_took = time.monotonic() - started

    assert set(Batch.objects.filter(pk__in=others).values_list("status", flat=True)) == {"succeeded"}
    batch = Batch.objects.get(pk=killer_id)
    node = NodeRun.objects.get(batch=batch, node_key="n0")
    assert batch.status == "failed"
    assert node.status == "failed" and node.attempts == 3 and node.detail["error"] == "worker_lost"
    assert list(Attempt.objects.filter(node_run=node).values_list("status", flat=True)) == ["failed"] * 3
    # every attempt killed a different pool process of the one worker, which replaced it
    killed = read_pids(parents)
    assert len(killed) == 3 and len(set(killed)) == 3
    assert main.process.poll() is None
    assert "signal 9" in main.text() or "SIGKILL" in main.text()
    assert killer_took < 3 * WORKER_LOST_BOUND + 5, f"{killer_took:.1f}s"
    print(f"other batches ended after {others_took:.1f}s, the killer after {killer_took:.1f}s")
    cluster.assert_no_task_processes()


def test_the_shell_of_a_killed_pool_process_does_not_outlive_it(cluster, tmp_path):
    """After the worker-lost retry starts, the first attempt's shell must be gone (no double run)."""
    pids = tmp_path / "shell-pids"
    main = cluster.start_worker()
    cluster.start_sweeper()
    workflow = cluster.workflow(chain("orphan", shell("long", f"echo $$ >> {pids}; sleep 30", retries=1)))
    (batch_id,) = cluster.start(workflow)
    first = _wait_for_shell(pids)
    child = parent_of(first)
    assert child in main.children()
    os.kill(child, signal.SIGKILL)
    try:
        _wait_for_shell(pids, count=2)  # the sweep declared the worker lost and retried
        orphans = [p for p in cluster.task_processes() if p.pid == first or parent_of(p.pid) == first]
        assert not orphans, f"attempt 1 still runs beside attempt 2: {orphans}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first, signal.SIGKILL)  # the orphan's group (the shell leads it)
        lifecycle.batch_stop(batch_id=batch_id, actor=machine())
        cluster.wait_finished([batch_id], timeout=30)
        cluster.assert_no_task_processes()
