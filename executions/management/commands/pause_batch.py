"""`pause_batch ID [--continue]`: pause a running batch (no node starts; running ones finish), or continue it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from executions.lifecycle import batch_continue, batch_pause
from executions.management.commands._report import add_report_arguments, get_batch, write_report


class Command(BaseCommand):
    help = "Pause a running batch: no node starts until it continues (--continue); its timeout keeps counting."

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        parser.add_argument("--continue", dest="go_on", action="store_true", help="continue a paused batch")
        add_report_arguments(parser)
        add_actor_argument(parser)

    def handle(self, *args, **options):
        batch = get_batch(options["batch_id"])
        action = batch_continue if options["go_on"] else batch_pause
        try:
            batch = action(batch_id=batch.pk, actor=command_actor(options))
        except BatonError as exc:
            raise CommandError(str(exc)) from exc
        if options["wait"] or options["json"]:
            write_report(self, batch, options)
        else:
            self.stdout.write(f"batch {batch.pk}: {'continued' if options['go_on'] else 'paused'}")
