"""`import_workflow PATH`: validate and create or update a workflow from a definition file."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from access.cli import add_actor_argument, command_actor
from baton.errors import BatonError
from workflows.definition import MAX_TEXT_BYTES, DefinitionError, load_text
from workflows.services import definition_parse, workflow_save_definition


class Command(BaseCommand):
    help = "Validate a JSON/YAML definition (SPEC §10) and create or update the workflow; print its id."

    def add_arguments(self, parser):
        parser.add_argument("path", help="definition file (JSON or YAML), or - for standard input")
        add_actor_argument(parser)

    def handle(self, *args, **options):
        path = options["path"]
        try:  # one byte past the limit is enough to refuse a larger file (or /dev/zero)
            if path == "-":
                raw = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1)
            else:
                with Path(path).open("rb") as file:
                    raw = file.read(MAX_TEXT_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            document = load_text(raw)
            definition_parse(document)  # the format's problems first, before anything is looked up (even who acts)
            result = workflow_save_definition(document=document, actor=command_actor(options))
        except DefinitionError as exc:
            count = len(exc.problems)
            lines = "\n".join(f"  - {problem}" for problem in exc.problems)
            raise CommandError(f"{path}: {count} problem{'s' if count > 1 else ''}, nothing saved:\n{lines}") from exc
        except BatonError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        workflow, version = result.workflow, result.version
        what = "created" if result.created else ("updated" if result.changed else "unchanged")
        self.stderr.write(f"workflow {workflow.name!r} (team {workflow.team.name!r}) {what}, version {version.number}")
        self.stdout.write(str(workflow.pk))
