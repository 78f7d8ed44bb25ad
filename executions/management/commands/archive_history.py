"""`archive_history [--dry-run]`: archive and delete the ended batches (and fire records) past their team's retention now."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from executions.retention import expired, expired_fires, history_archive, team_cutoffs


class Command(BaseCommand):
    help = (
        "Archive the ended batches older than their team's retention to compressed JSON Lines "
        "(BATON_ARCHIVE_DIR) and delete them; what the periodic task does, without its time budget."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count what would be archived")

    def handle(self, *args, **options):
        if options["dry_run"]:
            cutoffs = team_cutoffs(timezone.now()).items()
            total = sum(expired(team, cutoff).count() for team, cutoff in cutoffs)
            self.stdout.write(f"{total} batches would be archived")
            fires = sum(expired_fires(team, cutoff).count() for team, cutoff in cutoffs)
            if fires:
                self.stdout.write(f"{fires} fire records would be archived (those of the batches too, once they are)")
            return
        report = history_archive()
        self.stdout.write(f"archived {report.archived} batches into {len(report.files)} files")
        if report.fires:
            self.stdout.write(f"archived {report.fires} fire records (fires-YYYY-MM-DD.jsonl.gz)")
        if report.kept_for_reruns:
            self.stdout.write(f"kept {report.kept_for_reruns} batches that a newer, kept batch re-ran or resumed")
