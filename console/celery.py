"""The Celery app. Run a worker with beat: `celery -A console worker --beat`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
# Every CELERY_* setting in console/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds tasks.py in every installed app (executions/tasks.py).
app.autodiscover_tasks()
