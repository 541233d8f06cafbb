from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The embedded backend for `make run` and the tests: an app only for its development
    commands (`manage.py runconsole`, `manage.py sandbox`), which the mirror's own app
    should not carry."""

    name = "sandbox"
    label = "sandbox"
