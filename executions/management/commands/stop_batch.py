"""`stop_batch ID`: stop a running batch (SPEC §4.3)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from executions.lifecycle import batch_stop
from executions.management.commands._report import add_report_arguments, get_batch, write_report


class Command(BaseCommand):
    help = "Stop a running batch: pending node runs stop, running ones are cancelled."

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        add_report_arguments(parser)
        add_actor_argument(parser)

    def handle(self, *args, **options):
        batch = get_batch(options["batch_id"])
        try:
            batch = batch_stop(batch_id=batch.pk, actor=command_actor(options))
        except BatonError as exc:
            raise CommandError(str(exc)) from exc
        if options["wait"] or options["json"]:
            write_report(self, batch, options)
        else:
            self.stdout.write(f"batch {batch.pk}: stop requested")
