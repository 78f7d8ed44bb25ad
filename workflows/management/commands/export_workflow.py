"""`export_workflow NAME [--team T]`: print a workflow's definition (SPEC §10)."""

from __future__ import annotations

import json

import yaml
from django.core.management.base import BaseCommand, CommandError

from workflows.definition import DefinitionError
from workflows.models import Workflow
from workflows.services import workflow_export


class Command(BaseCommand):
    help = "Print a workflow's current definition, secrets masked."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--team", help="the team, when several teams have a workflow of this name")
        parser.add_argument("--format", choices=["json", "yaml"], default="json")

    def handle(self, *args, **options):
        workflow = find_workflow(options["name"], options["team"])
        try:
            document = workflow_export(workflow=workflow)
        except DefinitionError as exc:
            raise CommandError(str(exc)) from exc
        if options["format"] == "yaml":
            self.stdout.write(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
        else:
            self.stdout.write(json.dumps(document, ensure_ascii=False, indent=2))


def argument_text(value: str, what: str) -> str:
    """Return a command-line argument as text, or fail with a clear message (bytes that are not UTF-8, NUL)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CommandError(f"{what} is not UTF-8 text: {value!r}") from exc
    if "\x00" in value:
        raise CommandError(f"{what} contains a NUL character: {value!r}")
    return value


def find_workflow(name: str, team: str | None) -> Workflow:
    """Return the one live workflow of this name (in this team), or fail with a clear message."""
    workflows = Workflow.objects.alive().select_related("team", "current_version")
    workflows = workflows.filter(name=argument_text(name, "the workflow name"))
    if team:
        workflows = workflows.filter(team__name=argument_text(team, "--team"))
    found = list(workflows[:10])
    if not found:
        raise CommandError(f"no workflow named {name!r}" + (f" in team {team!r}" if team else ""))
    if len(found) > 1:
        teams = ", ".join(sorted(w.team.name for w in found))
        raise CommandError(f"several teams have a workflow named {name!r} ({teams}); pass --team")
    return found[0]
