"""`show_batch ID [--wait] [--json] [--follow]`: a batch's report, or its output as it comes."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from executions.management.commands._report import add_report_arguments, follow, get_batch, write_report


class Command(BaseCommand):
    help = "Print a batch's report (SPEC §11); --wait blocks until it ends."

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        parser.add_argument(
            "--follow",
            action="store_true",
            help="print the task nodes' output as it comes (like tail -f) until the batch ends, then the report",
        )
        add_report_arguments(parser)

    def handle(self, *args, **options):
        batch = get_batch(options["batch_id"])
        if options["follow"]:
            batch = follow(self, batch, options.get("timeout"))
        write_report(self, batch, options)
