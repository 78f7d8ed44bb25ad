"""`archive_history [--dry-run]`: archive and delete the ended batches past their team's retention now."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from executions.retention import expired, history_archive, team_cutoffs


class Command(BaseCommand):
    help = (
        "Archive the ended batches older than their team's retention to compressed JSON Lines "
        "(BATON_ARCHIVE_DIR) and delete them; what the periodic task does, without its time budget."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count what would be archived")

    def handle(self, *args, **options):
        if options["dry_run"]:
            total = sum(expired(team, cutoff).count() for team, cutoff in team_cutoffs(timezone.now()).items())
            self.stdout.write(f"{total} batches would be archived")
            return
        report = history_archive()
        self.stdout.write(f"archived {report.archived} batches into {len(report.files)} files")
        if report.kept_for_reruns:
            self.stdout.write(f"kept {report.kept_for_reruns} batches that a newer, kept batch re-ran or resumed")
