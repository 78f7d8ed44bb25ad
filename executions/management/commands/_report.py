"""Shared output of the batch commands: SPEC §11's report, as JSON or as a table."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import CommandError

from executions.models import Batch
from executions.selectors import batch_find, batch_report, node_run_output_since
from executions.states import BatchStatus
from workflows.management.commands.export_workflow import argument_text


def add_report_arguments(parser) -> None:
    """Add --wait, --timeout and --json."""
    parser.add_argument("--wait", action="store_true", help="block until the batch ends")
    parser.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def get_batch(batch_id: str) -> Batch:
    """Return the batch or fail with a clear message."""
    batch = batch_find(argument_text(batch_id, "the batch id"))
    if batch is None:
        raise CommandError(f"no batch {batch_id!r}")
    return batch


def wait_for_end(batch: Batch, timeout: float | None) -> Batch:
    """Re-read the batch until it has ended (a client-side wait; the engine never polls)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while batch.status == BatchStatus.RUNNING:
        if deadline is not None and time.monotonic() > deadline:
            raise CommandError(f"batch {batch.pk} still running after {timeout:g}s")
        time.sleep(0.05)
        batch.refresh_from_db(fields=["status", "finished_at"])
    return batch


FOLLOW_POLL_SECONDS = 0.25


def follow(command, batch: Batch, timeout: float | None) -> Batch:
    """Print each task node's output as it is written (about once a second while it runs) until the batch ends.

    Like `tail -f` on several files: a `==> KEY <==` line says whose output follows when it
    changes; a new attempt of a node starts with `==> KEY (attempt N) <==`.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    places: dict[str, tuple[int, int]] = {}  # node key -> (attempt, offset)
    current = None
    while True:
        batch.refresh_from_db(fields=["status", "finished_at"])
        ended = batch.status != BatchStatus.RUNNING
        for run in batch.node_runs.filter(started_at__isnull=False).order_by("started_at", "id"):
            attempt, offset = places.get(run.node_key, (run.attempts, 0))
            if attempt != run.attempts:
                attempt, offset = run.attempts, 0
            piece = node_run_output_since(run, offset)
            places[run.node_key] = (attempt, piece["offset"])
            if piece["output"]:
                header = (run.node_key, attempt)
                if header != current:
                    again = f" (attempt {attempt})" if attempt > 1 else ""
                    command.stdout.write(f"==> {run.node_key}{again} <==")
                    current = header
                command.stdout.write(piece["output"], ending="")
                command.stdout.flush()
        if ended:
            return batch
        if deadline is not None and time.monotonic() > deadline:
            raise CommandError(f"batch {batch.pk} still running after {timeout:g}s")
        time.sleep(FOLLOW_POLL_SECONDS)


def write_report(command, batch: Batch, options: dict, *, id_only: bool = False) -> None:
    """Print the report as JSON (--json), or as a table; only the id when `id_only` and not waiting."""
    if options.get("wait"):
        batch = wait_for_end(batch, options.get("timeout"))
    report = batch_report(batch)
    if options.get("json"):
        command.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
        return
    if id_only and not options.get("wait"):
        command.stdout.write(batch.pk)
        return
    paused = " (paused)" if report.get("paused") else ""
    command.stdout.write(f"batch {report['batch']}: {report['status']}{paused}")
    if report["params"]:
        command.stdout.write("  params: " + " ".join(f"{k}={json.dumps(v)}" for k, v in report["params"].items()))
    for key, node in report["nodes"].items():
        attempts = f" attempts={node['attempts']}" if "attempts" in node else ""
        by = f" (set by {node['set_by']}: {node['set_reason']})" if node.get("set_by") else ""
        command.stdout.write(f"  {key:<24} {node['status']}{attempts}{by}")
        if node.get("outputs"):
            command.stdout.write("    outputs: " + " ".join(f"{k}={json.dumps(v)}" for k, v in node["outputs"].items()))


def write_plan(command, plan: Any, options: dict, *, what: str) -> None:
    """Print a recovery action's plan (`--plan`): as JSON with --json, else which nodes run, are kept and skipped."""
    if options.get("json"):
        command.stdout.write(json.dumps({"plan": what, **plan.as_dict()}, ensure_ascii=False, indent=2))
        return
    version = f"version {plan.version} ({plan.version_choice})" if plan.version is not None else plan.version_choice
    where = "in a new batch" if plan.new_batch else "in this batch"
    command.stdout.write(f"plan: {what}, {where}, on {version}")
    kept = ", ".join(f"{key} ({state})" for key, state in plan.kept_states.items())
    for label, text in (
        ("kept", kept),
        ("running", ", ".join(plan.running)),
        ("will run", ", ".join(plan.will_run)),
        ("will skip", ", ".join(plan.will_skip)),
    ):
        command.stdout.write(f"  {label + ':':<11}{text or '-'}")
