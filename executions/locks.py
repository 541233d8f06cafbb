"""Redis locks and one-time claims, shared by the sync, the scheduler and the tasks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# A lock outlives a killed worker by at most this long; a live one renews it per page.
LOCK_TIMEOUT_SECONDS = int(getattr(settings, "SYNC_LOCK_SECONDS", 60))

_redis: redis.Redis | None = None


def redis_client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5
        )
    return _redis


def redis_key(*parts: str) -> str:
    """A Redis key of this console's: REDIS_KEY_PREFIX keeps another console's on the same
    Redis apart (console/isolation.py). Read on every call, so tests can override it."""
    return ":".join([settings.REDIS_KEY_PREFIX, *parts])


def lock_key(name: str) -> str:
    return redis_key("lock", name)


def _claim_key(key: str) -> str:
    return redis_key("once", key)


class Locked(Exception):
    """Another worker holds the lock."""


@contextmanager
def redis_lock(name: str, timeout: int | None = None) -> Iterator[Any]:
    """Hold a Redis lock; yields a function that renews it (call it while working)."""
    lock = redis_client().lock(
        lock_key(name), timeout=timeout or LOCK_TIMEOUT_SECONDS, blocking=False
    )
    if not lock.acquire():
        raise Locked(name)
    try:
        yield lock.reacquire
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            # The lock expired while we worked; someone else may hold it now.
            logger.warning("lock %s expired before release", name)


def claim_once(key: str, ttl_seconds: int) -> bool:
    """True for the first caller within ttl (used to avoid queueing the same work twice)."""
    return bool(redis_client().set(_claim_key(key), "1", nx=True, ex=ttl_seconds))


def release_claim(key: str) -> None:
    """Let the next caller claim `key` at once (the work it guarded has ended)."""
    redis_client().delete(_claim_key(key))
