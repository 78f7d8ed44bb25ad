"""The run-time services' refusals: members of Baton's one error family (`baton.errors`)."""

from __future__ import annotations

from baton.errors import BatonError, NotRunnable, TransitionNotPossible

__all__ = ["BatonError", "NotRunnable", "TransitionNotPossible"]
