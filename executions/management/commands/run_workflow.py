"""`run_workflow NAME [--team T] [--param NAME=VALUE …] [--wait] [--json]`: "run once"."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from executions.lifecycle import batch_start
from executions.management.commands._report import add_report_arguments, write_report
from workflows.management.commands.export_workflow import find_workflow


class Command(BaseCommand):
    help = "Start a batch of the workflow's current version now; print its id or its report."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--team")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a declared parameter's value, typed as text (repeat for several); the others take their defaults",
        )
        add_report_arguments(parser)
        add_actor_argument(parser)

    def handle(self, *args, **options):
        workflow = find_workflow(options["name"], options["team"])
        values = {}
        for pair in options["param"]:
            name, equals, value = pair.partition("=")
            if not equals or not name.strip():
                raise CommandError(f"--param {pair!r}: write NAME=VALUE")
            values[name.strip()] = value
        try:
            batch = batch_start(workflow=workflow, actor=command_actor(options), values=values, values_as_text=True)
        except BatonError as exc:
            raise CommandError(str(exc)) from exc
        write_report(self, batch, options, id_only=True)
