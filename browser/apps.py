from __future__ import annotations

from django.apps import AppConfig


class BrowserConfig(AppConfig):
    """The read side: the list, an execution's tabs and graph, the sync health page.

    Reads the mirror (executions.models) only; never calls a Lambda endpoint and never
    imports the sync engine. Its one model is people's saved views (models.py): filters of
    its own pages."""

    name = "browser"
    verbose_name = "Execution browser"
