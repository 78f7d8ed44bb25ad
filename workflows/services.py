"""Definition writes: the one way a workflow or a standalone task is saved, enabled, exported or deleted.

Every write takes the `Actor` who makes it (`access.actors`), checks the actor's role with
`access.policy.require`, validates with the one parser, and writes its audit row in the same
transaction as the change. The admin, the API, the editor and the CLI only call these.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from access.actors import Actor
from access.audit import audit_record
from access.policy import require, require_kind_permissions, team_named
from access.scoping import definition_tasks
from baton.errors import Conflict
from workflows import registry, schedule, secrets
from workflows.definition import (
    Definition,
    DefinitionError,
    NodeSpec,
    Problem,
    TaskSpec,
    named_task_problems,
    parse,
    parse_task,
    task_document,
    to_document,
)
from workflows.models import (
    Edge,
    MisfirePolicy,
    Node,
    OverlapPolicy,
    Role,
    Schedule,
    Task,
    Team,
    Workflow,
    WorkflowVersion,
)
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


def workflow_save_definition(
    *,
    document: Any,
    actor: Actor,
    workflow: Workflow | None = None,
    create: bool = False,
    dry_run: bool = False,
) -> SaveResult:
    """Validate a definition against the rules and the database, then save it atomically (an editor of its team).

    `workflow`: the workflow being edited (the document keeps its name and team); `create`: the
    document must name a workflow its team does not have yet; neither: create or update by name
    (an import). `dry_run` checks everything and rolls back.

    1. Parse and validate the document (shape and topology) without touching the database.
    2. In one transaction, lock the workflow and the tasks it names (FOR NO KEY UPDATE, in id
       order), check what only the database knows (teams, standalone tasks, stored secrets),
       and collect every problem.
    3. Only when there is none, write tasks, the graph, a new version, the Schedule row and the
       audit row; else raise DefinitionError and roll back, so nothing is half-saved.

    The lock order (docs/architecture.md, "Lock order"): definition rows, then Schedule rows.
    NO KEY UPDATE, not UPDATE: the scheduler tick holds Schedule rows while its batches'
    foreign keys take KEY SHARE on these rows at commit; a FOR UPDATE here made the two wait
    for each other (a deadlock).
    """
    if workflow is not None:
        require(actor, workflow, Role.EDITOR, _("Changing %(name)s") % {"name": workflow.name})
        document = _keeping_identity(document, workflow)
    definition = definition_parse(document)
    saving = _("Saving workflow %(name)s") % {"name": definition.name}
    named = team_named(actor, definition.team, Role.EDITOR, doing=saving, create=True)
    require_kind_permissions(actor, named, definition_tasks(document))
    with transaction.atomic():
        team = Team.objects.get_or_create(name=named.name)[0] if named.pk is None else named
        existing = (
            Workflow.objects.alive()
            .select_for_update(of=("self",), no_key=True)
            .filter(team=team, name=definition.name)
            .order_by("pk")
            .first()
        )
        if create and existing is not None:
            taken = _("team %(team)s already has a workflow named %(name)r") % {"team": team, "name": definition.name}
            raise DefinitionError([Problem("name", taken)])
        names = [n.task_name for n in definition.nodes if n.task_name]
        tasks = {
            t.name: t
            for t in Task.objects.select_for_update(of=("self",), no_key=True)
            .filter(team=team, name__in=names)
            .order_by("pk")
            .select_related("node__workflow")
        }
        problems: list[Problem] = []
        stored = _resolve_tasks(definition, existing, tasks, problems)
        named = {n.key: stored[n.key] for n in definition.nodes if isinstance(n.task, str) and n.key in stored}
        problems.extend(named_task_problems(definition, named))
        if problems:
            raise DefinitionError(problems)
        before = existing.current_version.number if existing is not None and existing.current_version else None
        workflow = _write_workflow(existing, team, definition)
        _write_graph(workflow, definition, stored, tasks)
        canonical = to_document(replace(definition, nodes=tuple(_with_task(n, stored) for n in definition.nodes)))
        version, changed = _write_version(workflow, canonical, actor.user)
        schedule_sync(workflow=workflow)
        audit_record(
            actor=actor,
            action="workflow.update" if existing is not None else "workflow.create",
            obj=workflow,
            before={"version": before},
            after={"version": version.number, "changed": changed},
        )
        if dry_run:
            transaction.set_rollback(True)
    return SaveResult(workflow=workflow, version=version, created=existing is None, changed=changed)


def _keeping_identity(document: Any, workflow: Workflow) -> Any:
    """Return the document of an edited workflow, refusing a changed name or team: they identify the workflow."""
    if not isinstance(document, dict):
        return document
    identity = {"name": workflow.name, "team": workflow.team.name}
    fixed = _(
        "name and team identify the workflow (%(value)r): to rename or move it, import a new one and delete this one"
    )
    problems = [
        Problem(field, fixed % {"value": value})
        for field, value in identity.items()
        if field in document and document[field] != value
    ]
    if problems:
        raise DefinitionError(problems)
    return {**document, **identity}


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
                Problem(
                    path,
                    _("task %(task)r already belongs to workflow %(workflow)r")
                    % {"task": node.task_name, "workflow": owner.name},
                    nodes=(node.key,),
                )
            )
            continue
        if isinstance(node.task, str):
            if existing is None:
                problems.append(
                    Problem(
                        path,
                        _("team %(team)r has no task named %(task)r") % {"team": definition.team, "task": node.task},
                        nodes=(node.key,),
                    )
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
        name=task.name,
        kind=task.kind,
        config=task.config,
        description=task.description,
        timeout_seconds=task.timeout_seconds,
        retries=task.retries,
        retry_interval_seconds=task.retry_interval_seconds,
        retry_backoff=task.retry_backoff,
        queue=task.queue,
    )


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
    """Make a new version unless the canonical definition equals the current one; `user` is its author or None."""
    current = workflow.current_version
    if current is not None and current.definition == canonical:
        return current, False
    number = (current.number if current else 0) + 1
    version = WorkflowVersion.objects.create(workflow=workflow, number=number, definition=canonical, created_by=user)
    workflow.current_version = version
    workflow.save(update_fields=["current_version", "updated_at"])
    return version, True


def workflow_export(*, workflow: Workflow) -> dict:
    """Return the workflow's current definition with every secret masked."""
    if workflow.current_version is None:
        raise DefinitionError([Problem("", _("workflow %(name)r has no saved definition") % {"name": workflow.name})])
    return version_export(version=workflow.current_version, workflow=workflow)


def version_export(*, version: WorkflowVersion, workflow: Workflow | None = None) -> dict:
    """Return a version's definition with secrets masked and the live enabled flag."""
    document = secrets.mask(version.definition)
    if workflow is not None:
        document["enabled"] = workflow.enabled
    return document


def workflow_delete(*, workflow: Workflow, actor: Actor) -> None:
    """Disable and hide a workflow (an editor); release its tasks as manual standalone tasks; drop its queued fires.

    Its batches, versions and fire log stay readable.
    """
    require(actor, workflow, Role.EDITOR, _("Deleting %(name)s") % {"name": workflow.name})
    with transaction.atomic():
        enabled = workflow.enabled
        Task.objects.filter(node__workflow=workflow).update(trigger=NO_TRIGGER)
        workflow.nodes.all().delete()
        workflow.edges.all().delete()
        workflow.enabled = False
        workflow.deleted_at = timezone.now()
        workflow.save(update_fields=["enabled", "deleted_at", "updated_at"])
        schedule_sync(workflow=workflow)
        audit_record(
            actor=actor,
            action="workflow.delete",
            obj=workflow,
            before={"enabled": enabled, "deleted": False},
            after={"deleted": True},
        )


def workflow_set_enabled(*, workflow: Workflow, enabled: bool, actor: Actor) -> Workflow:
    """Enable or disable scheduled fires of a workflow (an operator); disabling drops its queued fires.

    "Run once" works either way.
    """
    doing = _("Enabling %(name)s") if enabled else _("Disabling %(name)s")
    require(actor, workflow, Role.OPERATOR, doing % {"name": workflow.name})
    with transaction.atomic():
        before = Workflow.objects.select_for_update(no_key=True).values_list("enabled", flat=True).get(pk=workflow.pk)
        Workflow.objects.filter(pk=workflow.pk).update(enabled=enabled, updated_at=timezone.now())
        workflow.enabled = enabled
        schedule_sync(workflow=workflow)
        audit_record(
            actor=actor,
            action="workflow.enable" if enabled else "workflow.disable",
            obj=workflow,
            before={"enabled": before},
            after={"enabled": enabled},
        )
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


def task_save(
    *, document: Any, actor: Actor, task: Task | None = None, create: bool = False, dry_run: bool = False
) -> Task:
    """Create or update a standalone task from its object (an editor of its team): SPEC §10 task fields, `trigger`.

    The document names its `team`, unless `task` (the task being edited) is given: name and team
    identify a task and cannot change. `create`: the team must not have a task of that name yet.
    `dry_run` checks everything and rolls back.
    """
    fields = dict(document) if isinstance(document, dict) else document
    if task is not None:
        require(actor, task, Role.EDITOR, _("Changing %(name)s") % {"name": task.name})
        if task.workflow is not None:
            raise Conflict(
                _("Task %(task)s belongs to workflow %(workflow)s; edit it there.")
                % {"task": task.name, "workflow": task.workflow.name}
            )
        if isinstance(fields, dict):
            fields = _task_keeping_identity(fields, task)
        team = task.team
    else:
        name = fields.pop("team", None) if isinstance(fields, dict) else None
        team = team_named(actor, name, Role.EDITOR, doing=_("Saving a task of team %(team)s") % {"team": name})
    spec, trigger = parse_task(fields, registered_callables=registry.names(), now=timezone.now())
    require_kind_permissions(actor, team, [fields])
    with transaction.atomic():
        # NO KEY UPDATE: a tick starting this task's run takes KEY SHARE on it while holding its Schedule row.
        existing = Task.objects.select_for_update(no_key=True).filter(team=team, name=spec.name).first()
        if create and existing is not None:
            taken = _("Team %(team)s already has a task named %(name)r.") % {"team": team, "name": spec.name}
            raise DefinitionError([Problem("name", taken)])
        if existing is not None and existing.workflow is not None:
            raise DefinitionError(
                [
                    Problem(
                        "name",
                        _("task %(task)r belongs to workflow %(workflow)r; edit it there")
                        % {"task": spec.name, "workflow": existing.workflow.name},
                    )
                ]
            )
        config, problems = secrets.seal(spec.config, existing.config if existing else None, "config")
        if problems:
            raise DefinitionError([Problem(where, message) for where, message in problems])
        before = {"kind": existing.kind} if existing is not None else None
        saved = _upsert_task(team, replace(spec, config=config), existing)
        saved.trigger = trigger
        saved.save(update_fields=["trigger", "updated_at"])
        schedule_sync(task=saved)
        action = "task.update" if existing is not None else "task.create"
        audit_record(actor=actor, action=action, obj=saved, before=before, after={"kind": saved.kind})
        if dry_run:
            transaction.set_rollback(True)
    return saved


def _task_keeping_identity(fields: dict[str, Any], task: Task) -> dict[str, Any]:
    """Return an edited task's fields, refusing a changed name or team: they identify the task."""
    problems = []
    if fields.pop("team", task.team.name) != task.team.name:
        problems.append(Problem("team", _("a task cannot move to another team")))
    if fields.setdefault("name", task.name) != task.name:
        problems.append(Problem("name", _("the name identifies the task; it cannot change")))
    if problems:
        raise DefinitionError(problems)
    return fields


def task_delete(*, task: Task, actor: Actor) -> None:
    """Delete a standalone task that has never run (an editor), with its schedule and fire log."""
    require(actor, task, Role.EDITOR, _("Deleting %(name)s") % {"name": task.name})
    refusal = task_delete_refusal(task)
    if refusal is not None:
        raise Conflict(refusal)
    try:
        with transaction.atomic():
            audit_record(actor=actor, action="task.delete", obj=task, before={"name": task.name, "kind": task.kind})
            task.delete()
    except ProtectedError as exc:
        raise Conflict(_("Task %(name)s is still referenced and cannot be deleted.") % {"name": task.name}) from exc


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
