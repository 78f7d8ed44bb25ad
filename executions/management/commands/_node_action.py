"""What `mark_succeeded` and `skip_node` share: an operator's action on one node of a batch, with `--plan`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from executions.lifecycle import action_plan, action_refusal
from executions.management.commands._report import add_report_arguments, get_batch, write_plan, write_report
from executions.models import Batch


class NodeActionCommand(BaseCommand):
    """`COMMAND ID NODE [--reason TEXT] [--plan]`: refuse by the allowed-actions table, plan, or act and report."""

    action: str  # a row of the allowed-actions table (executions.actions)
    reason_help: str
    act: Callable[..., Batch]  # the service: (batch_id, node_key, actor, reason) -> the batch that goes on
    done: str  # "node {node} …" as the report's last line says it
    planning: str  # "… node {node} of batch {batch}" for the plan's heading

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        parser.add_argument("node")
        parser.add_argument("--reason", default="", help=self.reason_help)
        parser.add_argument(
            "--plan", action="store_true", help="print what it would run, keep and skip; change nothing"
        )
        add_report_arguments(parser)
        add_actor_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        batch = get_batch(options["batch_id"])
        node = options["node"]
        try:
            if options["plan"]:
                refused = action_refusal(self.action, batch, node)
                if refused is not None:
                    raise CommandError(refused)
                plan = action_plan(self.action, batch, node)
                write_plan(self, plan, options, what=self.planning.format(node=node, batch=batch.pk))
                return
            after = self.act(batch_id=batch.pk, node_key=node, actor=command_actor(options), reason=options["reason"])
        except BatonError as exc:
            raise CommandError(str(exc)) from exc
        if after.pk != batch.pk and not (options["wait"] or options["json"]):
            self.stdout.write(after.pk)  # the batch that continues it
        elif options["wait"] or options["json"]:
            write_report(self, after, options)
        else:
            self.stdout.write(f"batch {after.pk}: " + self.done.format(node=node))
