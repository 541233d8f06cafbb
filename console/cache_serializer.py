"""The cache's serializer: JSON, never pickle.

django-redis pickles by default, so whoever can write one key in Redis (a foothold on the
network, another application sharing the server) runs code in every web server that reads
it. JSON can only ever become data. What the console caches is rendered HTML and SVG (safe
strings, which must stay marked safe or the templates would escape them), lists and dicts
of plain values; anything else is refused when it is written, so a change that caches a
datetime or a model fails in the tests instead of coming back as a string.

A value in Redis that is not what this serializer wrote (garbage, a planted pickle) reads
as a miss (Client): the page computes afresh and overwrites it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django_redis.client import DefaultClient
from django_redis.serializers.base import BaseSerializer

logger = logging.getLogger(__name__)

# A SafeString travels as {SAFE: text}. A dict of the console's own that had this key
# would come back as markup, so such a dict is refused when written.
SAFE = "__durable_console_safe_string__"


def _tag(value: Any) -> Any:
    if isinstance(value, SafeString):
        return {SAFE: str(value)}
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_tag(item) for item in value]
    if isinstance(value, dict):
        if SAFE in value:
            raise TypeError(f"a cached dict may not have the key {SAFE!r}")
        if not all(isinstance(key, str) for key in value):
            raise TypeError("a cached dict's keys must be strings")
        return {key: _tag(item) for key, item in value.items()}
    raise TypeError(f"the cache keeps JSON values only, not {type(value).__name__}")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and SAFE in obj and isinstance(obj[SAFE], str):
        return mark_safe(obj[SAFE])  # noqa: S308 (only what _tag wrote as a SafeString)
    return obj


class Unreadable(ValueError):
    """A value in the cache that this serializer did not write."""


class JSONSerializer(BaseSerializer):
    def dumps(self, value: Any) -> bytes:
        return json.dumps(_tag(value), ensure_ascii=False, separators=(",", ":")).encode()

    def loads(self, value: bytes) -> Any:
        try:
            return json.loads(value.decode("utf-8"), object_hook=_untag)
        except (ValueError, RecursionError) as exc:
            raise Unreadable(str(exc)) from exc


class Client(DefaultClient):
    """django-redis' client, reading an unreadable value as a miss (so get_or_set computes
    and overwrites it) rather than failing the page."""

    def get(self, key: Any, default: Any = None, version: Any = None, client: Any = None) -> Any:
        try:
            return super().get(key, default=default, version=version, client=client)
        except Unreadable as exc:
            logger.warning("ignored cache key %r, not the console's JSON: %s", key, exc)
            # Gone, so that get_or_set's add() writes the value computed in its place.
            self.delete(key, version=version, client=client)
            return default

    def get_many(self, keys: Any, version: Any = None, client: Any = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version=version, client=client)
        except Unreadable:
            missing = object()
            found = {key: self.get(key, missing, version, client) for key in keys}
            return {key: value for key, value in found.items() if value is not missing}
