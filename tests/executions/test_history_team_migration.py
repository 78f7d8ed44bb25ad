"""The migration that stores the team on batches and node runs fills the rows written before it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from workflows.models import Task, Team, Workflow, WorkflowVersion

BEFORE = [("executions", "0014_operator_recovery")]
AFTER = [("executions", "0015_history_team_and_indexes")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_team_of_existing_batches_and_node_runs():
    ours, theirs = Team.objects.create(name="ours"), Team.objects.create(name="theirs")
    workflow = Workflow.objects.create(team=ours, name="w")
    version = WorkflowVersion.objects.create(workflow=workflow, number=1, definition={})
    task = Task.objects.create(team=theirs, name="t", kind="python", config={"callable": "baton.noop"})
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    OldBatch, OldNodeRun = old.get_model("executions", "Batch"), old.get_model("executions", "NodeRun")
    now = timezone.now()
    of_workflow = OldBatch.objects.create(id="WORKFLOW", workflow_id=workflow.pk, version_id=version.pk, created_at=now)
    of_task = OldBatch.objects.create(id="TASKRUN1", task_id=task.pk, snapshot={}, created_at=now)
    for batch in (of_workflow, of_task):
        OldNodeRun.objects.create(batch=batch, node_key="a", node_type="task")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Batch, NodeRun = new.get_model("executions", "Batch"), new.get_model("executions", "NodeRun")
    assert dict(Batch.objects.values_list("id", "team_id")) == {"WORKFLOW": ours.pk, "TASKRUN1": theirs.pk}
    assert dict(NodeRun.objects.values_list("batch_id", "team_id")) == {"WORKFLOW": ours.pk, "TASKRUN1": theirs.pk}
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
