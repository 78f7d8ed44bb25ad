"""Definition writes: the one way a workflow's definition is saved, exported or deleted."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from workflows import registry, schedule, secrets
from workflows.definition import (
    Definition,
    DefinitionError,
    NodeSpec,
    Problem,
    TaskSpec,
    parse,
    task_document,
    to_document,
)
from workflows.models import Edge, MisfirePolicy, Node, OverlapPolicy, Schedule, Task, Team, Workflow, WorkflowVersion
from workflows.signals import fire_queue_closed

NO_TRIGGER = {"type": "none"}


@dataclass(frozen=True)
class SaveResult:
    """What a save did."""

    workflow: Workflow
    version: WorkflowVersion
    created: bool
    changed: bool


def definition_parse(document: Any) -> Definition:
    """Parse a document with this installation's limits and registered callables."""
    return parse(
        document,
        registered_callables=registry.names(),
        max_tasks=settings.BATON_MAX_TASKS_PER_WORKFLOW,
        now=timezone.now(),
    )


def workflow_save_definition(*, document: Any, user: Any = None, create_team: bool = True) -> SaveResult:
    """Validate a definition against the rules and the database, then save it atomically.

    1. Parse and validate the document (shape and topology) without touching the database.
    2. In one transaction, lock the workflow and the tasks it names (FOR NO KEY UPDATE, in id
       order), check what only the database knows (teams, standalone tasks, stored secrets),
       and collect every problem.
    3. Only when there is none, write tasks, the graph and a new version, then the Schedule
       row; else raise DefinitionError and roll back, so nothing is half-saved.

    The lock order (docs/architecture.md, "Lock order"): definition rows, then Schedule rows.
    NO KEY UPDATE, not UPDATE: the scheduler tick holds Schedule rows while its batches'
    foreign keys take KEY SHARE on these rows at commit; a FOR UPDATE here made the two wait
    for each other (a deadlock).
    """
    definition = definition_parse(document)
    with transaction.atomic():
        team = _team(definition.team, create_team)
        workflow = (
            Workflow.objects.alive()
            .select_for_update(of=("self",), no_key=True)
            .filter(team=team, name=definition.name)
            .order_by("pk")
            .first()
        )
        names = [n.task_name for n in definition.nodes if n.task_name]
        tasks = {
            t.name: t
            for t in Task.objects.select_for_update(of=("self",), no_key=True)
            .filter(team=team, name__in=names)
            .order_by("pk")
            .select_related("node__workflow")
        }
        problems: list[Problem] = []
        stored = _resolve_tasks(definition, workflow, tasks, problems)
        if problems:
            raise DefinitionError(problems)
        created = workflow is None
        workflow = _write_workflow(workflow, team, definition)
        _write_graph(workflow, definition, stored, tasks)
        canonical = to_document(replace(definition, nodes=tuple(_with_task(n, stored) for n in definition.nodes)))
        version, changed = _write_version(workflow, canonical, user)
        schedule_sync(workflow=workflow)
    return SaveResult(workflow=workflow, version=version, created=created, changed=changed)


def _team(name: str, create: bool) -> Team:
    if create:
        return Team.objects.get_or_create(name=name)[0]
    team = Team.objects.filter(name=name).first()
    if team is None:
        raise DefinitionError([Problem("team", f"no team named {name!r}")])
    return team


def _resolve_tasks(
    definition: Definition, workflow: Workflow | None, tasks: dict[str, Task], problems: list[Problem]
) -> dict[str, TaskSpec]:
    """Return each node's task as it will be stored (secrets sealed), collecting problems."""
    stored: dict[str, TaskSpec] = {}
    for index, node in enumerate(definition.nodes):
        if node.task is None:
            continue
        path = f"nodes[{index}].task"
        existing = tasks.get(node.task_name)
        owner = existing.workflow if existing else None
        if owner is not None and (workflow is None or owner.pk != workflow.pk):
            problems.append(
                Problem(path, f"task {node.task_name!r} already belongs to workflow {owner.name!r}", nodes=(node.key,))
            )
            continue
        if isinstance(node.task, str):
            if existing is None:
                problems.append(
                    Problem(path, f"team {definition.team!r} has no task named {node.task!r}", nodes=(node.key,))
                )
                continue
            stored[node.key] = task_spec_of(existing)
            continue
        config, secret_problems = secrets.seal(
            node.task.config, existing.config if existing else None, f"{path}.config"
        )
        problems.extend(Problem(where, message, nodes=(node.key,)) for where, message in secret_problems)
        stored[node.key] = replace(node.task, config=config)
    return stored


def task_spec_of(task: Task) -> TaskSpec:
    """Return a stored task as the format's task object (secrets stay sealed)."""
    return TaskSpec(
        name=task.name, kind=task.kind, config=task.config, description=task.description,
        timeout_seconds=task.timeout_seconds, retries=task.retries,
        retry_interval_seconds=task.retry_interval_seconds, retry_backoff=task.retry_backoff,
        queue=task.queue,
    )  # fmt: skip


def _with_task(node: NodeSpec, stored: dict[str, TaskSpec]) -> NodeSpec:
    return replace(node, task=stored[node.key]) if node.key in stored else node


def _write_workflow(workflow: Workflow | None, team: Team, definition: Definition) -> Workflow:
    workflow = workflow or Workflow(team=team, name=definition.name)
    workflow.description = definition.description
    workflow.enabled = definition.enabled
    workflow.trigger = definition.trigger
    workflow.timeout_seconds = definition.timeout_seconds
    workflow.overlap_policy = definition.overlap_policy
    workflow.misfire_policy = definition.misfire_policy
    workflow.save()
    return workflow


def _write_graph(
    workflow: Workflow, definition: Definition, stored: dict[str, TaskSpec], tasks: dict[str, Task]
) -> None:
    """Replace the workflow's nodes and edges; tasks dropped from it become manual standalone tasks."""
    kept = {spec.name for spec in stored.values()}
    dropped = Task.objects.filter(node__workflow=workflow).exclude(name__in=kept)
    dropped_ids = list(dropped.values_list("pk", flat=True))
    workflow.nodes.all().delete()
    workflow.edges.all().delete()
    Task.objects.filter(pk__in=dropped_ids).update(trigger=NO_TRIGGER)
    Schedule.objects.filter(
        task__team=workflow.team, task__name__in=[n.task_name for n in definition.nodes if n.task_name]
    ).delete()
    nodes = []
    for node in definition.nodes:
        task = None
        if node.key in stored:
            task = _upsert_task(workflow.team, stored[node.key], tasks.get(stored[node.key].name))
        nodes.append(Node(workflow=workflow, key=node.key, type=node.type, task=task, core=node.core))
    Node.objects.bulk_create(nodes)
    Edge.objects.bulk_create(
        Edge(workflow=workflow, source=e.source, target=e.target, on=e.on or "") for e in definition.edges
    )


def _upsert_task(team: Team, spec: TaskSpec, task: Task | None) -> Task:
    """Create or update a task from its spec; a task in a workflow has no trigger of its own."""
    task = task or Task(team=team, name=spec.name)
    for attribute, value in task_document(spec).items():
        setattr(task, attribute, value)
    task.trigger = NO_TRIGGER
    task.save()
    return task


def _write_version(workflow: Workflow, canonical: dict, user: Any) -> tuple[WorkflowVersion, bool]:
    current = workflow.current_version
    if current is not None and current.definition == canonical:
        return current, False
    number = (current.number if current else 0) + 1
    version = WorkflowVersion.objects.create(
        workflow=workflow, number=number, definition=canonical, created_by=user if getattr(user, "pk", None) else None
    )
    workflow.current_version = version
    workflow.save(update_fields=["current_version", "updated_at"])
    return version, True


def workflow_export(*, workflow: Workflow) -> dict:
    """Return the workflow's current definition with every secret masked."""
    if workflow.current_version is None:
        raise DefinitionError([Problem("", f"workflow {workflow.name!r} has no saved definition")])
    return version_export(version=workflow.current_version, workflow=workflow)


def version_export(*, version: WorkflowVersion, workflow: Workflow | None = None) -> dict:
    """Return a version's definition with secrets masked and the live enabled flag."""
    document = secrets.mask(version.definition)
    if workflow is not None:
        document["enabled"] = workflow.enabled
    return document


def workflow_delete(*, workflow: Workflow) -> None:
    """Disable and hide a workflow; release its tasks as manual standalone tasks; drop its queued fires; keep records."""
    with transaction.atomic():
        Task.objects.filter(node__workflow=workflow).update(trigger=NO_TRIGGER)
        workflow.nodes.all().delete()
        workflow.edges.all().delete()
        workflow.enabled = False
        workflow.deleted_at = timezone.now()
        workflow.save(update_fields=["enabled", "deleted_at", "updated_at"])
        schedule_sync(workflow=workflow)


def workflow_set_enabled(*, workflow: Workflow, enabled: bool, user: Any = None) -> Workflow:
    """Enable or disable scheduled fires of a workflow (disabling drops its queued fires; "run once" works either way)."""
    with transaction.atomic():
        Workflow.objects.filter(pk=workflow.pk).update(enabled=enabled, updated_at=timezone.now())
        workflow.enabled = enabled
        schedule_sync(workflow=workflow)
    return workflow


def schedule_sync(*, workflow: Workflow | None = None, task: Task | None = None) -> Schedule | None:
    """Make the owner's Schedule row match its trigger; a change takes effect on the next tick.

    An unchanged trigger keeps its next fire time; a new or changed one fires next after now
    (re-enabling never fires for the time the owner was disabled).
    """
    with transaction.atomic():
        return _schedule_sync(workflow, task)


def workflow_fires(workflow: Workflow) -> bool:
    """Tell whether the scheduler fires the workflow: enabled, not deleted, with a cron or periodic trigger."""
    return workflow.enabled and workflow.deleted_at is None and schedule.is_active(workflow.trigger)


def workflow_queues_fires(workflow: Workflow) -> bool:
    """Tell whether the workflow's queued fires may still start (it fires, with the `queue` overlap policy)."""
    return workflow_fires(workflow) and workflow.overlap_policy == OverlapPolicy.QUEUE


def _schedule_sync(workflow: Workflow | None, task: Task | None) -> Schedule | None:
    now = timezone.now()
    if workflow is not None:
        owner = {"workflow": workflow}
        active = workflow_fires(workflow)
        trigger, misfire, overlap = workflow.trigger, workflow.misfire_policy, workflow.overlap_policy
    else:
        assert task is not None
        owner = {"task": task}
        active = schedule.is_active(task.trigger) and not Node.objects.filter(task=task).exists()
        trigger, misfire, overlap = task.trigger, MisfirePolicy.FIRE_ONCE_NOW, OverlapPolicy.PARALLEL
    current = Schedule.objects.select_for_update().filter(**owner).first()
    if workflow is not None and not workflow_queues_fires(workflow):  # after the Schedule row: the lock order
        fire_queue_closed.send(sender=Workflow, workflow=workflow)
    if not active:
        if current is not None:
            current.delete()
        return None
    if current is not None and current.trigger == trigger:
        if (current.misfire_policy, current.overlap_policy) != (misfire, overlap):
            current.misfire_policy, current.overlap_policy = misfire, overlap
            current.save(update_fields=["misfire_policy", "overlap_policy", "updated_at"])
        return current
    current = current or Schedule(**owner)
    current.trigger, current.misfire_policy, current.overlap_policy = trigger, misfire, overlap
    current.next_fire_at = schedule.next_fire(trigger, now)
    current.save()
    return current


def task_save(*, team: Team, document: dict[str, Any], user: Any = None) -> Task:
    """Create or update a standalone task from its object (SPEC §10 task fields plus `trigger`)."""
    from workflows.definition import parse_task

    spec, trigger = parse_task(document, registered_callables=registry.names(), now=timezone.now())
    with transaction.atomic():
        # NO KEY UPDATE: a tick starting this task's run takes KEY SHARE on it while holding its Schedule row.
        task = Task.objects.select_for_update(no_key=True).filter(team=team, name=spec.name).first()
        if task is not None and task.workflow is not None:
            raise DefinitionError(
                [Problem("name", f"task {spec.name!r} belongs to workflow {task.workflow.name!r}; edit it there")]
            )
        config, problems = secrets.seal(spec.config, task.config if task else None, "config")
        if problems:
            raise DefinitionError([Problem(where, message) for where, message in problems])
        task = _upsert_task(team, replace(spec, config=config), task)
        task.trigger = trigger
        task.save(update_fields=["trigger", "updated_at"])
        schedule_sync(task=task)
    return task


def task_document_of(task: Task) -> dict[str, Any]:
    """Return a standalone task's object with secrets masked and its trigger."""
    document = task_document(task_spec_of(task))
    document["config"] = secrets.mask(document["config"])
    document["trigger"] = {"type": "workflow"} if task.workflow else (task.trigger or NO_TRIGGER)
    return document


def task_delete_refusal(task: Task) -> str | None:
    """Say why a task cannot be deleted (it is in a workflow, or its runs' records stay), or None."""
    workflow = task.workflow
    if workflow is not None:
        return _("Task %(task)s belongs to workflow %(workflow)s; remove it there first.") % {
            "task": task.name,
            "workflow": workflow.name,
        }
    runs = task.runs.count()
    if runs:
        return ngettext(
            "Task %(task)s has %(runs)d run; its record stays, so the task cannot be deleted "
            "(set its trigger to none to stop it firing).",
            "Task %(task)s has %(runs)d runs; their records stay, so the task cannot be deleted "
            "(set its trigger to none to stop it firing).",
            runs,
        ) % {"task": task.name, "runs": runs}
    return None
