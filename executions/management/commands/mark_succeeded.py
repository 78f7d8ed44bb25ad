"""`mark_succeeded ID NODE --reason TEXT [--plan]`: an operator marks a failed, timed-out or stopped node succeeded."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from executions import actions
from executions.lifecycle import action_plan, action_refusal, node_mark_succeeded
from executions.management.commands._report import add_report_arguments, get_batch, write_plan, write_report


class Command(BaseCommand):
    help = (
        "Mark a failed, timed-out or stopped task node succeeded: its success edges fire and the batch goes on "
        "(an ended batch is continued by a new batch that keeps every other node's result)."
    )

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        parser.add_argument("node")
        parser.add_argument("--reason", default="", help="why (required; recorded with the node and audited)")
        parser.add_argument(
            "--plan", action="store_true", help="print what it would run, keep and skip; change nothing"
        )
        add_report_arguments(parser)
        add_actor_argument(parser)

    def handle(self, *args, **options):
        batch = get_batch(options["batch_id"])
        node = options["node"]
        try:
            if options["plan"]:
                refused = action_refusal(actions.MARK_SUCCEEDED, batch, node)
                if refused is not None:
                    raise CommandError(refused)
                plan = action_plan(actions.MARK_SUCCEEDED, batch, node)
                write_plan(self, plan, options, what=f"mark node {node} of batch {batch.pk} succeeded")
                return
            after = node_mark_succeeded(
                batch_id=batch.pk, node_key=node, actor=command_actor(options), reason=options["reason"]
            )
        except BatonError as exc:
            raise CommandError(str(exc)) from exc
        if after.pk != batch.pk and not (options["wait"] or options["json"]):
            self.stdout.write(after.pk)  # the batch that continues it
            return
        if options["wait"] or options["json"]:
            write_report(self, after, options)
        else:
            self.stdout.write(f"batch {after.pk}: node {node} marked succeeded")
