"""The shared cache's backends: Redis that leaves the broker's keys alone; files whose counters are atomic."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache


class SharedRedisCache(RedisCache):
    """Django's Redis cache for a database it may share with the Celery broker.

    Django's `clear()` is FLUSHDB, which would also drop the broker's queued messages; this one
    deletes only the keys under the cache's own prefix (`KEY_PREFIX`, which must not be empty).
    """

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        if not self.key_prefix:
            raise ValueError("SharedRedisCache needs a KEY_PREFIX")

    def clear(self) -> bool:
        client = self._cache.get_client(None, write=True)
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{self.key_prefix}:*", count=500):
            batch.append(key)
            if len(batch) == 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
        return True


class LockedFileCache(FileBasedCache):
    """Django's file cache, with `add` and `incr` atomic across the processes of one machine.

    Django's file cache reads, decides and writes back, so two web processes counting the same
    throttle window at once both read 3 and both write 4. Here `add` and `incr` hold an
    exclusive lock on one file of the cache's folder (flock) for their read and write; that is
    enough for the embedded default, whose processes all run on one machine.
    """

    @contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self._dir, exist_ok=True)
        with open(os.path.join(self._dir, "counters.lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        with self._locked():
            return super().add(key, value, timeout, version)

    def incr(self, key, delta=1, version=None):
        with self._locked():
            return super().incr(key, delta, version)
