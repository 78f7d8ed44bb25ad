"""What a scheduled fire does when it cannot simply start (SPEC §4.5, §5): the one list of each policy.

Pure: no Django import. The models build their choices from these (`workflows.models`), the
definition parser checks against them, and the scheduler compares with them. The first member
of each is the default.
"""

from __future__ import annotations

from enum import StrEnum


class OverlapPolicy(StrEnum):
    """What a scheduled fire does while an earlier batch of the workflow still runs (SPEC §4.5)."""

    SKIP = "skip"
    PARALLEL = "parallel"
    QUEUE = "queue"


class MisfirePolicy(StrEnum):
    """What happens to fires missed while no scheduler ran (SPEC §5)."""

    FIRE_ONCE_NOW = "fire_once_now"
    SKIP = "skip"
