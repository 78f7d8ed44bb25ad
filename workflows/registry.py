"""Registry of the callables that ``python`` tasks may run.

A ``python`` task names its callable by a dotted name (``config.callable``); only callables
registered here can run, so a task definition can never import and call arbitrary code.

    from workflows import registry

    @registry.task()                       # registered as "shop.jobs.reindex"
    def reindex(shard: int = 0) -> int: ...

    @registry.task("shop.nightly-report")  # explicit name
    def nightly_report(day: str) -> dict: ...

Decisions:

- A name is any non-empty string without whitespace; the default is
  ``f"{fn.__module__}.{fn.__qualname__}"``.
- Registering a name twice raises ``ValueError`` unless the new callable has the same module
  and qualified name as the old one (a module re-imported by an autoreloader), which replaces it.
- ``task`` works with or without parentheses (``@task`` and ``@task()``).
- The registry is process-wide and guarded by a lock; it imports nothing from Django.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_callables: dict[str, Callable[..., Any]] = {}


def _default_name(fn: Callable[..., Any]) -> str:
    """Return the dotted name a callable is registered under by default."""
    return f"{fn.__module__}.{fn.__qualname__}"


def _check_name(name: object) -> str:
    """Return ``name`` if it is a usable registry name, else raise ``ValueError``."""
    if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
        raise ValueError(f"a task name must be a non-empty string without spaces, got {name!r}")
    return name


def register(fn: Callable[..., Any], name: str | None = None) -> str:
    """Register ``fn`` under ``name`` (default: its dotted name) and return that name."""
    if not callable(fn):
        raise TypeError(f"{fn!r} is not callable")
    key = _check_name(_default_name(fn) if name is None else name)
    with _lock:
        existing = _callables.get(key)
        if existing is not None and existing is not fn:
            same_origin = getattr(existing, "__module__", None) == getattr(fn, "__module__", None) and getattr(
                existing, "__qualname__", None
            ) == getattr(fn, "__qualname__", None)
            if not same_origin:
                raise ValueError(f"a python task named {key!r} is already registered: {existing!r}")
        _callables[key] = fn
    return key


@overload
def task(name: F) -> F: ...
@overload
def task(name: str | None = None) -> Callable[[F], F]: ...
def task(name: str | F | None = None) -> Callable[[F], F] | F:
    """Register the decorated callable as a python task, under ``name`` or its dotted name."""
    if callable(name):
        register(name)
        return name
    explicit = name

    def decorator(fn: F) -> F:
        register(fn, explicit)
        return fn

    return decorator


def get(name: str) -> Callable[..., Any]:
    """Return the callable registered under ``name``; raise ``KeyError`` naming the known ones."""
    with _lock:
        fn = _callables.get(name)
        if fn is not None:
            return fn
        known = sorted(_callables)
    listing = ", ".join(known) if known else "(none)"
    raise KeyError(f"no python task is registered as {name!r}; registered: {listing}")


def names() -> list[str]:
    """Return the registered names, sorted."""
    with _lock:
        return sorted(_callables)


def unregister(name: str) -> None:
    """Forget ``name`` if it is registered (for tests and plugins being unloaded)."""
    with _lock:
        _callables.pop(name, None)
