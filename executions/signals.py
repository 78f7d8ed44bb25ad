"""Signals the run-time app sends to the apps that watch it (alerts), which it does not import."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by the scheduler inside the transaction that records fires (after their insert, ids set),
# so what a receiver writes commits with the fire records or not at all. Arguments: `fires` (the
# `Fire` rows just inserted) and `now`. The alerts outbox decides missed and skipped fires here.
fires_recorded = Signal()
