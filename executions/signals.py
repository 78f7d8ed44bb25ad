"""Signals the run-time app sends to the apps that watch it (alerts), which it does not import."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by the scheduler inside the transaction that records fires (after their insert, ids set),
# so what a receiver writes commits with the fire records or not at all. Arguments: `fires` (the
# `Fire` rows just inserted) and `now`. The alerts outbox decides missed and skipped fires here.
fires_recorded = Signal()

# Sent by retention inside the transaction that deletes a chunk of batches, before the delete.
# Argument: `batch_ids` (the ids about to go). The alerts app deletes the alerts about them (a
# fire's alert keeps its fire), so no alert points at a batch that is gone.
batches_deleting = Signal()
