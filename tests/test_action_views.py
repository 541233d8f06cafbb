"""Action endpoints through the Django test client, against the live sandbox."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.contrib.auth.models import User

from actions import bulk, services
from executions import sync
from executions.models import AuditEntry, AuditOutcome, BulkJob, Execution, Operation
from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories, markup
from tests.hostile import HTML, MARKERS, SCRIPT

pytestmark = pytest.mark.django_db

SENDS = {
    "SendDurableExecutionCallbackSuccess",
    "SendDurableExecutionCallbackFailure",
    "SendDurableExecutionCallbackHeartbeat",
    "StopDurableExecution",
    "PauseDurableExecution",
    "ResumeDurableExecution",
    "Invoke",
}


@pytest.fixture
def operator_client(client):
    return factories.signed_in(client, "otto", "operator")


@pytest.fixture
def waiting_coffee(sandbox_source, lambda_sandbox):
    arn = start(lambda_sandbox, "coffee-order", {"orderId": "v"}, f"cv-{uuid.uuid4().hex[:8]}")
    callback = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    return factories.mirrored(sandbox_source, arn), callback


def _token(client, url: str) -> str:
    page = client.get(url).content.decode()
    return re.search(r'name="token" value="([^"]+)"', page).group(1)


def test_a_viewer_gets_403_on_every_action_and_nothing_is_sent(client, waiting_coffee, api_calls):
    execution, callback = waiting_coffee
    factories.signed_in(client, "vera", "viewer")
    api_calls.clear()
    base = f"/executions/{execution.pk}"
    posts = {
        f"{base}/callbacks/{callback}/succeed": {"result": "{}"},
        f"{base}/callbacks/{callback}/fail": {"error_type": "X"},
        f"{base}/callbacks/{callback}/heartbeat": {},
        f"{base}/stop": {},
        f"{base}/pause": {},
        f"{base}/resume": {},
        "/executions/start/": {"function": "1", "name": "x", "input": "{}"},
        "/executions/bulk-stop": {"ids": [execution.pk], "confirm": "yes"},
    }
    for url, data in posts.items():
        response = client.post(url, data)
        assert response.status_code == 403, url
        # The one 403 page says what is missing and how to get it.
        assert "needs the operator role" in response.content.decode(), url
        assert "manage.py grant vera operator" in response.content.decode(), url
    assert not [op for op, _, _ in api_calls.calls if op in SENDS]
    assert AuditEntry.objects.count() == 0 and BulkJob.objects.count() == 0
    # Viewers still read everything.
    assert client.get("/approvals/").status_code == 200
    assert client.get("/audit/").status_code == 200


def test_an_anonymous_action_goes_to_the_login_page(client, waiting_coffee):
    execution, callback = waiting_coffee
    response = client.post(f"/executions/{execution.pk}/stop")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_invalid_json_is_refused_beside_the_form_and_nothing_is_sent(
    operator_client, waiting_coffee, api_calls
):
    execution, callback = waiting_coffee
    form = f"/executions/{execution.pk}/callbacks/{callback}/"
    api_calls.clear()
    response = operator_client.post(
        form + "succeed", {"result": "{not json", "token": _token(operator_client, form)}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.content.decode()
    assert "{not json" in response.content.decode()  # what was typed is kept
    big = json.dumps({"x": "y" * 1_100_000})
    response = operator_client.post(
        form + "succeed", {"result": big, "token": _token(operator_client, form)}
    )
    assert response.status_code == 400 and "at most 1,048,576" in response.content.decode()
    assert not [op for op, _, _ in api_calls.calls if op in SENDS]


def test_a_replayed_form_sends_once(operator_client, waiting_coffee, api_calls):
    execution, callback = waiting_coffee
    form = f"/executions/{execution.pk}/callbacks/{callback}/"
    data = {
        "error_type": "Busy",
        "error_message": "try later",
        "token": _token(operator_client, form),
    }
    api_calls.clear()
    first = operator_client.post(form + "fail", data)
    assert first.status_code == 302
    second = operator_client.post(form + "fail", data)
    assert second.status_code == 400 and "already sent" in second.content.decode()
    assert api_calls.count("SendDurableExecutionCallbackFailure") == 1
    assert AuditEntry.objects.filter(action="callback_failure").count() == 1


def test_the_approvals_inbox_lists_pending_callbacks_and_approves_them(
    operator_client, waiting_coffee
):
    execution, callback = waiting_coffee
    page = operator_client.get("/approvals/?function=coffee-order").content.decode()
    assert execution.name in page and "baristaAccepts" in page
    succeed_form = rf'action="/executions/{execution.pk}/callbacks/[^"]+/succeed"'
    token = re.search(succeed_form + r'.*?name="token" value="([^"]+)"', page, re.S).group(1)
    response = operator_client.post(
        f"/executions/{execution.pk}/callbacks/{callback}/succeed",
        {"result": '{"approved": true}', "token": token, "next": "/approvals/"},
    )
    assert response.status_code == 302 and response["Location"] == "/approvals/"
    assert Operation.objects.get(execution=execution, callback_id=callback).status == "SUCCEEDED"
    audit = operator_client.get("/audit/?action=callback_success").content.decode()
    assert execution.arn in audit and "otto" in audit


def test_the_navigation_bar_counts_pending_callbacks(operator_client, waiting_coffee):
    pending = (
        Operation.objects.filter(type="CALLBACK", status="STARTED")
        .exclude(execution__status__in=["SUCCEEDED", "FAILED", "STOPPED", "TIMED_OUT"])
        .count()
    )
    badge = markup.parse(operator_client.get("/approvals/count").content)
    assert badge.find(data_testid="approvals-count").text == str(pending) and pending >= 1


def test_bulk_stop_confirms_the_count_then_runs_as_a_job(
    operator_client, sandbox_source, lambda_sandbox
):
    arns = [
        start(lambda_sandbox, "coffee-order", {}, f"bs-{uuid.uuid4().hex[:8]}") for _ in range(3)
    ]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    ids = [execution.pk for execution in factories.mirrored_all(sandbox_source, arns)]
    confirm = operator_client.post("/executions/bulk-stop", {"ids": ids})
    page = confirm.content.decode()
    assert "Stop 3 executions?" in page
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    digest = re.search(r'name="digest" value="([^"]+)"', page).group(1)
    with factories.tasks_run_here():
        response = operator_client.post(
            "/executions/bulk-stop",
            {"ids": ids, "confirm": "yes", "token": token, "digest": digest},
        )
    job = BulkJob.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.done == 3 and job.failures == [] and job.finished
    progress = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "3 of 3 done" in progress
    assert set(Execution.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"STOPPED"}


def test_an_operator_starts_an_execution_from_the_start_page(operator_client, sandbox_source):
    sync.poll_source(sandbox_source)
    function = sandbox_source.functions.get(name="order-processor")
    token = _token(operator_client, "/executions/start/")
    name = f"from-form-{uuid.uuid4().hex[:6]}"
    response = operator_client.post(
        "/executions/start/",
        {"function": function.pk, "name": name, "input": '{"orderId": "FORM-1"}', "token": token},
    )
    execution = Execution.objects.get(name=name)
    assert response.status_code == 302 and response["Location"] == f"/executions/{execution.pk}/"
    assert AuditEntry.objects.get(action="start").execution_arn == execution.arn
    refused = operator_client.post(
        "/executions/start/",
        {
            "function": function.pk,
            "name": "x",
            "input": "{",
            "token": _token(operator_client, "/executions/start/"),
        },
    )
    assert refused.status_code == 400 and "not valid JSON" in refused.content.decode()


def test_starting_from_the_form_and_syncing_leaves_one_entry_for_the_function_in_the_filter(
    operator_client, sandbox_source
):
    sync.poll_source(sandbox_source)
    function = sandbox_source.functions.get(name="bulk-ledger")
    name = f"one-entry-{uuid.uuid4().hex[:6]}"
    response = operator_client.post(
        "/executions/start/",
        {
            "function": function.pk,
            "name": name,
            "input": '{"entries": 3}',
            "token": _token(operator_client, "/executions/start/"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    sync.sync_once(sandbox_source)

    assert Execution.objects.get(name=name).function == function
    page = markup.parse(operator_client.get("/executions/").content)
    options = page.find("select", id="filter-function").find_all("option")
    entries = [o.text for o in options if o.text.startswith("bulk-ledger")]
    assert len(entries) == 1, entries
    assert str(function.pk) in [o.attrs["value"] for o in options if o.text in entries]


def _audit_rows(page: str) -> dict[str, markup.Element]:
    return {
        row.attrs["data-action"]: row
        for row in markup.parse(page).find_all("tr", data_testid="audit-row")
    }


def test_the_audit_log_names_and_links_the_execution_in_words_with_its_arn_at_hand(
    operator_client, waiting_coffee
):
    execution, callback = waiting_coffee
    otto = User.objects.get(username="otto")
    assert services.callback_success(otto, execution, callback, '{"approved": true}').ok
    assert services.stop(otto, execution, "Test", "stopped by a test").ok
    # What a backend's refusal leaves (the sandbox refuses no valid stop): tried, not done.
    AuditEntry.objects.create(
        username="otto", action="pause", source_name="sandbox", execution_arn=execution.arn,
        outcome=AuditOutcome.FAILED, error="Pause is not supported by this backend.",
    )  # fmt: skip

    page = operator_client.get("/audit/").content.decode()

    rows = _audit_rows(page)
    assert set(rows) == {"callback_success", "pause", "stop"}
    words = {"callback_success": "Approved callback (success sent)", "pause": "Pause execution"}
    words["stop"] = "Stopped execution"
    for action, row in rows.items():
        link = row.find("a", href=f"/executions/{execution.pk}/")
        assert link.text == execution.name, row.text
        assert row.find(data_testid="audit-action").text == words[action], row.text
        assert execution.function.name in [div.text for div in row.find_all("div")], row.text
        assert row.find(data_testid="audit-arn").text == execution.arn
    assert "baristaAccepts" in rows["callback_success"].text
    assert "not supported" in rows["pause"].text
    assert ">callback_success<" not in page and ">stop<" not in page
    # The action filter offers the same words.
    option = markup.parse(page).find("option", value="callback_success")
    assert option.text == "Approved callback (success sent)"


def _bulk_results(response) -> list[tuple[str, int, str]]:
    """Each row's outcome, and the execution it links to (its id) by name."""
    rows = markup.parse(response.content).find_all("tr", data_testid="bulk-result")
    links = [row.find("td", data_label="Execution").find("a") for row in rows]
    return [
        (
            row.attrs["data-outcome"],
            int(re.fullmatch(r"/executions/(\d+)/", a.attrs["href"])[1]),
            a.text,
        )
        for row, a in zip(rows, links, strict=True)
    ]


def test_the_bulk_stop_page_lists_each_execution_with_its_outcome_and_a_link(
    operator_client, sandbox_source, lambda_sandbox
):
    running = [
        start(lambda_sandbox, "coffee-order", {}, f"bl-{uuid.uuid4().hex[:8]}") for _ in range(2)
    ]
    done = start(lambda_sandbox, "order-processor", {"orderId": "BL"}, f"bl-{uuid.uuid4().hex[:8]}")
    for arn in running:
        wait_for_callback(lambda_sandbox, arn)
    wait_for_status(lambda_sandbox, done)
    executions = factories.mirrored_all(sandbox_source, [*running, done])
    job = bulk.create_stop_job(User.objects.get(username="otto"), [e.pk for e in executions])

    queued = _bulk_results(operator_client.get(f"/jobs/{job.pk}/"))
    bulk.run_bulk_stop(job.pk)
    response = operator_client.get(f"/jobs/{job.pk}/")

    assert queued == [("queued", e.pk, e.name) for e in executions]
    assert _bulk_results(response) == [
        ("stopped", executions[0].pk, executions[0].name),
        ("stopped", executions[1].pk, executions[1].name),
        ("failed", executions[2].pk, executions[2].name),
    ]
    rows = markup.parse(response.content).find_all("tr", data_testid="bulk-result")
    (failed,) = [row for row in rows if row.attrs["data-outcome"] == "failed"]
    assert "already ended" in failed.find(data_testid="bulk-failure").text
    # The mirror's status now, beside the outcome.
    now = [row.find("td", data_label="Status now").text for row in rows]
    assert now.count("Stopped") == 2


def test_the_start_page_shows_a_hostile_example_input_as_inert_text(
    operator_client, sandbox_source, lambda_sandbox
):
    event = {"names": ["first"], "note": HTML, "more": SCRIPT}
    arn = start(lambda_sandbox, "echo-steps", event, f"ex-{uuid.uuid4().hex[:6]}")
    wait_for_status(lambda_sandbox, arn)
    sync.poll_source(sandbox_source)
    sync.sync_arn(sandbox_source, arn)

    response = operator_client.get("/executions/start/")

    assert response.status_code == 200
    page = response.content.decode()
    assert not [marker for marker in MARKERS if marker in page]
    assert "&lt;img src=x onerror=" in page  # shown, as text
