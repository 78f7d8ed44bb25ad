"""`rerun_batch ID [--resume | --from NODE] [--current-version] [--plan] [--wait] [--json]`: re-run a finished batch."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from executions.lifecycle import CURRENT, ORIGINAL, batch_rerun, batch_rerun_check, rerun_plan
from executions.management.commands._report import add_report_arguments, get_batch, write_plan, write_report


class Command(BaseCommand):
    help = (
        "Start a new batch linked to a finished one: from the start, --resume keeping its succeeded nodes, "
        "or --from NODE keeping every node but NODE and its descendants. --plan only tells what it would do."
    )

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--resume", action="store_true", help="resume from failure")
        how.add_argument("--from", dest="from_node", metavar="NODE", help="re-run NODE and its descendants")
        parser.add_argument(
            "--current-version",
            action="store_true",
            help="run the workflow's current version (default: the batch's own, the original)",
        )
        parser.add_argument("--plan", action="store_true", help="print what it would run, keep and skip; start nothing")
        add_report_arguments(parser)
        add_actor_argument(parser)

    def handle(self, *args, **options):
        original = get_batch(options["batch_id"])
        how = {
            "resume": options["resume"],
            "from_node": options["from_node"],
            "version": CURRENT if options["current_version"] else ORIGINAL,
        }
        try:
            if options["plan"]:
                batch_rerun_check(batch=original, **how)
                what = f"re-run of batch {original.pk}"
                if options["from_node"]:
                    what += f" from node {options['from_node']}"
                elif options["resume"]:
                    what = f"resume of batch {original.pk}"
                write_plan(self, rerun_plan(batch=original, **how), options, what=what)
                return
            batch = batch_rerun(batch_id=original.pk, actor=command_actor(options), **how)
        except BatonError as exc:
            raise CommandError(str(exc)) from exc
        write_report(self, batch, options, id_only=True)
