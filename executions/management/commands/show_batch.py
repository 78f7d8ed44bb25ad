"""`show_batch ID [--wait] [--json]`: a batch's report."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from executions.management.commands._report import add_report_arguments, get_batch, write_report


class Command(BaseCommand):
    help = "Print a batch's report (SPEC §11); --wait blocks until it ends."

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        add_report_arguments(parser)

    def handle(self, *args, **options):
        write_report(self, get_batch(options["batch_id"]), options)
