"""The alerts task: thin, by name, on Baton's own queue `baton-alerts` (never a user queue)."""

from __future__ import annotations

from celery import shared_task

from alerts import outbox


@shared_task(name="baton.alerts", ignore_result=True)
def alerts(batch_id: str | None = None) -> dict[str, int]:
    """Decide a batch's alerts (or, without one, read the event log after the cursor) and send what is due."""
    return outbox.alerts_run(batch_id=batch_id)
