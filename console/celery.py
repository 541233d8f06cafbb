"""The Celery app. Run a worker with beat: `celery -A console worker --beat`."""

from __future__ import annotations

import logging
import os

from celery import Celery

from monitoring.logs import connect_celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

# How every worker starts, beside its own options. Without mingle, gossip and heartbeat
# events: the console uses none of them (no revoked tasks to share at start-up, no events
# of other workers), and with all three gone a worker publishes no events at all, which
# leaves fewer steps to fail while it reconnects to a Redis that went away (Celery's
# trackers report workers that never took a task again after one: celery#8030, #8091).
WORKER_FLAGS = ("--without-mingle", "--without-gossip", "--without-heartbeat")


def _mend_kombu_closing_a_detached_channel() -> None:
    """A worker that loses Redis while it holds a message not yet acknowledged must not die.

    Celery 5.7's consumer, on losing the broker, closes its connection twice: collect()
    (which detaches the transport: its `client` becomes None) and then close(). When the
    first close of the channel fails half-way (its pending BRPOP cannot be read from a dead
    Redis), the second one goes on to give back the unacknowledged messages, and kombu's
    Redis channel builds a connection from the detached transport: AttributeError
    ("'NoneType' object has no attribute 'hostname'"). Nothing expects that error: the
    consumer stops ("Unrecoverable error") and the worker never takes a task again, while
    beat keeps queueing. Our Redis-restart test caught it when the worker was busy as Redis
    went. Raised as the connection error it is, the close ignores it and the consumer
    reconnects; the message stays in Redis's unacknowledged set, which gives it back after
    the visibility timeout (what happens to it whenever Redis is gone at that moment).
    """
    import redis
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.Channel._connparams
    if getattr(original, "mended", False):
        return

    def _connparams(self: kombu_redis.Channel, asynchronous: bool = False) -> dict:
        if self.connection.client is None:
            logging.getLogger(__name__).warning(
                "Redis went while this worker held unacknowledged messages: a Redis that "
                "kept them gives them back after the visibility timeout"
            )
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        return original(self, asynchronous)

    _connparams.mended = True  # type: ignore[attr-defined]
    kombu_redis.Channel._connparams = _connparams


_mend_kombu_closing_a_detached_channel()

app = Celery("console")
# Every CELERY_* setting in console/settings.py configures this app.
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds tasks.py in every installed app (executions/tasks.py).
app.autodiscover_tasks()
# Workers log through console/settings.py's LOGGING when LOG_FORMAT is json, and each task
# starts with no request id or execution ARN of another's (monitoring/logs.py).
connect_celery(app, os.environ.get("LOG_FORMAT", "text"))
