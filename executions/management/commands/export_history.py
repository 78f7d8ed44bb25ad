"""`export_history --since DATE --until DATE [--team NAME] [--output FILE]`: batches as archive lines."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from executions.retention import history_export
from workflows.models import Team


def instant(text: str) -> datetime:
    """Read a date or an ISO 8601 instant (UTC unless it says otherwise)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class TextSink:
    """Lets the export write its UTF-8 lines to the command's own (text) standard output."""

    def __init__(self, out) -> None:
        self.out = out

    def write(self, data: bytes, /) -> int:
        self.out.write(data.decode(), ending="")
        return len(data)


class Command(BaseCommand):
    help = (
        "Write the batches created in [--since, --until) with their node runs, attempts and events as "
        "JSON Lines (the archive's format; .gz compresses); deletes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="first day or instant (inclusive)")
        parser.add_argument("--until", required=True, help="last day or instant (exclusive)")
        parser.add_argument("--team", help="only this team's batches")
        parser.add_argument("--output", default="-", help="a file (FILE.gz to compress), or - for standard output")

    def handle(self, *args, **options):
        since, until = instant(options["since"]), instant(options["until"])
        if since >= until:
            raise CommandError("--since must come before --until")
        team = None
        if options["team"]:
            team = Team.objects.filter(name=options["team"]).first()
            if team is None:
                raise CommandError(f"no team named {options['team']!r}")
        output = options["output"]
        if output == "-":
            count = history_export(since=since, until=until, team=team, stream=TextSink(self.stdout))
        else:
            with gzip.open(output, "wb") if output.endswith(".gz") else open(output, "wb") as stream:
                count = history_export(since=since, until=until, team=team, stream=stream)
        self.stderr.write(f"exported {count} batches")
