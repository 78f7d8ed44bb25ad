"""The run-time services' refusals: requests the current state cannot honour."""

from __future__ import annotations


class BatonError(Exception):
    """A request the current state cannot honour; its message is shown to the user."""


class NotRunnable(BatonError):
    """The workflow cannot start a batch (no saved definition, deleted)."""


class TransitionNotPossible(BatonError):
    """The object is no longer in a state that allows this action (HTTP 409)."""
