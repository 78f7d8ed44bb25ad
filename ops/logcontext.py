"""What a log record is about: the batch, node, run and attempt, carried in a context variable.

The engine sets it around each claimed node run (`node_run_context`), the scheduler and the
sweep around each batch they touch; every record logged meanwhile in that thread or task —
the engine's, the executors', the scheduler's — gets the ids from `RunContextFilter`. With
`BATON_LOG_FORMAT=json` the handler writes each record as one JSON object
(`JsonFormatter`, python-json-logger) with those ids as keys. Imports nothing of Django:
logging is configured before the apps are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

FIELDS = ("batch_id", "node_key", "run_id", "attempt")

_current: ContextVar[dict[str, Any] | None] = ContextVar("baton_run_context", default=None)


@contextmanager
def run_context(
    *, batch_id: str | None = None, node_key: str | None = None, run_id: int | None = None, attempt: int | None = None
) -> Iterator[None]:
    """Within it, every log record of this context carries these ids (and the enclosing context's others)."""
    outer = _current.get()
    ids = {"batch_id": batch_id, "node_key": node_key, "run_id": run_id, "attempt": attempt}
    if outer:
        ids = {name: outer.get(name) if value is None else value for name, value in ids.items()}
    token = _current.set(ids)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> dict[str, Any]:
    """Return the ids in force here."""
    return {name: value for name, value in (_current.get() or {}).items() if value is not None}


class RunContextFilter(logging.Filter):
    """Put the context's ids on every record (None where unknown); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _current.get() or {}
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, ids.get(name))
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per record: time, level, logger, message, the run's ids, any extras, the traceback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        for name in FIELDS:
            log_record.setdefault(name, getattr(record, name, None))
