"""The approvals inbox's deadlines and bulk answers, through the Django test client,
against the live sandbox; and the 1 MB limits of callback answers."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from access import api_tokens
from actions import bulk_answers, services, validation
from executions import sync
from executions.models import AuditEntry, BulkJob, Operation
from sandbox.client import history, start, wait_for_callback
from tests import factories
from tests.factories import mirror_recorded

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = factories.user("otto", "operator")
    client.force_login(user)
    return user


def _waiting(source, client, tag: str) -> Operation:
    arn = start(client, "coffee-order", {"orderId": tag}, f"{tag}-{uuid.uuid4().hex[:8]}")
    wait_for_callback(client, arn, "baristaAccepts")
    execution = sync.sync_arn(source, arn)
    return Operation.objects.pending_callbacks().get(execution=execution)


def _rows(html: str) -> list[str]:
    return re.findall(r'data-testid="approval-row" data-execution="([^"]+)"', html)


def test_the_inbox_sorts_by_the_nearest_deadline_and_counts_it_down(
    client, operator, sandbox_source, lambda_sandbox
):
    no_deadline = _waiting(sandbox_source, lambda_sandbox, "nd")
    mirror_recorded("later-deadline", "coffee-order-waiting-timeout", 30)
    soon = mirror_recorded("sooner-deadline", "coffee-order-waiting-timeout", 240)

    html = client.get("/approvals/").content.decode()

    assert _rows(html) == ["sooner-deadline", "later-deadline", no_deadline.execution.name]
    started = soon.events.get(event_type="CallbackStarted").timestamp
    countdowns = re.findall(r'data-until="([^"]+)" data-testid="countdown">([^<]+)<', html)
    assert len(countdowns) == 2
    # Timeout (300 s) after the CallbackStarted event: one minute left of five.
    assert datetime.fromisoformat(countdowns[0][0]) == started + timedelta(seconds=300)
    assert countdowns[0][1] in {"59 s left", "1 min left"}
    assert "none reported" in html  # the sandbox's callback has no deadline


def test_bulk_approve_confirms_the_count_then_answers_each_and_audits_each(
    client, operator, sandbox_source, lambda_sandbox
):
    ops = [_waiting(sandbox_source, lambda_sandbox, f"b{i}") for i in range(3)]
    other = _waiting(sandbox_source, lambda_sandbox, "left-alone")
    ids = [op.pk for op in ops]

    confirm = client.post("/approvals/bulk", {"answer": "approve", "ops": ids})
    page = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Approve 3 callbacks?" in page
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)

    with factories.tasks_run_here():
        response = client.post(
            "/approvals/bulk",
            {"answer": "approve", "ops": ids, "confirm": "yes", "token": token,
             "result": '{"approved": true, "by": "bulk"}'},
        )  # fmt: skip
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response.url == f"/approvals/jobs/{job.pk}/"
    job.refresh_from_db()
    assert (job.done, job.failures, job.finished) == (3, [], True)

    results = client.get(response.url).content.decode()
    assert results.count('data-outcome="answered"') == 3
    entries = AuditEntry.objects.filter(action="callback_success")
    assert sorted(e.callback_id for e in entries) == sorted(op.callback_id for op in ops)
    assert all(json.loads(e.payload) == {"approved": True, "by": "bulk"} for e in entries)
    for op in ops:
        succeeded = [
            e for e in history(lambda_sandbox, op.execution.arn)
            if e["EventType"] == "CallbackSucceeded" and e["Id"] == op.operation_id
        ]  # fmt: skip
        assert len(succeeded) == 1
    other.refresh_from_db()
    assert other.is_pending_callback


def test_bulk_answers_refuse_what_cannot_be_sent_and_send_nothing(
    client, operator, sandbox_source, lambda_sandbox
):
    op = _waiting(sandbox_source, lambda_sandbox, "r")
    nothing = client.post("/approvals/bulk", {"answer": "approve", "ops": [999999]})
    assert nothing.status_code == 302
    assert "No pending callbacks were selected" in client.get("/approvals/").content.decode()

    page = client.post("/approvals/bulk", {"answer": "reject", "ops": [op.pk]}).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    refused = client.post(
        "/approvals/bulk",
        {"answer": "reject", "ops": [op.pk], "confirm": "yes", "token": token,
         "error_type": "", "error_message": "no"},
    )  # fmt: skip
    assert refused.status_code == 400
    assert "Nothing was sent: Error type is required." in refused.content.decode()
    assert BulkJob.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_a_viewer_cannot_answer_in_bulk(client, sandbox_source, lambda_sandbox):
    op = _waiting(sandbox_source, lambda_sandbox, "v")
    factories.signed_in(client, "vic")
    response = client.post(
        "/approvals/bulk", {"answer": "approve", "ops": [op.pk], "confirm": "yes"}
    )
    assert response.status_code == 403
    assert BulkJob.objects.count() == 0


def test_a_bulk_job_records_a_callback_answered_meanwhile_as_failed(
    operator, sandbox_source, lambda_sandbox
):
    ops = [_waiting(sandbox_source, lambda_sandbox, f"m{i}") for i in range(2)]
    job = bulk_answers.create_job(operator, "approve", [op.pk for op in ops], {"result": "{}"})
    assert services.callback_success(operator, ops[0].execution, ops[0].callback_id, "{}").ok
    bulk_answers.run_bulk_answer(job.pk)
    job.refresh_from_db()
    assert job.done == 2
    assert [f["operation_id"] for f in job.failures] == [ops[0].pk]
    assert "no longer pending" in job.failures[0]["error"]


def test_callback_results_up_to_one_megabyte_are_accepted_and_larger_refused():
    one_mb = json.dumps({"blob": "x" * (1024 * 1024 - 12)})
    assert len(one_mb.encode()) == 1024 * 1024
    assert validation.json_payload(one_mb) == one_mb
    with pytest.raises(ValidationError, match="at most 1,048,576"):
        validation.json_payload(json.dumps({"blob": "x" * (1024 * 1024)}))


def test_a_failures_error_fields_share_one_megabyte():
    half = "m" * (512 * 1024)
    data = json.dumps({"d": "x" * (512 * 1024 - 100)})
    assert validation.error_fields("Rejected", half, data)[1] == half
    with pytest.raises(ValidationError, match="together; the service accepts at most"):
        validation.error_fields("Rejected", half + "m" * 200, data)


def test_all_that_match_the_filter_are_every_pending_callback_of_the_function(
    client, operator, sandbox_source, lambda_sandbox
):
    coffees = [_waiting(sandbox_source, lambda_sandbox, f"c{i}") for i in range(2)]
    arn = start(lambda_sandbox, "fraud-detection", {"amount": 4000}, f"fr-{uuid.uuid4().hex[:8]}")
    wait_for_callback(lambda_sandbox, arn, "humanVerification")
    sync.sync_arn(sandbox_source, arn)

    inbox = client.get("/approvals/?function=coffee-order").content.decode()
    assert len(_rows(inbox)) == 2
    page = client.post(
        "/approvals/bulk",
        {"answer": "reject", "scope": "filter", "function": "coffee-order", "ops": [1]},
    ).content.decode()
    assert "Reject 2 callbacks?" in page
    assert "Every pending callback of coffee-order that matches the inbox" in page
    assert 'name="ops"' not in page  # the job takes the filter's callbacks when confirmed
    assert sorted(re.findall(r"of <a[^>]*>([^<]+)</a>", page)) == sorted(
        op.execution.name for op in coffees
    )


def test_the_inbox_finds_an_execution_by_part_of_its_name_and_answers_just_those(
    client, operator, sandbox_source, lambda_sandbox
):
    """An operator asked about order 4711 searches for it: the page, "all that match"
    and the API's /callbacks take the same search, in any case."""
    tag = uuid.uuid4().hex[:6]
    wanted = [_waiting(sandbox_source, lambda_sandbox, f"Order-{tag}") for _ in range(2)]
    other = _waiting(sandbox_source, lambda_sandbox, "order-other")

    inbox = client.get(f"/approvals/?execution=order-{tag.upper()}").content.decode()
    assert sorted(_rows(inbox)) == sorted(op.execution.name for op in wanted)
    assert f'value="order-{tag.upper()}"' in inbox  # the search stays in its field
    nothing = client.get("/approvals/?execution=no-such-order").content.decode()
    assert _rows(nothing) == []
    assert "whose name contains “no-such-order”" in nothing
    assert "Show every pending callback" in nothing

    page = client.post(
        "/approvals/bulk",
        {"answer": "reject", "scope": "filter", "execution": f"order-{tag}"},
    ).content.decode()
    assert "Reject 2 callbacks?" in page
    assert f"in executions whose name contains “order-{tag}”" in page
    assert other.execution.name not in page

    secret = api_tokens.issue(operator, "inbox-search", "read").secret
    answer = client.get(
        f"/api/v1/callbacks?execution={tag}", HTTP_AUTHORIZATION=f"Bearer {secret}"
    ).json()
    assert sorted(c["execution"]["name"] for c in answer["items"]) == sorted(
        op.execution.name for op in wanted
    )
