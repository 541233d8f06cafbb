"""What many tests set up the same way, made in one place: people with a role, sources no
sync ever reads, bare execution rows, an execution of the live sandbox mirrored, and
executions mirrored from the recorded histories of tests/fixtures/histories (stored by the
sync's own store_events, as if synced).

Plain functions, not fixtures: a test says in one line what it needs (`signed_in(client,
"otto", "operator")`), and a fixture that many tests share just calls one of these.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from console.celery import app as celery_app
from executions import history, sync, tree
from executions.models import Credentials, Execution, Function, Source

HISTORIES = Path(__file__).parent / "fixtures" / "histories"
# The password of people who sign in through the login form (browser tests, the form's
# own tests); everyone else is signed in with force_login and has none.
PASSWORD = "correct horse battery staple"


# ---- tasks ----------------------------------------------------------------------------


@contextmanager
def tasks_run_here(*, propagate: bool = False) -> Iterator[None]:
    """Celery tasks queued inside run there and then, in the test's process (a bulk job, a
    Slack click's answer): for tests that start no worker. `propagate`: a task's error is
    raised rather than stored."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = propagate
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False
        celery_app.conf.task_eager_propagates = False


# ---- people ---------------------------------------------------------------------------


def user(
    name: str,
    role: str | None = None,
    *,
    staff: bool = False,
    superuser: bool = False,
    password: str | None = None,
) -> User:
    """A person with a role ("viewer" or "operator": a group, as `manage.py grant` gives
    it) and Django's staff and superuser flags. Without a password unless given one:
    hashing one costs about a third of a second, and force_login needs none."""
    person = User.objects.create_user(
        name, password=password, is_staff=staff or superuser, is_superuser=superuser
    )
    if role:
        person.groups.add(Group.objects.get_or_create(name=role)[0])
    return person


def signed_in(
    client: Client,
    name: str,
    role: str | None = None,
    *,
    staff: bool = False,
    superuser: bool = False,
) -> Client:
    """The test client, signed in as a new person (see user())."""
    client.force_login(user(name, role, staff=staff, superuser=superuser))
    return client


# ---- sources and bare rows --------------------------------------------------------------


def offline_source(name: str, **fields: Any) -> Source:
    """A source at an address where nothing answers, unsigned, turned off: what a test
    needs when the mirror's rows are all it reads."""
    values: dict[str, Any] = {
        "endpoint_url": "http://127.0.0.1:9",
        "credentials": Credentials.NONE,
        "enabled": False,
        **fields,
    }
    return Source.objects.create(name=name, **values)


def aws_source(name: str, region: str = "us-east-1", **fields: Any) -> Source:
    """A source on AWS itself (no endpoint URL, the default credential chain), turned off:
    links and events are built from what is stored, never from AWS."""
    values: dict[str, Any] = {"credentials": Credentials.DEFAULT, "enabled": False, **fields}
    return Source.objects.create(name=name, region=region, **values)


def running_execution(
    source: Source, name: str, function: str = "coffee-order", **fields: Any
) -> Execution:
    """A running execution as the listing inserts it (an AWS-shaped ARN, started now, no
    history yet); `fields` set other columns."""
    function_row, _ = Function.objects.get_or_create(source=source, name=function)
    values: dict[str, Any] = {
        "arn": f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        f"/durable-execution/{name}/1",
        "status": "RUNNING",
        "started_at": timezone.now(),
        **fields,
    }
    return Execution.objects.create(name=name, source=source, function=function_row, **values)


def mirrored_all(source: Source, arns: list[str]) -> list[Execution]:
    """Executions of a live source (the sandbox) as the console's sync would mirror them by
    itself now: the source listed (its functions, their executions), then these executions
    read. Not sync_once: that reads every execution the session has started, so it gets
    slower with each test that ran before."""
    sync.poll_source(source)
    return [sync.sync_arn(source, arn) for arn in arns]


def mirrored(source: Source, arn: str) -> Execution:
    """One execution of a live source, mirrored as mirrored_all() does."""
    return mirrored_all(source, [arn])[0]


# ---- recorded histories -----------------------------------------------------------------


def recorded_source() -> Source:
    """A source for recorded histories; turned off, so no sync ever reads it."""
    source, _ = Source.objects.get_or_create(
        name="recorded",
        defaults={
            "endpoint_url": "http://127.0.0.1:9",
            "credentials": Credentials.NONE,
            "enabled": False,
        },
    )
    return source


def recorded_events(name: str) -> list[dict[str, Any]]:
    """A recorded history's events as boto3 gives them (timestamps as datetimes)."""
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    for event in events:
        event["EventTimestamp"] = datetime.fromisoformat(event["EventTimestamp"])
        details = tree.event_details(event)
        if isinstance(details.get("ScheduledEndTimestamp"), str):
            details["ScheduledEndTimestamp"] = datetime.fromisoformat(
                details["ScheduledEndTimestamp"]
            )
    return events


def mirror_events(
    name: str, function_name: str, events: list[dict[str, Any]], arn: str
) -> Execution:
    """A running execution of the recorded source, its history these recorded events
    (stored by the sync's own store_events)."""
    function, _ = Function.objects.get_or_create(source=recorded_source(), name=function_name)
    execution = Execution.objects.create(
        arn=arn,
        name=name,
        source=function.source,
        function=function,
        status="RUNNING",
        started_at=events[0]["EventTimestamp"],
        last_synced_at=timezone.now(),
    )
    history.store_events(execution, events)
    execution.refresh_from_db()
    return execution


def mirror_history(name: str, fixture: str | None = None) -> Execution:
    """The recorded history `fixture` (by default `name`) mirrored as an execution named
    `name`, of the function the fixture's name starts with."""
    fixture = fixture or name
    events = recorded_events(fixture)
    return mirror_events(name, fixture.split("-")[0], events, f"recorded/replay/{name}")


def mirror_recorded(name: str, fixture: str, callback_started_ago: float) -> Execution:
    """Mirror a recorded history as a running execution named `name`, its events moved in
    time so that its first CallbackStarted happened `callback_started_ago` seconds ago."""
    data = json.loads((HISTORIES / f"{fixture}.json").read_text())
    events = data["events"]
    anchor = next(
        datetime.fromisoformat(e["EventTimestamp"])
        for e in events
        if e["EventType"] == "CallbackStarted"
    )
    shift = timezone.now() - timedelta(seconds=callback_started_ago) - anchor
    for event in events:
        event["EventTimestamp"] = datetime.fromisoformat(event["EventTimestamp"]) + shift
    return mirror_events(name, "coffee-order", events, f"recorded/{name}")
