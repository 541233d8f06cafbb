"""Approval policies with callbacks waiting in the live sandbox: who may approve, the
two-person rule (approvals held by the console until enough people approve, exactly one
send when they approve at once), no self-approval, reasons, bulk answers, notifications,
the audit log, and the policies that must not be saved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.db import connection

from actions import approvals, bulk_answers
from actions.models import ApprovalPolicy, ApprovalRequest, Decision, RequestState
from actions.policies import render_instructions
from actions.services import ActionRefused
from executions import sync
from executions.models import AuditEntry, Function, Operation
from sandbox.client import history, start, wait_for_callback, wait_for_status
from tests import factories
from tests.conftest import REPO, database_url

SENDS = ("SendDurableExecutionCallbackSuccess", "SendDurableExecutionCallbackFailure")


def _waiting(source, client, **input_fields) -> Operation:
    tag = uuid.uuid4().hex[:8]
    arn = start(client, "coffee-order", {"orderId": tag, **input_fields}, f"pol-{tag}")
    wait_for_callback(client, arn, "baristaAccepts")
    execution = sync.sync_arn(source, arn)
    return Operation.objects.select_related(
        "execution", "execution__function", "execution__source"
    ).get(execution=execution, type="CALLBACK")


def _policy(source, **fields) -> ApprovalPolicy:
    defaults = {"name": f"policy-{uuid.uuid4().hex[:6]}", "function_pattern": "coffee-order"}
    return ApprovalPolicy.objects.create(source=source, **{**defaults, **fields})


def _operators(*names: str) -> list[User]:
    return [factories.user(name, "operator") for name in names]


def _sends(api_calls) -> int:
    return sum(api_calls.count(op) for op in SENDS)


def _callback_events(client, arn: str) -> list[str]:
    return [e["EventType"] for e in history(client, arn) if e["EventType"].startswith("Callback")]


@pytest.mark.django_db
def test_without_a_policy_an_operator_answers_at_once(sandbox_source, lambda_sandbox, api_calls):
    operation = _waiting(sandbox_source, lambda_sandbox)
    [otto] = _operators("otto")
    result = approvals.answer(otto, operation.execution, operation, Decision.APPROVE)
    assert result.ok and not result.held and _sends(api_calls) == 1


@pytest.mark.django_db
def test_the_two_person_rule_holds_the_first_approval_and_sends_with_the_second(
    sandbox_source, lambda_sandbox, api_calls
):
    _policy(sandbox_source, approvals_required=2, reason_to_approve=True)
    operation = _waiting(sandbox_source, lambda_sandbox)
    alice, bob = _operators("alice", "bob")
    api_calls.clear()

    with pytest.raises(ActionRefused, match="asks for a reason to approve"):
        approvals.answer(alice, operation.execution, operation, Decision.APPROVE)
    first = approvals.answer(
        alice, operation.execution, operation, Decision.APPROVE, reason="ticket 42 checked"
    )
    again = approvals.answer(
        alice, operation.execution, operation, Decision.APPROVE, reason="twice"
    )

    assert first.held and "1 of 2" in first.message and "waiting for one more" in first.message
    assert again.held and "1 of 2" in again.message  # one person is one approver
    assert _sends(api_calls) == 0
    assert "CallbackSucceeded" not in _callback_events(lambda_sandbox, operation.execution.arn)
    progress = approvals.progress(operation.execution, operation)
    assert progress.words == "1 of 2 approvals; waiting for one more"

    sent = approvals.answer(
        bob, operation.execution, operation, Decision.APPROVE, result='{"ok": 1}', reason="fine"
    )

    assert sent.ok and not sent.held and _sends(api_calls) == 1
    assert "CallbackSucceeded" in _callback_events(lambda_sandbox, operation.execution.arn)
    request = ApprovalRequest.objects.get()
    assert request.state == RequestState.SENT and request.outcome == "approved by alice, bob"
    records = [
        json.loads(e.payload) for e in AuditEntry.objects.filter(action="approval").order_by("id")
    ]
    assert [(r["decision"], r["count"], r["sent"]) for r in records] == [
        ("approve", "1 of 2", False),
        ("approve", "1 of 2", False),
        ("approve", "2 of 2", True),
    ]
    assert records[-1]["with"] == ["alice"] and records[-1]["reason"] == "fine"
    assert AuditEntry.objects.filter(action="callback_success", username="bob").count() == 1


@pytest.mark.django_db
def test_a_rejection_is_sent_at_once_unless_the_policy_asks_for_more(
    sandbox_source, lambda_sandbox, api_calls
):
    _policy(sandbox_source, approvals_required=2)
    operation = _waiting(sandbox_source, lambda_sandbox)
    [carol] = _operators("carol")
    api_calls.clear()
    result = approvals.answer(
        carol, operation.execution, operation, Decision.REJECT, error_type="Rejected"
    )
    assert result.ok and not result.held and api_calls.count(SENDS[1]) == 1

    ApprovalPolicy.objects.update(rejections_required=2)
    second = _waiting(sandbox_source, lambda_sandbox)
    api_calls.clear()
    held = approvals.answer(carol, second.execution, second, Decision.REJECT, error_type="Rejected")
    assert held.held and "rejection is held" in held.message and _sends(api_calls) == 0


@pytest.mark.django_db
def test_only_the_people_a_policy_names_may_approve(sandbox_source, lambda_sandbox):
    _policy(sandbox_source, approver_groups="payments-leads", approver_users="dora")
    operation = _waiting(sandbox_source, lambda_sandbox)
    outsider, dora, lead = _operators("outsider", "dora", "lead")
    lead.groups.add(Group.objects.get_or_create(name="payments-leads")[0])
    with pytest.raises(ActionRefused, match="lets only dora, members of payments-leads"):
        approvals.answer(outsider, operation.execution, operation, Decision.APPROVE)
    viewer = factories.user("vic", "viewer")
    with pytest.raises(ActionRefused, match="operator role"):
        approvals.answer(viewer, operation.execution, operation, Decision.APPROVE)
    assert approvals.answer(lead, operation.execution, operation, Decision.APPROVE).ok


@pytest.mark.django_db
def test_whoever_started_the_execution_or_is_named_its_requester_may_not_approve(
    sandbox_source, lambda_sandbox, api_calls
):
    from actions import services

    _policy(sandbox_source, requester_path="$.requestedBy")
    starter, ria, other = _operators("starter", "ria", "other")
    User.objects.filter(pk=ria.pk).update(email="ria@example.com")
    sync.poll_source(sandbox_source)
    function = Function.objects.get(source=sandbox_source, name="coffee-order")
    started = services.start(
        starter, function, f"self-{uuid.uuid4().hex[:6]}", json.dumps({"orderId": "S"})
    )
    wait_for_callback(lambda_sandbox, started.audit.execution_arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, started.audit.execution_arn)
    operation = Operation.objects.get(execution=execution, type="CALLBACK")
    with pytest.raises(ActionRefused, match="You started this execution"):
        approvals.answer(starter, execution, operation, Decision.APPROVE)

    requested = _waiting(sandbox_source, lambda_sandbox, requestedBy="RIA@example.com")
    ria.refresh_from_db()
    with pytest.raises(ActionRefused, match=r"names you as its requester \(\$.requestedBy\)"):
        approvals.answer(ria, requested.execution, requested, Decision.APPROVE)
    assert approvals.answer(other, requested.execution, requested, Decision.APPROVE).ok


@pytest.mark.django_db(transaction=True)
def test_three_approvers_at_the_same_moment_make_exactly_one_send(
    sandbox_source, lambda_sandbox, api_calls
):
    _policy(sandbox_source, approvals_required=2)
    operation = _waiting(sandbox_source, lambda_sandbox)
    people = _operators("ann", "ben", "cal")
    api_calls.clear()
    start_together = threading.Barrier(len(people))
    outcomes: list[str] = []

    def approve(person: User) -> None:
        start_together.wait()
        try:
            result = approvals.answer(person, operation.execution, operation, Decision.APPROVE)
            outcomes.append("held" if result.held else "sent" if result.ok else result.message)
        except ActionRefused as exc:
            outcomes.append(f"refused: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("sent") == 1, outcomes
    assert _sends(api_calls) == 1
    assert _callback_events(lambda_sandbox, operation.execution.arn).count("CallbackSucceeded") == 1


@pytest.mark.django_db(transaction=True)
def test_a_held_approval_survives_a_restart_and_another_process_completes_it(
    sandbox_source, lambda_sandbox
):
    _policy(sandbox_source, approvals_required=2)
    operation = _waiting(sandbox_source, lambda_sandbox)
    first, _ = _operators("fay", "gus")
    assert approvals.answer(first, operation.execution, operation, Decision.APPROVE).held

    # A new process (as after a restart of every process) reads the held approval from
    # the database and sends with the second.
    code = (
        "import django; django.setup();"
        "from django.contrib.auth.models import User;"
        "from actions import approvals; from actions.models import Decision;"
        "from executions.models import Operation;"
        f"op = Operation.objects.get(pk={operation.pk});"
        "gus = User.objects.get(username='gus');"
        "r = approvals.answer(gus, op.execution, op, Decision.APPROVE);"
        "print('held' if r.held else 'sent' if r.ok else r.message)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": database_url(),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "sent", done.stderr[-2000:]
    assert "CallbackSucceeded" in _callback_events(lambda_sandbox, operation.execution.arn)


@pytest.mark.django_db
def test_held_approvals_close_with_the_reason_when_the_execution_ends(
    sandbox_source, lambda_sandbox
):
    _policy(sandbox_source, approvals_required=2)
    operation = _waiting(sandbox_source, lambda_sandbox)
    [hal] = _operators("hal")
    approvals.answer(hal, operation.execution, operation, Decision.APPROVE)
    lambda_sandbox.stop_durable_execution(DurableExecutionArn=operation.execution.arn)
    wait_for_status(lambda_sandbox, operation.execution.arn)
    sync.sync_execution(operation.execution.pk, force=True)

    assert approvals.close_stale() == 1
    request = ApprovalRequest.objects.get()
    assert request.state == RequestState.CLOSED
    assert request.outcome == "the execution ended (stopped)"
    assert approvals.close_stale() == 0


@pytest.mark.django_db
def test_bulk_approvals_follow_the_policy(sandbox_source, lambda_sandbox, api_calls):
    _policy(sandbox_source, approvals_required=2, approver_users="ivy,jon")
    ops = [_waiting(sandbox_source, lambda_sandbox) for _ in range(2)]
    ivy, jon, kim = _operators("ivy", "jon", "kim")
    api_calls.clear()

    held = bulk_answers.create_job(ivy, "approve", [op.pk for op in ops], {"result": "{}"})
    bulk_answers.run_bulk_answer(held.pk)
    refused = bulk_answers.create_job(kim, "approve", [op.pk for op in ops], {"result": "{}"})
    bulk_answers.run_bulk_answer(refused.pk)
    sent = bulk_answers.create_job(jon, "approve", [op.pk for op in ops], {"result": "{}"})
    bulk_answers.run_bulk_answer(sent.pk)

    held.refresh_from_db()
    refused.refresh_from_db()
    sent.refresh_from_db()
    assert [("held" in f) for f in held.failures] == [True, True]
    assert all("lets only ivy, jon" in f["error"] for f in refused.failures)
    assert sent.failures == [] and _sends(api_calls) == 2


@pytest.mark.django_db(transaction=True)
def test_the_notification_goes_to_the_approvers_and_says_how_many_are_needed(
    sandbox_source, lambda_sandbox, settings
):
    from notify import deliver, scan
    from notify.models import Delivery, Rule

    settings.CONSOLE_BASE_URL = "https://console.example.com"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _policy(sandbox_source, approvals_required=2, approver_users="lea,max")
    for name in ("lea", "max"):
        User.objects.filter(pk=factories.user(name, "operator").pk).update(
            email=f"{name}@example.com"
        )
    Rule.objects.create(name="ops", email_to="ops@example.com", function_pattern="coffee-order")
    operation = _waiting(sandbox_source, lambda_sandbox)
    scan.scan()
    for delivery in Delivery.objects.filter(execution=operation.execution):
        deliver.attempt(delivery.pk)

    [message] = [m for m in mail.outbox if operation.execution.name in m.body]
    assert set(message.to) == {"ops@example.com", "lea@example.com", "max@example.com"}
    assert "It needs 2 approvals from different people" in message.body
    assert "Who may approve: lea, max" in message.body


# ---- policies that must not be saved -----------------------------------------------------


@pytest.mark.django_db
def test_policies_that_could_never_work_are_refused_with_the_reason(sandbox_source, client):
    sync.poll_source(sandbox_source)
    factories.signed_in(client, "root", superuser=True)
    _operators("nia")
    form = {
        "name": "payments",
        "enabled": "on",
        "source": sandbox_source.pk,
        "function_pattern": "coffee-order",
        "approvals_required": "1",
        "rejections_required": "1",
    }

    def refused(**changes) -> str:
        response = client.post("/approvals/policies/new", {**form, **changes})
        assert response.status_code == 400, response.status_code
        assert not ApprovalPolicy.objects.filter(name=changes.get("name", "payments")).exists()
        return response.content.decode()

    assert "matches no function the console knows" in refused(function_pattern="no-such-*")
    assert "Instructions may not hold HTML" in refused(instructions="<b>Check</b> the order")
    page = refused(approvals_required="3")
    assert "3 approvals are required, but only 2 people may approve" in page  # nia and root
    assert client.post("/approvals/policies/new", form).status_code == 302
    page = refused(name="twin")
    assert "is as specific as this one and could govern the same callbacks" in page
    assert AuditEntry.objects.filter(action="policy_created").count() == 1


@pytest.mark.django_db
def test_operators_read_the_policies_and_only_admins_change_them(client):
    factories.signed_in(client, "op", "operator")
    assert client.get("/approvals/policies/").status_code == 200
    response = client.get("/approvals/policies/new")
    assert response.status_code == 403
    assert "changed by admins" in response.content.decode()


def test_instructions_are_markdown_without_html_scripts_or_other_links():
    html = str(
        render_instructions(
            "**Check** the refund.\n\n<script>alert(1)</script>\n\n"
            "[runbook](https://wiki.example.com/refunds) [bad](javascript:alert(1)) "
            "![img](https://x.example.com/a.png)"
        )
    )
    assert "<strong>Check</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="https://wiki.example.com/refunds"' in html and 'rel="noopener noreferrer"' in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")
    assert "<img" not in html
