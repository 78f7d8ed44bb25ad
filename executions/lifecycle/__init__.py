"""Run time, by lifecycle: start a batch, advance it, run its nodes, stop, re-run, recover.

Each module is one stage; they write through the hop store (`executions.store`) and wake
workers through `executions.dispatch`. Views, the admin, the CLI, the scheduler and the Celery
tasks call these functions, so every interface does the same thing. What a person or an
integration asks for (start, stop, re-run, resume) takes its `Actor`, checks its role and is
audited in its own transaction; refusals are `baton.errors`.
"""

from __future__ import annotations

from executions.lifecycle.advance import batch_blueprint
from executions.lifecycle.operate import (
    action_plan,
    action_refusal,
    batch_continue,
    batch_pause,
    node_mark_succeeded,
    node_skip,
)
from executions.lifecycle.recovery import recover
from executions.lifecycle.rerun import (
    CURRENT,
    ORIGINAL,
    VERSIONS,
    RerunPlan,
    batch_rerun,
    batch_rerun_check,
    batch_rerun_refusal,
    batch_state_of,
    rerun_plan,
)
from executions.lifecycle.run import (
    Finished,
    node_run_claim,
    node_run_execute,
    node_run_finish,
    surviving_database_loss,
    task_execute,
)
from executions.lifecycle.start import (
    NewBatch,
    batch_prepare,
    batch_start,
    batches_insert,
    task_run_definition,
    task_run_start,
)
from executions.lifecycle.stop import batch_stop

__all__ = [
    "CURRENT",
    "ORIGINAL",
    "VERSIONS",
    "Finished",
    "NewBatch",
    "RerunPlan",
    "action_plan",
    "action_refusal",
    "batch_blueprint",
    "batch_continue",
    "batch_pause",
    "batch_prepare",
    "batch_rerun",
    "batch_rerun_check",
    "batch_rerun_refusal",
    "batch_start",
    "batch_state_of",
    "batch_stop",
    "batches_insert",
    "node_mark_succeeded",
    "node_run_claim",
    "node_run_execute",
    "node_run_finish",
    "node_skip",
    "recover",
    "rerun_plan",
    "surviving_database_loss",
    "task_execute",
    "task_run_definition",
    "task_run_start",
]
