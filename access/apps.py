from __future__ import annotations

from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Who a person is and what they may do: sign-in (and its rate limit), the client's
    address behind trusted proxies."""

    name = "access"

    def ready(self) -> None:
        from access import signin  # noqa: F401 (connects the sign-in audit signals)
