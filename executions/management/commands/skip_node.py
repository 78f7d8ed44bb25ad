"""`skip_node ID NODE [--reason TEXT] [--plan]`: an operator skips a pending node of a running batch for this run."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from executions import actions
from executions.lifecycle import action_plan, action_refusal, node_skip
from executions.management.commands._report import add_report_arguments, get_batch, write_plan, write_report


class Command(BaseCommand):
    help = "Skip a pending task node of a running or paused batch before it starts; its downstream follows the edges."

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        parser.add_argument("node")
        parser.add_argument("--reason", default="", help="why (recorded with the node and audited)")
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
                refused = action_refusal(actions.SKIP, batch, node)
                if refused is not None:
                    raise CommandError(refused)
                write_plan(
                    self, action_plan(actions.SKIP, batch, node), options, what=f"skip node {node} of batch {batch.pk}"
                )
                return
            after = node_skip(batch_id=batch.pk, node_key=node, actor=command_actor(options), reason=options["reason"])
        except BatonError as exc:
            raise CommandError(str(exc)) from exc
        if options["wait"] or options["json"]:
            write_report(self, after, options)
        else:
            self.stdout.write(f"batch {after.pk}: node {node} skipped")
