"""Needs attention: each condition (executions/attention.py) finds the executions it is
about, from real mirror rows, says why in words, and leaves the rest alone; thresholds are
settings; a person sees only what their scope lets them see; and a sandbox execution that
really retried shows up with the retry reason once synced."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.models import RoleGrant
from executions import attention, sync
from executions.models import AuditEntry, AuditOutcome, Execution, Function, Operation
from sandbox.client import start, wait_for_callback
from tests import factories
from tests.factories import mirror_recorded, offline_source, running_execution

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_p95():
    """Function ids repeat from test to test (each rolls back); the cached p95 must not."""
    cache.delete_pattern("*attention:p95:*")
    yield
    cache.delete_pattern("*attention:p95:*")


@pytest.fixture
def source():
    return offline_source("attn")


def _reasons(name: str, functions=None) -> dict[str, str]:
    """Execution name (or function name) -> reason, for what the condition finds now."""
    found = attention.BY_NAME[name].find(functions, timezone.now(), 100)
    return {(f.execution or f.function).name: f.reason for f in found}


def _ended(source, function: str, n: int, seconds: float, **fields) -> None:
    """`n` ended executions of `function`, each `seconds` long, started in the last day."""
    row, _ = Function.objects.get_or_create(source=source, name=function)
    now = timezone.now()
    Execution.objects.bulk_create(
        Execution(
            arn=f"arn:aws:lambda:us-east-1:1:function:{function}/durable-execution/old-{i}/x",
            name=f"old-{i}",
            source=source,
            function=row,
            status="SUCCEEDED",
            started_at=now - timedelta(hours=2, minutes=i),
            ended_at=now - timedelta(hours=2, minutes=i) + timedelta(seconds=seconds),
            history_complete=True,
            **fields,
        )
        for i in range(n)
    )


def _step(execution, name: str, attempts: int, status: str = "PENDING", **fields) -> Operation:
    values = {"type": "STEP", "subtype": "Step", **fields}
    return Operation.objects.create(
        execution=execution,
        operation_id=f"op-{uuid.uuid4().hex[:8]}",
        name=name,
        status=status,
        attempt_count=attempts,
        **values,
    )


# ---- retrying --------------------------------------------------------------------------


def test_a_step_on_its_fifth_attempt_is_retrying_again_and_again(source):
    charging = running_execution(source, "charging", "payments")
    _step(charging, "charge", 15)
    calm = running_execution(source, "calm", "payments")
    _step(calm, "charge", 4)

    assert _reasons("retrying") == {
        "charging": "step 'charge' has retried 14 times and waits to retry again"
    }


def test_an_ended_execution_or_a_condition_polling_is_not_retrying(source):
    ended = running_execution(source, "ended", "payments", status="FAILED")
    _step(ended, "charge", 30, status="FAILED")
    polling = running_execution(source, "polling", "payments")
    _step(polling, "until-ready", 40, subtype="WaitForCondition")

    assert _reasons("retrying") == {}


def test_the_step_with_most_attempts_speaks_for_its_execution_and_says_how_it_ended(source):
    execution = running_execution(source, "two-steps", "payments")
    _step(execution, "reserve", 6, status="SUCCEEDED")
    _step(execution, "charge", 9, status="SUCCEEDED")

    assert _reasons("retrying") == {"two-steps": "step 'charge' succeeded after 9 attempts"}
    assert attention.BY_NAME["retrying"].count(None, timezone.now()) == 1


def test_the_retry_threshold_is_a_setting(source, settings):
    execution = running_execution(source, "thrice", "payments")
    _step(execution, "charge", 3, status="STARTED")
    assert _reasons("retrying") == {}

    settings.ATTENTION_RETRY_ATTEMPTS = 3
    assert _reasons("retrying") == {"thrice": "step 'charge' has retried twice (attempt 3 runs)"}


def test_many_executions_of_one_function_waiting_to_retry_are_a_retry_storm(source, settings):
    settings.ATTENTION_RETRY_STORM_EXECUTIONS = 3
    for i in range(3):
        running_execution(source, f"storm-{i}", "payments", waiting_for="retry")
    for i in range(2):
        running_execution(source, f"calm-{i}", "orders", waiting_for="retry")
    running_execution(source, "computing", "orders")

    assert _reasons("retry-storm") == {
        "payments": "3 executions of payments are waiting to retry a step right now"
    }
    storming = attention.BY_NAME["retry-storm"].executions(None, timezone.now())
    assert sorted(storming.values_list("name", flat=True)) == ["storm-0", "storm-1", "storm-2"]


# ---- running long ----------------------------------------------------------------------


def test_running_far_longer_than_the_functions_p95_says_both(source):
    _ended(source, "reports", 40, seconds=240)
    now = timezone.now()
    running_execution(source, "stuck-report", "reports", started_at=now - timedelta(hours=3))
    running_execution(source, "fresh-report", "reports", started_at=now - timedelta(minutes=6))

    assert _reasons("slow") == {
        "stuck-report": "running 3 h, its function's p95 is 4 min",
    }


def test_no_p95_is_judged_from_too_few_ended_executions(source, settings):
    _ended(source, "reports", 5, seconds=10)
    running_execution(source, "long", "reports", started_at=timezone.now() - timedelta(hours=5))
    assert _reasons("slow") == {}

    settings.ATTENTION_DURATION_MIN_SAMPLE = 5
    assert set(_reasons("slow")) == {"long"}


def test_the_p95_is_the_nearest_rank_of_the_newest_ended_executions_and_is_cached(source):
    row, _ = Function.objects.get_or_create(source=source, name="mixed")
    now = timezone.now()
    # 100 ended runs of 1..100 s: the 95th percentile is 95 s, whatever their order.
    Execution.objects.bulk_create(
        Execution(
            arn=f"mixed/{i}",
            name=f"m-{i}",
            source=source,
            function=row,
            status="SUCCEEDED",
            started_at=now - timedelta(minutes=200 - i),
            ended_at=now - timedelta(minutes=200 - i) + timedelta(seconds=(i * 37) % 100 + 1),
        )
        for i in range(100)
    )
    # Older than the window: not counted.
    Execution.objects.create(
        arn="mixed/ancient",
        name="ancient",
        source=source,
        function=row,
        status="SUCCEEDED",
        started_at=now - timedelta(days=30),
        ended_at=now - timedelta(days=29),
    )

    assert attention.duration_p95([row.pk], now) == {row.pk: (100, 95.0)}
    with CaptureQueriesContext(connection) as queries:
        assert attention.duration_p95([row.pk], now) == {row.pk: (100, 95.0)}
    assert len(queries) == 0  # from the cache


def test_running_near_its_execution_timeout_says_how_soon(source):
    function = Function.objects.create(
        source=source, name="orders", durable_config={"ExecutionTimeout": 3600}
    )
    Function.objects.create(source=source, name="no-config")
    now = timezone.now()
    running_execution(source, "late", "orders", started_at=now - timedelta(minutes=54))
    running_execution(source, "early", "orders", started_at=now - timedelta(minutes=10))
    running_execution(source, "unknown", "no-config", started_at=now - timedelta(days=3))

    reasons = _reasons("near-timeout")
    assert list(reasons) == ["late"]
    assert reasons["late"] == "times out in 5 min (ExecutionTimeout 1 h)"
    assert function.executions.count() == 2


@pytest.mark.parametrize("name", ["near-timeout", "slow", "operations", "duration"])
def test_a_condition_told_to_leave_executions_out_finds_none_of_them(source, name):
    """What a guardrail is done with is left out in the condition's own queries (the
    per-function ranges are written out on PostgreSQL: the same there)."""
    now = timezone.now()
    Function.objects.create(source=source, name="orders", durable_config={"ExecutionTimeout": 3600})
    _ended(source, "orders", 30, seconds=60)
    for n in range(3):
        running_execution(
            source, f"late-{n}", "orders", started_at=now - timedelta(minutes=55 + n),
            operation_count=2900,
        )  # fmt: skip
    condition = attention.RULE_BY_NAME[name].with_threshold(600 if name == "duration" else None)
    assert {f.execution.name for f in condition.find(None, now, 10)} == {
        "late-0", "late-1", "late-2"
    }  # fmt: skip

    done = Execution.objects.filter(name__in=["late-0", "late-2"]).values("pk")
    assert [f.execution.name for f in condition.leaving_out(done).find(None, now, 10)] == ["late-1"]
    function = Function.objects.get(name="orders").pk
    assert [f.execution.name for f in condition.leaving_out(done).find([function], now, 1)] == [
        "late-1"
    ]


# ---- limits and stuck ------------------------------------------------------------------


def test_near_the_limit_of_three_thousand_operations_says_how_far(source, settings):
    running_execution(source, "huge", "ledger", operation_count=2870)
    running_execution(source, "big", "ledger", operation_count=2000)
    running_execution(source, "done", "ledger", operation_count=2990, status="SUCCEEDED")

    assert _reasons("operations") == {"huge": "2,870 of 3,000 operations (130 left)"}
    settings.ATTENTION_OPERATIONS_PERCENT = 50
    assert set(_reasons("operations")) == {"huge", "big"}


def _audit(execution, action: str, minutes_ago: float, user: str = "ops-anna") -> AuditEntry:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return AuditEntry.objects.create(
        username=user,
        action=action,
        execution_arn=execution.arn,
        outcome=AuditOutcome.SUCCEEDED,
        created_at=at,
        completed_at=at,
    )


def test_stuck_in_pausing_or_deleting_counts_from_the_action_or_the_status_event(source):
    pausing = running_execution(source, "pausing", "orders", status="PAUSING")
    _audit(pausing, "pause", 25)
    deleting = running_execution(
        source,
        "deleting",
        "orders",
        status="DELETING",
        status_event_at=timezone.now() - timedelta(hours=1),
    )
    just = running_execution(source, "just-paused", "orders", status="PAUSING")
    _audit(just, "pause", 2)
    running_execution(source, "unknown-since", "orders", status="PAUSING")

    reasons = _reasons("stuck")
    assert reasons == {
        "pausing": "stuck in PAUSING for 25 min (pause sent by ops-anna)",
        "deleting": "stuck in DELETING for 1 h",
    }
    assert deleting.pk in set(
        attention.BY_NAME["stuck"].executions(None, timezone.now()).values_list("pk", flat=True)
    )


def test_a_stop_that_has_not_taken_is_found_from_the_audit_log(source):
    still = running_execution(source, "still-running", "orders")
    _audit(still, "stop", 12)
    stopped = running_execution(source, "stopped", "orders", status="STOPPED")
    _audit(stopped, "stop", 12)
    moment = running_execution(source, "a-moment-ago", "orders")
    _audit(moment, "stop", 0.5)
    refused = running_execution(source, "refused", "orders")
    AuditEntry.objects.filter(pk=_audit(refused, "stop", 30).pk).update(outcome=AuditOutcome.FAILED)

    assert _reasons("stop-not-taken") == {
        "still-running": "stop sent 12 min ago by ops-anna, and it is still running"
    }


def test_a_callback_past_its_deadline_says_by_how_much():
    late = mirror_recorded("late-coffee", "coffee-order-waiting-timeout", 3600)
    mirror_recorded("fresh-coffee", "coffee-order-waiting-timeout", 30)

    reasons = _reasons("callback-overdue")
    assert list(reasons) == ["late-coffee"]
    callback = Operation.objects.pending_callbacks().get(execution=late)
    assert re.fullmatch(
        rf"callback '{re.escape(callback.label)}' past its deadline by 5\d min",
        reasons["late-coffee"],
    )


def test_a_map_that_keeps_starting_items_is_a_growing_fan_out(source, settings):
    settings.ATTENTION_FANOUT_ITEMS = 50
    now = timezone.now()
    for name, items, started in [
        ("growing", 60, now - timedelta(minutes=1)),
        ("small", 10, now - timedelta(minutes=1)),
        ("settled", 80, now - timedelta(hours=2)),
    ]:
        execution = running_execution(source, name, "ledger")
        Operation.objects.create(
            execution=execution,
            operation_id="map",
            name="items",
            type="CONTEXT",
            subtype="Map",
            status="STARTED",
            started_at=now - timedelta(hours=3),
        )
        Operation.objects.bulk_create(
            Operation(
                execution=execution,
                operation_id=f"it-{i}",
                parent_operation_id="map",
                type="CONTEXT",
                subtype="MapIteration",
                status="STARTED",
                started_at=started,
                first_event_id=i + 2,
            )
            for i in range(items)
        )

    assert _reasons("fan-out") == {
        "growing": "map 'items' still growing: 60 items, 60 started in the last 10 min"
    }


# ---- thresholds, scope, the page -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "out of range; give 2 to"), ("many", "is not a number"), ("1.5", "not a number")],
)
def test_a_threshold_out_of_range_stops_the_console_with_the_reason(monkeypatch, value, message):
    from console.settings import _threshold

    monkeypatch.setenv("ATTENTION_RETRY_ATTEMPTS", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        _threshold("ATTENTION_RETRY_ATTEMPTS", "5", 2, 1_000_000)


def test_the_defaults_are_sensible():
    from django.conf import settings

    assert settings.ATTENTION_RETRY_ATTEMPTS == 5
    assert settings.ATTENTION_OPERATIONS_PERCENT == 80
    assert settings.ATTENTION_TIMEOUT_PERCENT == 90
    assert settings.ATTENTION_SLOW_FACTOR == 2.0


def _rows(html: str) -> list[tuple[str, str]]:
    """(execution name, reason) of each row of the needs-attention page."""
    return re.findall(
        r'<a class="fw-medium text-decoration-none" href="/executions/\d+/">([^<]+)</a>.*?'
        r'data-testid="attention-reason">([^<]+)</td>',
        html,
        re.S,
    )


def test_someone_scoped_to_one_function_sees_only_its_executions(client, source):
    for function in ("payments", "orders"):
        execution = running_execution(source, f"{function}-run", function, operation_count=2900)
        _step(execution, "charge", 12)
    person = factories.user("pat")
    RoleGrant.objects.create(user=person, role="operator", function_pattern="payments")
    client.force_login(person)

    page = client.get("/attention/").content.decode()
    assert {name for name, _ in _rows(page)} == {"payments-run"}
    home = client.get("/").content.decode()
    assert 'data-testid="attention-total">2<' in home  # one retrying, one near the limit
    assert "orders-run" not in client.get("/attention/?reason=retrying").content.decode()

    client.force_login(factories.user("root", superuser=True))
    everything = client.get("/attention/?reason=retrying").content.decode()
    assert {name for name, _ in _rows(everything)} == {"payments-run", "orders-run"}


def test_the_page_offers_stop_and_pause_through_the_actions_forms(client, source):
    """A row's Stop… and Pause… load the actions' forms when opened (the page renders none:
    at a hundred rows that was most of its weight); the loaded form posts to the action,
    with a one-time token, its message prefilled with the reason, back to this page."""
    execution = running_execution(source, "runaway", "payments", operation_count=2950)
    source.capabilities = {"PauseDurableExecution": True}
    source.save()
    factories.signed_in(client, "olga", "operator")

    page = client.get("/attention/?reason=operations").content.decode()
    assert "<form" not in page.split('data-testid="attention-section"', 1)[1]
    query = (
        "reason=2%2C950+of+3%2C000+operations+%2850+left%29"
        "&amp;next=%2Fattention%2F%3Freason%3Doperations"
    )
    stop_url = f"/executions/{execution.pk}/stop/form?{query}"
    assert f'hx-get="{stop_url}"' in page
    assert f'hx-get="/executions/{execution.pk}/pause/form?{query}"' in page
    assert "2,950 of 3,000 operations (50 left)" in page

    htmx = {"HTTP_HX_REQUEST": "true"}
    stop = client.get(stop_url.replace("&amp;", "&"), **htmx).content.decode()
    assert f'action="/executions/{execution.pk}/stop"' in stop
    assert 'name="next" value="/attention/?reason=operations"' in stop
    assert 'value="Stopped from Durable Console: 2,950 of 3,000 operations (50 left)"' in stop
    token = re.search(r'name="token" value="([^"]+)"', stop).group(1)
    pause = client.get(f"/executions/{execution.pk}/pause/form?reason=slow", **htmx)
    assert f'action="/executions/{execution.pk}/pause"' in pause.content.decode()
    assert token not in pause.content.decode()  # each form its own token
    # Opened without htmx (a link followed, JavaScript off): the execution's page, which
    # has both actions.
    assert client.get(f"/executions/{execution.pk}/stop/form").url == f"/executions/{execution.pk}/"

    # A viewer is shown no button, and asking for the form anyway is refused: no token.
    factories.signed_in(client, "vic", "viewer")
    read_only = client.get("/attention/?reason=operations").content.decode()
    assert "2,950 of 3,000 operations" in read_only
    assert "/stop" not in read_only and "/pause" not in read_only
    assert f'href="/executions/{execution.pk}/"' in read_only
    refused = client.get(f"/executions/{execution.pk}/stop/form", **htmx)
    assert refused.status_code == 403 and b'name="token"' not in refused.content
    # Someone who may not see the execution is told nothing of it.
    pat = factories.user("pat")
    RoleGrant.objects.create(user=pat, role="operator", function_pattern="orders")
    client.force_login(pat)
    assert client.get(f"/executions/{execution.pk}/stop/form", **htmx).status_code == 404


def test_a_form_opened_after_the_execution_changed_says_what_it_is_now(client, source):
    """The page was loaded while it ran; by the time Stop… or Pause… is opened it has
    ended, or is pausing: the form says so instead of offering what cannot be sent."""
    execution = running_execution(source, "runaway", "payments", operation_count=2950)
    factories.signed_in(client, "olga", "operator")
    htmx = {"HTTP_HX_REQUEST": "true"}

    Execution.objects.filter(pk=execution.pk).update(status="PAUSING")
    pause = client.get(f"/executions/{execution.pk}/pause/form", **htmx).content.decode()
    assert "It is pausing now, not running: only a running execution can be paused." in pause
    assert "</a> to see where it is." in pause
    assert "<form" not in pause
    assert "<form" in client.get(f"/executions/{execution.pk}/stop/form", **htmx).content.decode()

    Execution.objects.filter(pk=execution.pk).update(status="SUCCEEDED")
    stop = client.get(f"/executions/{execution.pk}/stop/form", **htmx).content.decode()
    assert "It has ended since this page was loaded: there is nothing to stop." in stop
    assert "</a> to see how it ended." in stop
    assert "<form" not in stop and 'name="token"' not in stop


def test_an_unknown_reason_is_refused_with_the_reasons_there_are(client):
    factories.signed_in(client, "una", "viewer")
    answer = client.get("/attention/?reason=bored")
    assert answer.status_code == 400
    assert "“reason” must be one of retrying, retry-storm" in answer.content.decode()


def test_a_sandbox_step_that_retried_shows_up_with_the_retry_reason_after_sync(
    client, sandbox_source, lambda_sandbox, settings
):
    # fraud-detection's scoring step fails once and succeeds on its retry, then waits for a
    # person: a running execution whose step needed two attempts.
    settings.ATTENTION_RETRY_ATTEMPTS = 2
    arn = start(lambda_sandbox, "fraud-detection", {"amount": 4200}, f"attn-{uuid.uuid4().hex[:8]}")
    wait_for_callback(lambda_sandbox, arn, "humanVerification")
    execution = sync.sync_arn(sandbox_source, arn)
    factories.signed_in(client, "sam", "operator")

    page = client.get("/attention/?reason=retrying").content.decode()
    assert (execution.name, "Step &#x27;scoreRisk&#x27; succeeded after 2 attempts") in _rows(page)


def test_counts_stop_at_the_cap_and_say_so(client, source, monkeypatch):
    monkeypatch.setattr(attention, "COUNT_CAP", 2)
    for i in range(4):
        running_execution(source, f"huge-{i}", "ledger", operation_count=2900 + i)
    factories.signed_in(client, "cap", "viewer")

    assert attention.BY_NAME["operations"].count(None, timezone.now()) == 3
    page = client.get("/attention/").content.decode()
    assert 'data-testid="attention-count">2+<' in page
    assert len(_rows(page)) == 4  # the rows themselves are not capped
    assert 'data-testid="attention-total">2+<' in client.get("/").content.decode()


def test_a_retry_storm_row_names_the_function_and_opens_its_running_executions(
    client, source, settings
):
    settings.ATTENTION_RETRY_STORM_EXECUTIONS = 2
    for i in range(2):
        running_execution(source, f"storm-{i}", "payments", waiting_for="retry")
    function = Function.objects.get(name="payments")
    factories.signed_in(client, "rita", "operator")

    page = client.get("/attention/?reason=retry-storm").content.decode()
    assert f'data-function="{function.pk}"' in page
    assert "2 executions of payments are waiting to retry a step right now" in page
    assert f'href="/executions/?function={function.pk}&amp;status=RUNNING"' in page
