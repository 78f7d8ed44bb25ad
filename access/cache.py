"""The shared cache's Redis backend: Django's, except that clearing it leaves the broker's keys alone."""

from __future__ import annotations

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
