"""`cron_preview EXPR [--tz TZ] [--after ISO] [--count N]`: print the next fire times of a Quartz cron (SPEC §11)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError

from workflows.quartz import InvalidCronExpression, QuartzCron, parse_start


class Command(BaseCommand):
    help = "Print the next fire times of a Quartz cron expression, one ISO-8601 line each."

    def add_arguments(self, parser):
        parser.add_argument("expression", help="Quartz cron expression, quoted (6 or 7 fields)")
        parser.add_argument("--tz", default="UTC", help="IANA time zone the expression runs in (default UTC)")
        parser.add_argument("--after", help="ISO-8601 start, exclusive (default now; a naive time is read in --tz)")
        parser.add_argument("--count", type=int, default=5, help="how many fire times to print (default 5)")

    def handle(self, *args, **options):
        try:
            cron = QuartzCron(options["expression"], options["tz"])
        except InvalidCronExpression as exc:
            raise CommandError(str(exc)) from exc
        if options["count"] < 1:
            raise CommandError("--count must be at least 1")
        after = parse_after(options["after"], cron.zone)
        times = cron.next_fire_times(after, options["count"])
        for fire in times:
            self.stdout.write(fire.isoformat())
        if not times:
            raise CommandError(f"no fire time after {after.isoformat()}")


def parse_after(text: str | None, zone: ZoneInfo) -> datetime:
    """Return the aware start time: now, or text read as ISO-8601 (naive means wall time in zone)."""
    if text is None:
        return datetime.now(zone)
    try:
        return parse_start(text, zone)
    except ValueError as exc:
        raise CommandError(f"--after: {exc}") from exc
