"""Guardrails against the real sandbox: a step that really retries forever (payment-retrier)
found by a rule in a dry run, then stopped once the rule is switched on, as the rule in the
audit log; the circuit breaker; executions waiting for a person; and the form's refusals."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from executions import attention, sync
from executions.models import AuditEntry, Execution, Operation
from guardrails import engine
from guardrails.models import Firing, Guardrail, Mode, Outcome
from notify.models import Delivery, Event
from notify.models import Rule as NotifyRule
from sandbox.client import start, wait_for, wait_for_callback
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client):
    client.force_login(factories.user("ada", superuser=True))
    return client


def _runaway(source, lambda_sandbox, attempts: int = 3) -> Execution:
    """A payment-retrier execution, mirrored once its charge step has made `attempts`."""
    name = f"runaway-{uuid.uuid4().hex[:8]}"
    arn = start(lambda_sandbox, "payment-retrier", {"retryDelaySeconds": 1}, name)

    def retried() -> Execution | None:
        execution = sync.sync_arn(source, arn)
        op = Operation.objects.filter(execution=execution, name="chargeCard").first()
        return execution if op and op.attempt_count >= attempts else None

    return wait_for(retried, 60, interval=0.5, what=f"{name} on attempt {attempts}")


def _form(source, **changes) -> dict:
    form = {
        "name": f"runaways-{uuid.uuid4().hex[:6]}",
        "source": source.pk,
        "function_pattern": "payment-*",
        "condition": "retrying",
        "threshold": "3",
        "action": "stop",
        "notify_rule": "",
        "max_per_hour": "10",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def _sandbox_status(lambda_sandbox, arn: str) -> str:
    return lambda_sandbox.get_durable_execution(DurableExecutionArn=arn)["Status"]


def test_a_rule_in_a_dry_run_records_what_it_would_stop_then_switched_on_stops_it_once(
    admin, sandbox_source, lambda_sandbox
):
    runaway = _runaway(sandbox_source, lambda_sandbox)
    response = admin.post("/guardrails/new", _form(sandbox_source, name="runaway payments"))
    rule = Guardrail.objects.get(name="runaway payments")
    assert response.status_code == 302 and response.url == f"/guardrails/{rule.pk}/"
    assert rule.mode == Mode.DRY_RUN and rule.created_by == "ada"

    # The dry run: what it would do now and over the last days; it records, does nothing.
    page = admin.get(f"/guardrails/{rule.pk}/").content.decode()
    assert runaway.name in page
    assert "switched on, it would stop it" in page
    assert re.search(r"1 execution started in the last 7 days matched at some moment", page)
    assert engine.run_rule(rule) == {Outcome.WOULD_ACT: 1}
    firing = Firing.objects.get(guardrail=rule)
    assert firing.dry_run and firing.execution == runaway
    assert firing.reason.startswith("step 'chargeCard' has retried ")
    assert engine.run_rule(rule) == {}  # recorded once
    assert _sandbox_status(lambda_sandbox, runaway.arn) == "RUNNING"
    assert not AuditEntry.objects.filter(action="stop").exists()

    admin.post(f"/guardrails/{rule.pk}/mode", {"mode": "on"})
    rule.refresh_from_db()
    assert rule.mode == Mode.ON and rule.switched_on_at is not None
    assert engine.run_rule(rule) == {Outcome.ACTED: 1}
    wait_for(lambda: _sandbox_status(lambda_sandbox, runaway.arn) == "STOPPED", 30)
    stop = AuditEntry.objects.get(action="stop", execution_arn=runaway.arn)
    assert stop.username == "guardrail:runaway payments" and stop.user is None
    assert stop.reason.startswith("guardrail runaway payments: step 'chargeCard' has retried")
    assert '"ErrorType": "GuardrailStopped"' in stop.payload
    live = Firing.objects.get(guardrail=rule, dry_run=False)
    assert live.outcome == Outcome.ACTED and live.audit == stop
    # Once: the mirror shows it stopped, and a second pass finds nothing to do.
    assert engine.run_rule(rule) == {}
    assert AuditEntry.objects.filter(action="stop").count() == 1
    audit = admin.get("/audit/").content.decode()
    assert "guardrail:runaway payments" in audit and "Switched guardrail" in audit
    history = admin.get(f"/guardrails/{rule.pk}/").content.decode()
    assert 'data-outcome="acted"' in history and 'data-outcome="would_act"' in history


def test_the_circuit_breaker_holds_back_past_its_limit_and_says_so_once(
    admin, sandbox_source, lambda_sandbox
):
    oncall = NotifyRule.objects.create(name="on-call", email_to="oncall@example.com")
    first, second = (_runaway(sandbox_source, lambda_sandbox) for _ in range(2))
    admin.post(
        "/guardrails/new",
        _form(sandbox_source, name="capped", max_per_hour="1", notify_rule=oncall.pk),
    )
    rule = Guardrail.objects.get(name="capped")
    Guardrail.objects.filter(pk=rule.pk).update(mode=Mode.ON)
    rule.refresh_from_db()

    assert engine.run_rule(rule) == {Outcome.ACTED: 1, Outcome.BREAKER: 1}
    held = Firing.objects.get(guardrail=rule, outcome=Outcome.BREAKER).execution
    assert held in (first, second)
    assert _sandbox_status(lambda_sandbox, held.arn) == "RUNNING"
    tripped = AuditEntry.objects.get(action="guardrail_tripped")
    assert "limit of 1 automatic stops in an hour; 1 more held back" in tripped.reason
    message = Delivery.objects.get(event=Event.GUARD, subject_key__startswith="guardrail-tripped")
    assert message.rule == oncall and message.channel == "email"
    # The stop it made was told too, once.
    stopped = Delivery.objects.get(event=Event.GUARD, title__startswith="Guardrail capped stopped")
    assert stopped.execution != held and stopped.execution in (first, second)
    # Still held on the next pass, and said once an hour, not once a pass.
    assert engine.run_rule(rule) == {Outcome.BREAKER: 1}
    assert AuditEntry.objects.filter(action="guardrail_tripped").count() == 1
    page = admin.get(f"/guardrails/{rule.pk}/").content.decode()
    assert "1 of 1 automatic stops in the last hour" in page and "Tripped" in page

    # An hour later the breaker has room: the held execution is stopped.
    later = timezone.now() + timedelta(hours=1, minutes=1)
    assert engine.run_rule(rule, later) == {Outcome.ACTED: 1}
    wait_for(lambda: _sandbox_status(lambda_sandbox, held.arn) == "STOPPED", 30)


def test_an_execution_waiting_for_a_person_is_left_alone_unless_the_rule_says_so(
    admin, sandbox_source, lambda_sandbox
):
    arns = [
        start(lambda_sandbox, "coffee-order", {}, f"slow-coffee-{uuid.uuid4().hex[:6]}")
        for _ in range(2)
    ]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    executions = [sync.sync_arn(sandbox_source, arn) for arn in arns]
    # Both have run for ten minutes, as far as the mirror says.
    Execution.objects.filter(pk__in=[e.pk for e in executions]).update(
        started_at=timezone.now() - timedelta(minutes=10)
    )
    admin.post(
        "/guardrails/new",
        _form(
            sandbox_source,
            name="ten minutes",
            function_pattern="coffee-order",
            condition="duration",
            threshold="300",
        ),
    )
    rule = Guardrail.objects.get(name="ten minutes")
    page = admin.get(f"/guardrails/{rule.pk}/").content.decode()
    # Only these two run in the mirror: the rule matches every one, and says so.
    assert Execution.objects.filter(function__name="coffee-order", status="RUNNING").count() == 2
    assert "It matches every one of the 2 running executions it watches" in page
    Guardrail.objects.filter(pk=rule.pk).update(mode=Mode.ON)
    rule.refresh_from_db()

    assert engine.run_rule(rule) == {Outcome.WAITING_FOR_PEOPLE: 2}
    assert all(_sandbox_status(lambda_sandbox, arn) == "RUNNING" for arn in arns)
    assert not AuditEntry.objects.filter(action="stop").exists()

    admin.post(
        f"/guardrails/{rule.pk}/edit",
        _form(
            sandbox_source,
            name="ten minutes",
            function_pattern="coffee-order",
            condition="duration",
            threshold="300",
            act_while_waiting_for_people="on",
        ),
    )
    rule.refresh_from_db()
    assert rule.act_while_waiting_for_people
    assert engine.run_rule(rule) == {Outcome.ACTED: 2}
    for arn in arns:
        wait_for(lambda a=arn: _sandbox_status(lambda_sandbox, a) == "STOPPED", 30)
    changed = AuditEntry.objects.get(action="guardrail_changed")
    assert "act_while_waiting_for_people" in changed.payload


def test_a_rule_that_notifies_sends_one_message_per_execution(
    admin, sandbox_source, lambda_sandbox
):
    oncall = NotifyRule.objects.create(name="payments team", email_to="payments@example.com")
    runaway = _runaway(sandbox_source, lambda_sandbox)
    admin.post(
        "/guardrails/new",
        _form(sandbox_source, name="tell payments", action="notify", notify_rule=oncall.pk),
    )
    rule = Guardrail.objects.get(name="tell payments")
    Guardrail.objects.filter(pk=rule.pk).update(mode=Mode.ON)
    rule.refresh_from_db()
    assert engine.run_rule(rule) == {Outcome.NOTIFIED: 1}
    assert engine.run_rule(rule) == {}
    message = Delivery.objects.get(event=Event.GUARD, execution=runaway)
    assert message.title.startswith(f"Guardrail tell payments: {runaway.name}: step 'chargeCard'")
    assert message.link.endswith(f"/executions/{runaway.pk}/")
    assert _sandbox_status(lambda_sandbox, runaway.arn) == "RUNNING"
    lambda_sandbox.stop_durable_execution(DurableExecutionArn=runaway.arn)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"threshold": "1"}, "threshold", "under 2 would match every execution"),
        (
            {"condition": "operations", "threshold": "5000"},
            "threshold",
            "Over 3,000 can never be true",
        ),
        ({"condition": "duration", "threshold": "10"}, "threshold", "Under a minute"),
        ({"condition": "duration", "threshold": ""}, "threshold", "Give the running for"),
        ({"condition": "stuck", "threshold": "5"}, "threshold", "has no threshold of its own"),
        ({"threshold": "١٢"}, "threshold", "The threshold is a number"),
        ({"threshold": "nan"}, "threshold", "The threshold is a number"),
        ({"threshold": "2.5"}, "threshold", "is a whole number"),
        ({"condition": "retry-storm", "threshold": ""}, "action", "can only notify"),
        ({"action": "notify"}, "notify_rule", "choose whose channels carry the message"),
        ({"function_pattern": "no-such-fn-*"}, "function_pattern", "the rule could never find"),
        ({"max_per_hour": "0"}, "max_per_hour", ""),
        ({"condition": "bogus"}, "condition", "Choose one of the conditions listed"),
    ],
)
def test_a_rule_that_could_never_be_true_or_would_match_everything_is_refused_with_the_reason(
    admin, sandbox_source, changes, field, reason
):
    response = admin.post("/guardrails/new", _form(sandbox_source, **changes))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert reason in " ".join(errors[field])
    assert not Guardrail.objects.exists()


def test_only_admins_see_or_change_guardrails(client, sandbox_source):
    client.force_login(factories.user("otto", "operator"))
    for path in ("/guardrails/", "/guardrails/new"):
        response = client.get(path)
        assert response.status_code == 403
        assert "for admins" in response.content.decode()
    assert client.post("/guardrails/new", _form(sandbox_source)).status_code == 403
    assert not Guardrail.objects.exists()


def test_a_rule_with_more_matches_than_a_pass_takes_works_through_all_of_them(
    admin, sandbox_source, lambda_sandbox, monkeypatch
):
    """Each pass reads only matches the rule has not dealt with: with a condition that may
    read no more than two candidates, the third is still reached (a rule that reread what
    it had recorded never got past the first ones). A row of a pruned execution (no
    execution any more) leaves the others found."""
    monkeypatch.setattr(engine, "PER_RUN", 2)
    monkeypatch.setattr(attention, "SCAN_LIMIT", 2)
    arns = [
        start(lambda_sandbox, "coffee-order", {}, f"many-{uuid.uuid4().hex[:6]}") for _ in range(3)
    ]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    executions = [sync.sync_arn(sandbox_source, arn) for arn in arns]
    Execution.objects.filter(pk__in=[e.pk for e in executions]).update(
        started_at=timezone.now() - timedelta(minutes=10)
    )
    admin.post(
        "/guardrails/new",
        _form(
            sandbox_source,
            name="many",
            function_pattern="coffee-order",
            condition="duration",
            threshold="300",
        ),
    )
    rule = Guardrail.objects.get(name="many")
    Firing.objects.create(
        guardrail=rule, guardrail_name=rule.name, dry_run=True, subject_key="execution:0",
        execution=None, action=rule.action, outcome=Outcome.WOULD_ACT, reason="pruned since",
    )  # fmt: skip
    assert engine.run_rule(rule) == {Outcome.WOULD_ACT: 2}
    assert engine.run_rule(rule) == {Outcome.WOULD_ACT: 1}
    assert engine.run_rule(rule) == {}
    recorded = set(
        Firing.objects.filter(guardrail=rule, execution__isnull=False).values_list(
            "execution_id", flat=True
        )
    )
    assert recorded == {e.pk for e in executions}
    for arn in arns:
        lambda_sandbox.stop_durable_execution(DurableExecutionArn=arn)


def test_a_retry_storm_rule_records_its_function_once(admin):
    """A storm's subject is its function, which no condition query leaves out: the engine
    keeps it from being recorded again, pass after pass."""
    source = factories.offline_source("storms")
    for n in range(3):
        factories.running_execution(source, f"storm-{n}", "payment-api", waiting_for="retry")
    oncall = NotifyRule.objects.create(name="payments team", email_to="payments@example.com")
    response = admin.post(
        "/guardrails/new",
        _form(
            source,
            name="storms",
            condition="retry-storm",
            threshold="3",
            action="notify",
            notify_rule=oncall.pk,
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Guardrail.objects.get(name="storms")
    assert engine.run_rule(rule) == {Outcome.WOULD_ACT: 1}
    assert engine.run_rule(rule) == {}
    function = Execution.objects.get(name="storm-0").function
    assert Firing.objects.get(guardrail=rule).subject_key == f"function:{function.pk}"
