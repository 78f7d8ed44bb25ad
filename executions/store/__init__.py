"""The storage seam of a hop: `hop_store()` is the `HopStore` of the database, chosen once per vendor.

PostgreSQL gets `PostgresHopStore` (CTEs, prepared statements, wake-ups before commit); every
other database the ORM store. A test can run the services on another store (`using_store`):
the differential test runs both on PostgreSQL side by side.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import connection as default_connection

from executions.store.base import (
    Applied,
    AttemptEnd,
    HopStore,
    LockedBatch,
    Move,
    NodeRow,
    RecordedFinish,
    ReferenceContext,
    StraightFinish,
)
from executions.store.orm import OrmHopStore
from executions.store.postgres import PostgresHopStore

__all__ = [
    "Applied",
    "AttemptEnd",
    "HopStore",
    "LockedBatch",
    "Move",
    "NodeRow",
    "OrmHopStore",
    "PostgresHopStore",
    "RecordedFinish",
    "ReferenceContext",
    "StraightFinish",
    "hop_store",
    "store_for",
    "using_store",
]

_by_vendor: dict[str, HopStore] = {}
_chosen: ContextVar[HopStore | None] = ContextVar("hop_store", default=None)


def store_for(connection: Any) -> HopStore:
    """Return the store for a database connection's vendor (made once per vendor)."""
    store = _by_vendor.get(connection.vendor)
    if store is None:
        store = _by_vendor[connection.vendor] = (
            PostgresHopStore() if connection.vendor == "postgresql" else OrmHopStore()
        )
    return store


def hop_store() -> HopStore:
    """Return the store the services write through: the default database's, unless a test chose one."""
    return _chosen.get() or store_for(default_connection)


@contextmanager
def using_store(store: HopStore) -> Iterator[HopStore]:
    """Within it, run the services on `store` (this thread and context only)."""
    token = _chosen.set(store)
    try:
        yield store
    finally:
        _chosen.reset(token)
