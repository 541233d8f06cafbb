"""Celery tasks around scan.py and deliver.py: beat runs `scan` every NOTIFY_SCAN_SECONDS;
it promises the new deliveries and queues a `send` for every due one (new ones, retries
whose back-off has passed, and those of a worker that died mid-send). `slack_answer`
answers a click on a Slack message's button (notify/slack.py), which Slack's request
could not wait for."""

from __future__ import annotations

from celery import shared_task

from executions.locks import Locked, redis_lock
from notify import deliver, slack
from notify import scan as scanning


@shared_task(soft_time_limit=100, time_limit=120)
def scan() -> dict:
    # One scan at a time is enough; a second would find nothing new (and could not send
    # anything twice: the table's constraint and the claim see to that).
    try:
        with redis_lock("notify-scan"):
            created = scanning.scan()
    except Locked:
        created = []
    # Each send is a task of its own, so a slow receiver holds up no other message; one
    # queued twice is sent once (deliver.claim).
    due = deliver.due()
    for delivery_id in due:
        send.delay(delivery_id)
    return {"created": len(created), "queued": len(due)}


@shared_task(soft_time_limit=60, time_limit=90)
def send(delivery_id: int) -> str:
    return deliver.attempt(delivery_id)


@shared_task(soft_time_limit=100, time_limit=120)
def slack_answer(click: dict) -> str:
    # Queued once per signed click (a replayed request is refused before it gets here).
    return slack.handle(click)
