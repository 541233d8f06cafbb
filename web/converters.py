"""Path converters every URL set shares: one rule for what a callback id in a URL may be."""

from __future__ import annotations

from django.urls import register_converter

# AWS's CallbackId is base64 ([A-Za-z0-9+/]+={0,2}, 1-1024 characters), so it may hold "/".
# The sandbox's ids are other printable text. What no callback id holds is a control
# character or a space: a NUL would reach the database (PostgreSQL refuses it with an
# error) and the rest can only come from a hand-made URL. Such a URL finds no page (404).
CALLBACK_ID = r"[^\x00-\x20\x7f]{1,1024}"


class CallbackIdConverter:
    regex = CALLBACK_ID

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(CallbackIdConverter, "callback")
