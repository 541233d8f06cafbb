"""The Celery app. Run a worker with beat: `celery -A console worker --beat`."""

from __future__ import annotations

import os

from celery import Celery

from monitoring.logs import connect_celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

# How every worker starts, beside its own options. Without mingle, gossip and heartbeat
# events: the console uses none of them (no revoked tasks to share at start-up, no events
# of other workers), and with all three gone a worker publishes no events at all. Celery's
# trackers report Redis-broker workers that lose Redis and then take nothing from the queue
# again, mended by starting without them (celery#8030, #8091); our Redis-restart test saw
# one (its worker logged "Error on stopping Gossip" and never reconnected).
WORKER_FLAGS = ("--without-mingle", "--without-gossip", "--without-heartbeat")

app = Celery("console")
# Every CELERY_* setting in console/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds tasks.py in every installed app (executions/tasks.py).
app.autodiscover_tasks()
# Workers log through console/settings.py's LOGGING when LOG_FORMAT is json, and each task
# starts with no request id or execution ARN of another's (monitoring/logs.py).
connect_celery(app, os.environ.get("LOG_FORMAT", "text"))
