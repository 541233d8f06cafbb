"""/metrics: the figures agree with the mirror after a real sync of the sandbox, and only
a staff token, a staff session or an allowed network gets them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from access import api_tokens
from console.celery import app as celery_app
from console.settings import _metrics_networks
from executions import schedule, sync
from executions.models import Execution, Operation
from guardrails.models import Firing
from notify.models import Delivery
from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories

pytestmark = pytest.mark.django_db


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _staff_token() -> str:
    return api_tokens.issue(factories.user(_name("prom"), staff=True), "prometheus").secret


def scrape(client: Any, secret: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape, parsed by prometheus_client."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((f"durable_console_{name}", tuple(sorted(labels.items()))))


def test_a_scrape_after_a_real_sync_agrees_with_the_mirror(
    client, sandbox_source, lambda_sandbox, api_calls
):
    secret = _staff_token()
    waiting = start(lambda_sandbox, "coffee-order", {"orderId": "m"}, _name("coffee"))
    done = start(lambda_sandbox, "order-processor", {"orderId": "M-1"}, _name("order"))
    wait_for_callback(lambda_sandbox, waiting, "baristaAccepts")
    wait_for_status(lambda_sandbox, done)
    before = scrape(client, secret)
    queued_before = value(before, "celery_queue_length", queue="celery")

    api_calls.clear()
    assert sync.sync_once(sandbox_source)["errors"] == []
    celery_app.send_task("executions.tasks.sync_execution", args=[0])
    celery_app.send_task("executions.tasks.sync_execution", args=[0])
    Delivery.objects.create(
        channel="webhook", event="callback", subject_key=_name("s"), status="failed"
    )
    Firing.objects.create(
        guardrail_name="runaway", subject_key=_name("f"), action="stop", outcome="acted",
        reason="retrying", dry_run=False,
    )  # fmt: skip
    scraped_from = timezone.now()
    after = scrape(client, secret)
    scraped_by = timezone.now()

    # Executions mirrored, by status: what the mirror holds, read from its kept counts.
    mirrored = Execution.objects.filter(source=sandbox_source)
    by_status = dict(mirrored.values_list("status").annotate(n=Count("id")))
    assert by_status.get("SUCCEEDED") and by_status.get("RUNNING")
    for status, n in by_status.items():
        assert value(after, "executions", source="sandbox", status=status) == n, status
    shown = {
        dict(labels)["status"]: v
        for (name, labels), v in after.items()
        if name == "durable_console_executions" and dict(labels)["source"] == "sandbox"
    }
    assert sum(shown.values()) == mirrored.count()  # fmt: skip

    # Pending callbacks, and the sync lag, as the mirror has them.
    pending = Operation.objects.pending_callbacks().filter(
        execution__source=sandbox_source, execution__status="RUNNING"
    )
    assert pending.count() >= 1
    assert value(after, "pending_callbacks", source="sandbox") == pending.count()
    assert value(after, "pending_callback_oldest_age_seconds", source="sandbox") >= 0
    # Checks due: as many as the mirror had due at the scrape's moment, which lies between
    # the two looks around it (a sync of hundreds of executions, as in the whole suite's
    # sandbox, takes longer than the 3 s before the first ones are due again). Every
    # execution was just checked: none is late, none unchecked.
    can_change = mirrored.filter(history_complete=False)

    def due_at(moment):
        return can_change.filter(next_check_at__gt=schedule.URGENT, next_check_at__lte=moment)

    due = value(after, "sync_due_executions", source="sandbox")
    assert due_at(scraped_from).count() <= due <= due_at(scraped_by).count()
    behind_by = timedelta(seconds=schedule.BEHIND_SECONDS)
    overdue = value(after, "sync_overdue_executions", source="sandbox")
    assert (
        due_at(scraped_from - behind_by).count()
        <= overdue
        <= due_at(scraped_by - behind_by).count()
    )
    oldest = value(after, "sync_oldest_due_seconds", source="sandbox")
    first = due_at(scraped_by).order_by("next_check_at").values_list("next_check_at", flat=True)
    assert oldest == 0 if not due else 0 <= oldest <= (scraped_by - first[0]).total_seconds()
    assert value(after, "sync_never_checked_executions", source="sandbox") == 0
    assert value(after, "source_enabled", source="sandbox") == 1

    # Read calls against the budget: every call this sync made, counted once.
    for api in ("GetDurableExecutionHistory", "ListDurableExecutionsByFunction"):
        spent = value(after, "api_calls_total", source="sandbox", api=api)
        was = value(before, "api_calls_total", source="sandbox", api=api) or 0
        assert spent - was == api_calls.count(api) > 0, api
        assert value(after, "api_throttles_total", source="sandbox", api=api) == 0
        assert value(after, "api_budget_per_second", source="sandbox", api=api) > 0

    # The broker's queue: the two tasks sent, waiting (no worker runs in this test).
    assert value(after, "celery_queue_length", queue="celery") == queued_before + 2

    # Notifications of the last hour, by channel and status.
    assert value(after, "notifications_last_hour", channel="webhook", status="failed") == 1

    # What the guardrails did.
    acted = {"guardrail": "runaway", "action": "stop", "outcome": "acted", "dry_run": "false"}
    assert value(after, "guardrail_firings", **acted) == 1

    # The web server's own requests: the first scrape is counted in the second.
    key = {"method": "GET", "view": "metrics", "status": "200"}
    assert (
        value(after, "http_requests_total", **key)
        == (value(before, "http_requests_total", **key) or 0) + 1
    )
    assert value(after, "http_request_duration_seconds_count", method="GET", view="metrics")

    # A backlog: one execution listed and not checked yet, and the waiting one's check
    # two minutes late (as when the budget cannot keep up).
    new = start(lambda_sandbox, "order-processor", {"orderId": "M-2"}, _name("order"))
    wait_for_status(lambda_sandbox, new)
    sync.poll_source(sandbox_source)
    late = timezone.now() - timedelta(seconds=120)
    Execution.objects.filter(arn=waiting).update(next_check_at=late)
    scraped_from = timezone.now()
    behind = scrape(client, secret)
    scraped_by = timezone.now()
    assert can_change.filter(next_check_at__isnull=True).count() == 1
    assert value(behind, "sync_never_checked_executions", source="sandbox") == 1
    # The late one is due and overdue; others of the suite's sandbox may fall due too
    # meanwhile: the figures lie between the mirror's counts around the scrape.
    due = value(behind, "sync_due_executions", source="sandbox")
    assert 1 <= due and due_at(scraped_from).count() <= due <= due_at(scraped_by).count()
    overdue = value(behind, "sync_overdue_executions", source="sandbox")
    assert 1 <= overdue
    assert due_at(scraped_from - behind_by).count() <= overdue
    assert overdue <= due_at(scraped_by - behind_by).count()
    assert value(behind, "sync_oldest_due_seconds", source="sandbox") >= 120

    # Every part was read.
    parts = {dict(labels)["part"]: v for (n, labels), v in after.items() if n.endswith("part_up")}
    assert parts and set(parts.values()) == {1.0}, parts


def test_a_part_that_cannot_be_read_says_so_and_the_others_still_answer(client, sandbox_source):
    from monitoring import metrics

    def broken() -> list:
        raise RuntimeError("the archive bucket is unreachable")

    metrics.register("broken-for-test", broken)
    try:
        samples = scrape(client, _staff_token())
    finally:
        metrics._extra.pop("broken-for-test")
    assert value(samples, "metrics_part_up", part="broken-for-test") == 0
    assert value(samples, "metrics_part_up", part="executions") == 1
    assert value(samples, "source_enabled", source="sandbox") == 1


# ---- who gets in ------------------------------------------------------------------------


def _get(client: Any, **headers: str) -> Any:
    return client.get("/metrics", **headers)


def test_no_token_is_refused_with_the_reason(client):
    response = _get(client)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.content.decode()
    assert "METRICS_ALLOWED_NETWORKS" in response.content.decode()
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"durable_console" not in response.content


def test_a_bad_or_revoked_token_is_refused_and_says_which(client):
    assert _get(client, HTTP_AUTHORIZATION="Bearer dcon_nope").status_code == 401
    assert _get(client, HTTP_AUTHORIZATION="Basic abc").status_code == 401
    issued = api_tokens.issue(factories.user(_name("ops"), staff=True), "prometheus")
    api_tokens.revoke(issued.token)
    response = _get(client, HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 401 and "revoked" in response.content.decode()


def test_a_token_of_someone_who_is_not_staff_is_forbidden(client):
    issued = api_tokens.issue(factories.user(_name("viewer"), "viewer"), "mine")
    response = _get(client, HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 403
    assert "not staff" in response.content.decode()


def test_a_staff_token_or_a_staff_session_gets_the_metrics(client):
    response = _get(client, HTTP_AUTHORIZATION=f"Bearer {_staff_token()}")
    assert response.status_code == 200 and b"durable_console_metrics_part_up" in response.content
    factories.signed_in(client, _name("viewer"), "viewer")
    assert _get(client).status_code == 403
    factories.signed_in(client, _name("admin"), staff=True)
    assert _get(client).status_code == 200


def test_an_allowed_network_gets_in_without_a_token(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    assert _get(client, REMOTE_ADDR="10.20.3.4").status_code == 200
    assert _get(client, REMOTE_ADDR="10.21.3.4").status_code == 401


def test_a_forged_x_forwarded_for_does_not_get_in(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    # No proxy trusted: the header is the client's own words, never read.
    forged = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "10.20.3.4"}
    assert _get(client, **forged).status_code == 401
    # One trusted proxy: only the entry it appended counts, not what the client put first.
    settings.TRUSTED_PROXY_HOPS = 1
    behind = {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "10.20.3.4, 203.0.113.9"}
    assert _get(client, **behind).status_code == 401
    honest = {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.20.3.4"}
    assert _get(client, **honest).status_code == 200


def test_a_setting_that_is_not_a_network_stops_the_console_with_the_reason():
    assert _metrics_networks("10.0.0.0/8, 192.0.2.7,fd00::/64") == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "fd00::/64",
    ]
    with pytest.raises(ImproperlyConfigured, match="'10.0.0.300/8' is not a network"):
        _metrics_networks("10.0.0.300/8")
    with pytest.raises(ImproperlyConfigured, match="'internal' is not a network"):
        _metrics_networks("10.0.0.0/8,internal")


def test_request_counts_are_labelled_by_view_not_by_path(client, sandbox_source):
    secret = _staff_token()
    for n in range(3):
        client.get(f"/executions/{900000 + n}/")
    samples = scrape(client, secret)
    views = {
        dict(labels).get("view")
        for (name, labels), _ in samples.items()
        if name == "durable_console_http_requests_total"
    }
    assert "browser:detail" in views, views
    assert not any("900000" in v for v in views)


def test_the_sample_dashboard_and_alert_rules_name_only_figures_the_endpoint_gives(
    client, sandbox_source
):
    import json
    import re

    import yaml

    from tests.conftest import REPO

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {_staff_token()}")
    given = set()
    for family in text_string_to_metric_families(response.content.decode()):
        given.add(family.name)
        given.update(f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_count", "_sum"))
    rules = yaml.safe_load((REPO / "deploy/prometheus/durable-console-alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((REPO / "deploy/grafana/durable-console-dashboard.json").read_text())
    exprs += [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    named = {name for expr in exprs for name in re.findall(r"durable_console_[a-z_]+", expr)}
    assert len(named) > 20
    assert named <= given, named - given


def test_status_events_read_from_sqs_are_counted_with_their_age(
    client, events_sandbox, events_source
):
    from executions import events
    from sandbox.client import lambda_client

    sync.poll_source(events_source)  # finds the functions the events are about
    backend = lambda_client(events_sandbox.endpoint_url)
    arn = start(backend, "order-processor", {"orderId": "EV-1"}, _name("evented"))
    wait_for_status(backend, arn)
    drained = 0
    for _ in range(50):  # until the queue is empty and the execution's end was applied
        result = events.consume(events_source, wait_seconds=1)
        assert not result.error, result.error
        drained += result.consumed
        done = Execution.objects.filter(arn=arn, status="SUCCEEDED").exists()
        if done and not result.received:
            break
    assert done and drained >= 2

    samples = scrape(client, _staff_token())
    figures = events.figures(events_source)
    source = events_source.name
    assert value(samples, "status_events_consumed_total", source=source) == figures["consumed"]
    assert figures["consumed"] >= drained
    for outcome, n in figures["counts"].items():
        if outcome not in ("consumed", "reconciled"):
            assert value(samples, "status_events_total", source=source, outcome=outcome) == n
    assert value(samples, "status_events_total", source=source, outcome="inserted") >= 1
    median = value(samples, "status_event_age_seconds", source=source, quantile="0.5")
    assert 0 <= median <= value(samples, "status_event_age_seconds", source=source, quantile="1")
    assert value(samples, "status_events_last_poll_age_seconds", source=source) >= 0
    assert value(samples, "metrics_part_up", part="status_events") == 1


@pytest.mark.django_db(transaction=True)
def test_under_several_worker_processes_a_scrape_adds_up_every_ones_requests(tmp_path):
    """PROMETHEUS_MULTIPROC_DIR: two processes answer requests (as two gunicorn workers
    would); a third one's scrape counts both."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO, database_url

    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "ALLOWED_HOSTS": "testserver",
    }

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    serve = "from django.test import Client\nfor _ in range({n}): Client().get('/healthz')"
    run(serve.format(n=3))
    run(serve.format(n=4))
    text = run("from monitoring import metrics; print(metrics.exposition().decode())")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = ("durable_console_http_requests_total", (("method", "GET"), ("status", "200"),
                                                    ("view", "browser:healthz")))  # fmt: skip
    assert samples.get(key) == 7, {k: v for k, v in samples.items() if "http" in k[0]}


def test_a_multiprocess_directory_that_is_not_there_stops_the_console_with_the_reason(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    missing = tmp_path / "not-made"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(missing)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"PROMETHEUS_MULTIPROC_DIR: {missing} is not a directory" in done.stderr


def test_the_nearest_callback_deadline_is_the_one_the_inbox_shows(client):
    """A recorded AWS history whose callback has a Timeout (the sandbox's runner reports
    none), mirrored through the sync's own fold; its CallbackStarted a minute ago."""
    from executions import deadlines
    from tests.factories import mirror_recorded

    execution = mirror_recorded("deadline-metric", "coffee-order-waiting-timeout", 60)
    callback = Operation.objects.pending_callbacks().get(execution=execution)
    shown = deadlines.for_operations([callback])[(execution.pk, callback.operation_id)]
    assert shown.first is not None

    before = timezone.now()
    samples = scrape(client, _staff_token())
    after = timezone.now()
    source = execution.source.name
    seconds = value(samples, "pending_callback_next_deadline_seconds", source=source)
    assert (
        (shown.first - after).total_seconds() <= seconds <= (shown.first - before).total_seconds()
    )
    assert value(samples, "pending_callbacks", source=source) == 1
