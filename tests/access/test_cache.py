"""The embedded default's file cache counts exactly when several processes count at once."""

from __future__ import annotations

import multiprocessing

from access.cache import LockedFileCache

PROCESSES, EACH = 4, 150


def count(location: str, key: str) -> None:
    cache = LockedFileCache(location, {})
    for _ in range(EACH):
        cache.add(key, 0)  # what the throttle does first in every request
        cache.incr(key)


def test_counters_are_exact_across_processes(tmp_path):
    location = str(tmp_path / "cache")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=count, args=(location, "window")) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert LockedFileCache(location, {}).get("window") == PROCESSES * EACH
