"""A Redis cache that degrades to process memory instead of failing the request.

The cache holds nothing we cannot lose: rate-limit counters, the "this TOTP code was
just used" markers, short-lived computed values. Sessions live in the database. So a
Redis outage must not turn a login into a 500: while Redis is unreachable, every
call goes to a per-process :class:`~django.core.cache.backends.locmem.LocMemCache`,
a warning is logged once per outage, and Redis is tried again after
``RETRY_AFTER_SECONDS``. Rate limits and code reuse checks then hold per web
process rather than globally (docs/decisions.md, "Redis outage").

``degraded`` tells the health check (``/healthz``) that the shared cache is gone,
so the outage is visible to operators even though pages keep working.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

#: Errors that mean "Redis is not there", as opposed to a programming error.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_AFTER_SECONDS = 10.0


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        fallback_params = {k: v for k, v in params.items() if k != "OPTIONS"}
        self._fallback = LocMemCache(f"redis-fallback:{server}", fallback_params)
        self._down_until = 0.0

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._down_until

    def _call(self, method: str, *args, **kwargs):
        if not self.degraded:
            try:
                result = getattr(super(), method)(*args, **kwargs)
            except UNREACHABLE as exc:
                if not self._down_until:
                    logger.warning(
                        "Redis cache unreachable (%s); using process memory, retrying every %.0f s",
                        exc.__class__.__name__,
                        RETRY_AFTER_SECONDS,
                    )
                self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            else:
                if self._down_until:
                    logger.warning("Redis cache reachable again")
                    self._down_until = 0.0
                return result
        return getattr(self._fallback, method)(*args, **kwargs)

    def add(self, *args, **kwargs):
        return self._call("add", *args, **kwargs)

    def get(self, *args, **kwargs):
        return self._call("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._call("set", *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._call("touch", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._call("delete", *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._call("get_many", *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._call("has_key", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", *args, **kwargs)

    def set_many(self, *args, **kwargs):
        return self._call("set_many", *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", *args, **kwargs)

    def clear(self, *args, **kwargs):
        return self._call("clear", *args, **kwargs)
