"""Operator actions against the live sandbox: audited, validated, sent once, re-synced."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.core import signing

from actions import bulk, tokens
from actions import services as actions
from executions import sync
from executions.models import AuditEntry, BulkJob, Execution, Function, Operation
from sandbox.client import start, wait_for_callback, wait_for_event, wait_for_status
from tests import factories

pytestmark = pytest.mark.django_db

SENDS = {
    "SendDurableExecutionCallbackSuccess",
    "SendDurableExecutionCallbackFailure",
    "SendDurableExecutionCallbackHeartbeat",
    "StopDurableExecution",
}


@pytest.fixture
def operator(db):
    return factories.user("olivia", "operator")


def _coffee(lambda_sandbox, source) -> tuple[Execution, str]:
    arn = start(lambda_sandbox, "coffee-order", {"orderId": "a"}, f"c-{uuid.uuid4().hex[:8]}")
    callback = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    return factories.mirrored(source, arn), callback


def test_sending_success_is_audited_and_the_execution_is_resynced(
    sandbox_source, lambda_sandbox, operator
):
    execution, callback = _coffee(lambda_sandbox, sandbox_source)
    result = actions.callback_success(operator, execution, callback, '{"accepted": true}')
    assert result.ok, result.message
    entry = AuditEntry.objects.get()
    assert (entry.username, entry.action, entry.outcome) == (
        "olivia",
        "callback_success",
        "SUCCEEDED",
    )
    assert entry.callback_id == callback and entry.execution_arn == execution.arn
    assert json.loads(entry.payload) == {"accepted": True}
    assert entry.source_name == "sandbox" and entry.completed_at >= entry.created_at
    operation = Operation.objects.get(execution=execution, callback_id=callback)
    assert operation.status == "SUCCEEDED"


def test_invalid_json_and_oversized_results_are_refused_without_a_call(
    sandbox_source, lambda_sandbox, operator, api_calls
):
    from actions import forms

    execution, callback = _coffee(lambda_sandbox, sandbox_source)
    operation = Operation.objects.get(execution=execution, callback_id=callback)
    api_calls.clear()

    def refusal(form_class, **data):
        form = form_class(
            {**data, "token": tokens.one_time_token(operator)},
            user=operator, execution=execution, operation=operation,
        )  # fmt: skip
        assert form.submit() is None
        return form.refusal

    assert "not valid JSON" in refusal(forms.CallbackSuccessForm, result="{oops")
    huge = json.dumps({"blob": "x" * (1024 * 1024)})
    assert "at most 1,048,576" in refusal(forms.CallbackSuccessForm, result=huge)
    assert "Error type is required" in refusal(forms.CallbackFailureForm, error_message="no type")
    assert not any(op in SENDS for op, _, _ in api_calls.calls)
    assert AuditEntry.objects.count() == 0


def test_a_callback_that_is_no_longer_pending_is_refused(sandbox_source, lambda_sandbox, operator):
    execution, callback = _coffee(lambda_sandbox, sandbox_source)
    assert actions.callback_failure(operator, execution, callback, "Rejected", "no milk").ok
    wait_for_status(lambda_sandbox, execution.arn)
    with pytest.raises(actions.ActionRefused, match="no longer pending"):
        actions.callback_success(operator, execution, callback, "{}")
    assert AuditEntry.objects.count() == 1


def test_stopping_a_sleeping_execution(sandbox_source, lambda_sandbox, operator):
    arn = start(
        lambda_sandbox,
        "durable-function-example",
        {"waitSeconds": 3600},
        f"s-{uuid.uuid4().hex[:8]}",
    )
    callback = wait_for_callback(lambda_sandbox, arn)
    lambda_sandbox.send_durable_execution_callback_success(CallbackId=callback, Result=b"{}")
    wait_for_event(lambda_sandbox, arn, "WaitStarted")
    execution = factories.mirrored(sandbox_source, arn)
    result = actions.stop(operator, execution, "Runaway", "stopped by a test")
    assert result.ok, result.message
    execution.refresh_from_db()
    assert execution.status == "STOPPED"
    assert AuditEntry.objects.get().action == "stop"
    with pytest.raises(actions.ActionRefused, match="already ended"):
        actions.stop(operator, execution)


def test_pause_on_a_backend_without_it_says_not_supported(sandbox_source, lambda_sandbox, operator):
    execution, _ = _coffee(lambda_sandbox, sandbox_source)
    result = actions.pause(operator, execution)
    assert not result.ok
    assert "not supported by this backend" in result.message
    entry = AuditEntry.objects.get()
    assert entry.outcome == "FAILED" and "not supported" in entry.error


def test_starting_an_execution_mirrors_it(sandbox_source, lambda_sandbox, operator):
    sync.poll_source(sandbox_source)
    function = Function.objects.get(source=sandbox_source, name="order-processor")
    name = f"started-{uuid.uuid4().hex[:8]}"
    result = actions.start(operator, function, name, '{"orderId": "S-9"}')
    assert result.ok, result.message
    assert result.execution is not None and result.execution.name == name
    from actions import forms

    form = forms.StartForm(
        {"function": function.pk, "name": "bad name!", "input": "{}",
         "token": tokens.one_time_token(operator)},
        user=operator,
    )  # fmt: skip
    assert form.submit() is None and "letters, digits" in form.refusal


def test_a_one_time_token_is_accepted_once(operator):
    token = tokens.one_time_token(operator)
    other = factories.user("mallory")
    assert not tokens.consume_token(other, token)
    assert tokens.consume_token(operator, token)
    assert not tokens.consume_token(operator, token)
    # Signed, not stored: a made-up, tampered, another's or stale one is refused.
    assert not tokens.consume_token(operator, "made-up")
    fresh = tokens.one_time_token(operator)
    assert not tokens.consume_token(operator, fresh[:-1] + ("A" if fresh[-1] != "A" else "B"))
    theirs = tokens.one_time_token(other)
    assert not tokens.consume_token(operator, theirs.replace(f"{other.pk}:", f"{operator.pk}:"))

    class Earlier(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - tokens.TOKEN_TTL_SECONDS - 60)

    stale = Earlier(salt="actions.tokens").sign(f"{operator.pk}:stale-nonce")
    assert not tokens.consume_token(operator, stale)
    assert tokens.consume_token(operator, fresh)  # and the untouched one still goes once


def test_bulk_stop_reports_what_failed_and_why(sandbox_source, lambda_sandbox, operator):
    arns = [
        start(lambda_sandbox, "coffee-order", {}, f"b-{uuid.uuid4().hex[:8]}") for _ in range(3)
    ]
    done = start(lambda_sandbox, "order-processor", {"orderId": "D"}, f"d-{uuid.uuid4().hex[:8]}")
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    wait_for_status(lambda_sandbox, done)
    factories.mirrored_all(sandbox_source, [*arns, done])
    ids = list(Execution.objects.filter(arn__in=[*arns, done]).values_list("pk", flat=True))
    job = BulkJob.objects.create(
        user=operator, action="stop", total=len(ids), execution_ids=ids,
        parameters={"error_type": "Bulk", "error_message": "bulk stop"},
    )  # fmt: skip
    bulk.run_bulk_stop(job.pk)
    job.refresh_from_db()
    assert job.finished and job.done == 4
    assert [f["arn"] for f in job.failures] == [done]
    assert "already ended" in job.failures[0]["error"]
    assert set(Execution.objects.filter(arn__in=arns).values_list("status", flat=True)) == {
        "STOPPED"
    }
    assert AuditEntry.objects.filter(action="stop", outcome="SUCCEEDED").count() == 3
