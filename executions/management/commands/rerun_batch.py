"""`rerun_batch ID [--resume] [--wait] [--json]`: re-run a finished batch (SPEC §4.3)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from executions.lifecycle import batch_rerun
from executions.management.commands._report import add_report_arguments, get_batch, write_report


class Command(BaseCommand):
    help = "Start a new batch on the same version as a finished one; --resume keeps its succeeded nodes."

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        parser.add_argument("--resume", action="store_true", help="resume from failure")
        add_report_arguments(parser)
        add_actor_argument(parser)

    def handle(self, *args, **options):
        original = get_batch(options["batch_id"])
        try:
            batch = batch_rerun(batch_id=original.pk, actor=command_actor(options), resume=options["resume"])
        except BatonError as exc:
            raise CommandError(str(exc)) from exc
        write_report(self, batch, options, id_only=True)
