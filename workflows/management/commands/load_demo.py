"""`load_demo`: import the demo workflows (the two examples) unless they already exist."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from access.cli import add_actor_argument, command_actor
from workflows.definition import load_text
from workflows.models import Workflow
from workflows.services import workflow_save_definition

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


class Command(BaseCommand):
    help = "Import the demo workflows shipped in workflows/demo/ (skips those already present)."

    def add_arguments(self, parser):
        add_actor_argument(parser)

    def handle(self, *args, **options):
        actor = command_actor(options)
        for path in sorted(DEMO_DIR.glob("*.json")):
            document = load_text(path.read_bytes())
            exists = Workflow.objects.alive().filter(name=document["name"], team__name=document["team"]).exists()
            if exists:
                self.stdout.write(f"demo {document['name']!r} already present")
                continue
            result = workflow_save_definition(document=document, actor=actor)
            self.stdout.write(f"demo {result.workflow.name!r} loaded (team {result.workflow.team.name!r})")
