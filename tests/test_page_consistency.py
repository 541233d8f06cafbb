"""One moment per page: an execution's header, graph, tree, panel and buttons come from the
same state of the mirror in one answer; the list's counts and bulk stop come with its rows;
"checked" says what is true. And what ended an execution: a stop's reason and who gave it,
what was pending shown as ended with it; a step waiting for its retry, when and why.

Against the sandbox: the executions are AWS's local runner's, read by the real sync.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from actions import services
from browser import snapshot
from executions import schedule, sync
from executions.models import Execution, Operation
from sandbox.client import start, wait_for, wait_for_callback, wait_for_status
from tests import factories, markup

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator_client_db(client: Any) -> Any:
    return factories.signed_in(client, "otto", "operator")


def htmx(client: Any, url: str) -> Any:
    return client.get(url, HTTP_HX_REQUEST="true")


def parts_of(html: str) -> dict[str, Any]:
    """What a person sees of the execution in one answer, part by part."""
    doc = markup.parse(html)
    header = doc.find(id="execution-header")
    bar = doc.find(id="execution-actions-bar")
    return {"doc": doc, "header": header, "bar": bar}


def graph_state(doc: Any, node_id: str) -> str:
    """The state class graphviz's node carries (state-waiting, state-succeeded, ...)."""
    node = doc.find("g", id=node_id)
    return next(c for c in node.attrs["class"].split() if c.startswith("state-"))


def callback_node(execution: Execution) -> Operation:
    return execution.operations.get(type="CALLBACK")


def test_one_moment_reads_nothing_a_sync_commits_while_it_lasts():
    execution = factories.running_execution(factories.offline_source("moment"), "moment-1")

    def sync_commits() -> None:
        Execution.objects.filter(pk=execution.pk).update(last_event_id=99, status="SUCCEEDED")
        connection.close()

    with snapshot.one_moment():
        first = Execution.objects.get(pk=execution.pk).mirror_state
        writer = threading.Thread(target=sync_commits)
        writer.start()
        writer.join()
        inside = Execution.objects.get(pk=execution.pk).mirror_state
    after = Execution.objects.get(pk=execution.pk).mirror_state

    assert first == inside == "0.RUNNING.0"
    assert after == "99.SUCCEEDED.0"


def test_after_an_answer_the_tab_brings_header_graph_and_buttons_from_one_moment(
    operator_client_db, sandbox_source, lambda_sandbox
):
    client = operator_client_db
    name = f"moment-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    callback_id = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = factories.mirrored(sandbox_source, arn)
    callback = callback_node(execution)
    tab = f"/executions/{execution.pk}/graph/"

    before = parts_of(htmx(client, tab).content.decode())
    assert before["header"].attrs["data-status"] == "RUNNING"
    assert before["header"].attrs["hx-swap-oob"] == "true"
    assert before["bar"].attrs["hx-swap-oob"] == "true"
    assert graph_state(before["doc"], f"op-{callback.operation_id}") == "state-waiting"
    assert graph_state(before["doc"], "end") == "state-not_started"
    assert before["doc"].find_all(data_testid="stop-open"), "a running execution offers Stop"
    since = before["header"].attrs["data-mirror-state"]

    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=b'{"accepted": true}'
    )
    wait_for(
        lambda: (
            sync.sync_execution(execution.pk, force=True)
            and Execution.objects.get(pk=execution.pk).operations.filter(
                pk=callback.pk, status="SUCCEEDED"
            )
        ),
        60,
        what="the answer mirrored",
    )
    # The header's poll only announces the change...
    poll = client.get(f"/executions/{execution.pk}/header?since={since}", HTTP_HX_REQUEST="true")
    assert poll.status_code == 204
    assert list(json.loads(poll["HX-Trigger"])) == ["execution-changed"]
    # ...and the tab area's reload brings every part, from one state of the mirror.
    after = parts_of(htmx(client, tab).content.decode())
    state = Execution.objects.get(pk=execution.pk).mirror_state
    assert after["header"].attrs["data-mirror-state"] == state != since
    assert graph_state(after["doc"], f"op-{callback.operation_id}") != "state-waiting"
    status = after["header"].attrs["data-status"]
    end = graph_state(after["doc"], "end")
    if status == "RUNNING":
        assert end == "state-not_started"
        assert after["doc"].find_all(data_testid="stop-open")
    else:
        assert end == f"state-{after['header'].attrs['data-state']}"
        assert not after["doc"].find_all(data_testid="stop-open")


def test_the_tab_answer_carries_the_open_panel_out_of_band(
    operator_client_db, sandbox_source, lambda_sandbox
):
    name = f"panel-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = factories.mirrored(sandbox_source, arn)
    callback = callback_node(execution)

    answer = htmx(
        operator_client_db,
        f"/executions/{execution.pk}/operations/?panel={callback.operation_id}",
    ).content.decode()
    bad = htmx(operator_client_db, f"/executions/{execution.pk}/operations/?panel=no%20such")

    body = markup.parse(answer).find(id="operation-panel-body")
    assert body.attrs["hx-swap-oob"] == "innerHTML"
    panel = body.find(data_testid="operation-panel")
    assert panel.attrs["data-op"] == callback.operation_id
    assert panel.attrs["data-mirror-state"] == execution.mirror_state
    assert body.find(data_testid="operation-status").text == "Waiting"
    # The panel reloads with the page's answer, never on its own.
    assert "hx-trigger" not in panel.attrs
    assert bad.status_code == 400


def test_a_stop_shows_its_reason_and_who_gave_it_and_ends_what_was_pending(
    operator_client_db, sandbox_source, lambda_sandbox
):
    client = operator_client_db
    name = f"stopped-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = factories.mirrored(sandbox_source, arn)
    callback = callback_node(execution)
    stopper = factories.user("stopper", "operator")

    result = services.stop(stopper, execution, "Runaway", "Stopped by a test: the barista left")
    assert result.ok, result.message
    wait_for(
        lambda: (
            sync.sync_execution(execution.pk, force=True)
            and Execution.objects.get(pk=execution.pk).settled
        ),
        60,
        what="the stop mirrored to the end of its history",
    )
    page = client.get(f"/executions/{execution.pk}/").content.decode()
    ops = htmx(client, f"/executions/{execution.pk}/operations/").content.decode()
    panel = htmx(client, f"/executions/{execution.pk}/operations/{callback.operation_id}")

    doc = markup.parse(page)
    assert doc.find(data_testid="header-status").text == "Stopped"
    # The runner keeps its own message in the history (AWS keeps the one given): the
    # banner shows the execution's error, the error type the stop gave where the history
    # has none, and who stopped it with the reason they gave (the audit log's).
    history_error = Execution.objects.get(pk=execution.pk).error
    assert doc.find(data_testid="failure-type").text == history_error.get("ErrorType", "Runaway")
    assert doc.find(data_testid="failure-message").text == history_error["ErrorMessage"]
    assert "No error reported" not in page
    stopped_by = doc.find(data_testid="stopped-by")
    assert stopped_by.text.startswith("Stopped by stopper at ")
    assert stopped_by.find(data_testid="stop-reason").text == (
        "Runaway: Stopped by a test: the barista left"
    )
    # The callback never got its answer: ended with the execution, in the graph...
    assert graph_state(doc, f"op-{callback.operation_id}") == "state-ended"
    assert graph_state(doc, "end") == "state-ended"
    # ...in the tree...
    row = markup.parse(ops).find("tr", data_op=callback.operation_id)
    badge = row.find_all("span", class_="badge")[0]
    assert badge.text == "Cancelled" and "text-bg-secondary" in badge.attrs["class"]
    assert "Ended with the execution" in badge.attrs["title"]
    # ...and in its panel, which says what it was.
    panel_doc = markup.parse(panel.content.decode())
    assert panel_doc.find(data_testid="operation-status").text == "Cancelled"
    assert panel_doc.find(data_testid="ended-with-execution").text.startswith(
        "Ended with the execution: it was still waiting when the execution stopped"
    )
    assert not panel_doc.find_all(data_testid="panel-callback-forms")
    # The mirror keeps what the history says.
    assert Operation.objects.get(pk=callback.pk).status == "STARTED"


def test_a_stop_from_elsewhere_says_so(operator_client_db, sandbox_source, lambda_sandbox):
    name = f"elsewhere-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    lambda_sandbox.stop_durable_execution(DurableExecutionArn=arn)
    wait_for_status(lambda_sandbox, arn)
    execution = factories.mirrored(sandbox_source, arn)

    doc = markup.parse(operator_client_db.get(f"/executions/{execution.pk}/").content.decode())

    assert doc.find(data_testid="failure-type").text == "Stopped without an error type"
    assert doc.find(data_testid="stopped-by").text.startswith("Stopped outside this console")


def test_a_step_waiting_for_its_retry_says_when_and_why_in_its_panel_and_the_tree(
    operator_client_db, sandbox_source, lambda_sandbox
):
    client = operator_client_db
    name = f"retry-{uuid.uuid4().hex[:6]}"
    arn = start(
        lambda_sandbox,
        "fraud-detection",
        {"transactionId": name, "amount": 20, "retryDelaySeconds": 600},
        name,
    )
    execution = wait_for(
        lambda: (
            (e := factories.mirrored(sandbox_source, arn))
            and e.operations.filter(name="scoreRisk", status="PENDING").exists()
            and e
        ),
        60,
        what="the scoring step waiting for its retry",
    )
    step = execution.operations.get(name="scoreRisk")
    last = step.retries[-1]

    panel = markup.parse(
        htmx(client, f"/executions/{execution.pk}/operations/{step.operation_id}").content.decode()
    )
    ops = markup.parse(htmx(client, f"/executions/{execution.pk}/operations/").content.decode())
    lambda_sandbox.stop_durable_execution(DurableExecutionArn=arn)

    retry = panel.find(data_testid="pending-retry")
    assert retry.text.startswith("Attempt 2 is due at ")
    assert re.fullmatch(
        r"in (9 min \d+ s|10 min)", panel.find(data_testid="next-attempt-countdown").text
    )
    assert panel.find(data_testid="last-failure-type").text == (
        "sandbox.functions.fraud.TransientScoringError"
    )
    assert panel.find(data_testid="last-failure-message").text == (
        "risk scoring service timed out, retrying"
    )
    due = panel.find(data_testid="next-attempt-countdown")
    next_at = step.retries[-1]["at"]
    assert last["next_attempt_delay_seconds"] == 600
    expected = (datetime.fromisoformat(next_at) + timedelta(seconds=600)).astimezone(UTC)
    assert due.attrs["data-until"] == expected.isoformat().replace("+00:00", "Z")
    marker = ops.find("tr", data_op=step.operation_id).find(data_testid="retry-marker")
    assert marker.text.startswith("↻ attempt 2 at ")
    assert "TransientScoringError" in marker.attrs["title"]


def test_checked_claims_the_watched_pace_only_while_the_reads_keep_it(
    operator_client_db, sandbox_source, lambda_sandbox
):
    name = f"checked-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = factories.mirrored(sandbox_source, arn)
    long_ago = timezone.now() - timedelta(seconds=25)
    Execution.objects.filter(pk=execution.pk).update(
        last_synced_at=long_ago, next_check_at=timezone.now() + timedelta(seconds=30)
    )

    def pace(response: Any) -> str:
        return markup.parse(response.content.decode()).find(data_testid="check-pace").text

    # Just opened: checked 25 s ago, so not "every 2 s"; the page's watch brings the next
    # read forward, and the header says it is due.
    opened = operator_client_db.get(
        f"/executions/{execution.pk}/", HTTP_SEC_FETCH_SITE="same-origin"
    )
    assert schedule.is_watched(execution.pk)
    assert pace(opened) == "· next check due now"
    assert "while this page is open" not in opened.content.decode()
    # A read that keeps the pace (the scheduler's, here the sync itself).
    sync.sync_execution(execution.pk, force=True)
    execution.refresh_from_db()
    header = operator_client_db.get(
        f"/executions/{execution.pk}/header?since={execution.mirror_state}",
        HTTP_HX_REQUEST="true",
        HTTP_SEC_FETCH_SITE="same-origin",
    )
    assert header.status_code == 200
    assert pace(header) == f"· every {schedule.WATCH_SECONDS:.0f} s while this page is open"
    checked = markup.parse(header.content.decode()).find(data_testid="last-synced").find("time")
    assert checked.attrs["datetime"].startswith(
        execution.last_synced_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )


def test_the_rows_poller_brings_the_counts_and_the_bulk_stop_with_the_rows(
    operator_client_db, sandbox_source, lambda_sandbox
):
    client = operator_client_db
    tag = uuid.uuid4().hex[:6]
    arns = [start(lambda_sandbox, "coffee-order", {}, f"rows-{tag}-{i}") for i in range(2)]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    executions = factories.mirrored_all(sandbox_source, arns)
    # Newest first, as the list shows them.
    ids = ",".join(str(e.pk) for e in reversed(executions))
    listed = client.get(f"/executions/?name=rows-{tag}").content.decode()
    poller = markup.parse(listed).find(id="row-poller").attrs["hx-get"]
    assert poller == f"/executions/rows?ids={ids}&name=rows-{tag}"

    before = markup.parse(htmx(client, poller).content.decode())
    services.stop(factories.user("rowstopper", "operator"), executions[0], "Runaway", "test")
    after_answer = htmx(client, poller)
    after = markup.parse(after_answer.content.decode())

    assert before.find(id="count-RUNNING").text == "2"
    assert "Stop all 2 running" in before.find(id="bulk-stop").text
    rows = {e.pk: after.find("tr", id=f"execution-{e.pk}").attrs["data-status"] for e in executions}
    running = sum(1 for s in rows.values() if s == "RUNNING")
    assert rows[executions[0].pk] == "STOPPED"
    assert after.find(id="count-RUNNING").text == str(running) == "1"
    assert after.find(id="count-STOPPED").text == "1"
    assert after.find(id="count-RUNNING").attrs["hx-swap-oob"] == "true"
    bulk = after.find(id="bulk-stop")
    assert bulk.attrs["hx-swap-oob"] == "true"
    assert re.search(r"Stop all 1 running that match", bulk.text)
    # Its form goes back to the list, not to the poller's URL.
    assert bulk.find("input", name="next").attrs["value"] == f"/executions/?name=rows-{tag}"
    assert after.find(id="result-count").text.startswith("2 executions match")
    # It keeps polling the one still running, with the list's filter.
    assert f"ids={executions[1].pk}&amp;name=rows-{tag}" in after_answer.content.decode()
