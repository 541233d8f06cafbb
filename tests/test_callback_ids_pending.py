"""A callback that the SDK's telemetry told of before any history read gave its id (the
opaque id an answer is sent with): every path that shows or answers callbacks shows it
as waiting, its id being read, asks for the id (schedule.want_callback_ids: its execution
is read first), and never builds an answer URL from an empty id, nor sends with one.

The callbacks here are made as the product makes them: real telemetry records applied
with executions.telemetry.apply (the records of tests/test_telemetry.py). Their source
is offline: nothing here reads a history, so the id stays unknown for as long as a test
needs; where a test stands for the history read that gives it, it says so."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from access import api_tokens
from actions import approvals, services
from actions.models import Decision
from domain import answers
from executions import schedule, telemetry
from executions.models import AuditEntry, BulkJob, Execution, Function, Operation
from notify import scan, slack
from notify.models import Rule
from tests import factories
from tests.test_slack import BASE, SECRET, TEAM, click, eager, hooks  # noqa: F401 (fixtures)
from tests.test_telemetry import _arn, _callback_story

pytestmark = pytest.mark.django_db

READING = answers.ID_BEING_READ


@pytest.fixture
def telemetry_source():
    """A source whose executions telemetry tells of; offline, so no read gives an id."""
    source = factories.offline_source("told-by-telemetry", region="us-east-1")
    Function.objects.create(source=source, name="order-processor")
    return source


def told_callback(source, name: str = "told") -> Operation:
    """A callback as telemetry alone tells of it: waiting (STARTED), no id yet. Its
    execution was read a while ago, so its next read waits for the reconciliation."""
    arn = _arn(name)
    story = _callback_story(arn)
    assert telemetry.apply(source, telemetry.parse(story[0])) == "inserted"
    not_soon()
    assert telemetry.apply(source, telemetry.parse(story[1])) == "applied"
    callback = Operation.objects.select_related("execution").get(
        execution__arn=arn, operation_id="approval"
    )
    assert (callback.status, callback.callback_id) == ("STARTED", "")
    assert callback in Operation.objects.awaiting_answer()
    assert not urgent(callback)
    return callback


def not_soon() -> None:
    """Every execution as a history read a while ago left it: next read in minutes."""
    Execution.objects.update(
        last_synced_at=timezone.now() - timedelta(seconds=10),
        next_check_at=timezone.now() + timedelta(seconds=290),
    )


def urgent(callback: Operation) -> bool:
    return Execution.objects.get(pk=callback.execution_id).next_check_at == schedule.URGENT


def id_read(callback: Operation, callback_id: str = "Ab+c/9d/E==") -> None:
    """Stands for the history read that gives the id (the source here is offline)."""
    Operation.objects.filter(pk=callback.pk).update(callback_id=callback_id)


def _row(html: str, callback: Operation) -> str:
    match = re.search(rf'<tr id="approval-row-{callback.pk}".*?</tr>', html, flags=re.DOTALL)
    assert match, f"no row for {callback.pk}"
    return match.group(0)


# ---- the approvals inbox ----------------------------------------------------------------


def test_the_inbox_shows_it_waiting_with_the_note_and_asks_for_its_id(client, telemetry_source):
    """Before: a 500 for the whole inbox (NoReverseMatch for the answer URL of an empty
    id). Now: the row, with the note in place of Approve and Reject, its bulk box off, and
    the execution read first."""
    reading = told_callback(telemetry_source, "reading")
    known = told_callback(telemetry_source, "known")
    id_read(known, "known-id")
    not_soon()
    factories.signed_in(client, "otto", "operator")

    response = client.get("/approvals/")

    assert response.status_code == 200
    html = response.content.decode()
    row = _row(html, reading)
    assert READING in row and 'data-testid="reading-callback-id"' in row
    assert 'data-testid="approve"' not in row and 'data-testid="reject"' not in row
    assert 'data-testid="bulk-check-disabled"' in row and " disabled" in row
    assert 'name="ops"' not in row
    assert f'href="/executions/{reading.execution_id}/operations/approval"' in row
    assert f'id="approve-{reading.pk}"' not in html  # no dialog to send with
    # Its timeout is in the history too: not "none reported", but unknown until then.
    assert 'data-testid="deadline-unknown"' in row and "none reported" not in row
    # The other callback, whose id is known, is answered as ever.
    other = _row(html, known)
    assert 'data-testid="approve"' in other and 'data-testid="bulk-check"' in other
    assert f"/executions/{known.execution_id}/callbacks/known-id/succeed" in html
    # Asked for: read first; the one whose id is known is not.
    assert urgent(reading) and not urgent(known)
    # The page refreshes that row by itself, and only that row.
    [poll] = re.findall(r'<div id="approvals-reading"[^>]*>', html)
    assert 'hx-trigger="every 3s"' in poll
    assert f"op={reading.pk}" in poll and f"op={known.pk}" not in poll


def test_an_inbox_whose_ids_are_all_known_does_not_refresh_itself(client, telemetry_source):
    callback = told_callback(telemetry_source)
    id_read(callback)
    factories.signed_in(client, "otto", "operator")

    html = client.get("/approvals/").content.decode()

    assert 'data-testid="approve"' in _row(html, callback)
    [poll] = re.findall(r'<div id="approvals-reading"[^>]*>', html)
    assert "hx-get" not in poll and "hx-trigger" not in poll
    assert READING not in html


def test_the_inbox_rows_refresh_brings_the_buttons_once_the_id_is_read(client, telemetry_source):
    callback = told_callback(telemetry_source)
    factories.signed_in(client, "otto", "operator")
    url = f"/approvals/rows?op={callback.pk}&next=/approvals/%3Fexecution%3Dtold"
    htmx = {"HX-Request": "true"}

    waiting = client.get(url, headers=htmx).content.decode()
    assert READING in _row(waiting, callback) and 'hx-swap-oob="true"' in _row(waiting, callback)
    assert urgent(callback)
    assert re.search(
        r'<div id="approvals-reading"[^>]*hx-get="[^"]*op=' + str(callback.pk), waiting
    )

    id_read(callback)
    ready = client.get(url, headers=htmx).content.decode()
    row = _row(ready, callback)
    assert READING not in row and 'data-testid="approve"' in row
    assert 'data-testid="bulk-check"' in row
    # Its dialogs come with it, returning to the inbox as it was filtered.
    assert f'<div id="approval-dialogs-{callback.pk}" hx-swap-oob="true">' in ready
    assert f"/executions/{callback.execution_id}/callbacks/Ab+c/9d/E==/succeed" in ready
    assert 'name="next" value="/approvals/?execution=told"' in ready
    # And the refresh stops.
    [poll] = re.findall(r'<div id="approvals-reading"[^>]*>', ready)
    assert "hx-trigger" not in poll

    # Answered elsewhere meanwhile: the row says it no longer waits.
    Operation.objects.filter(pk=callback.pk).update(status="SUCCEEDED")
    gone = client.get(url, headers=htmx).content.decode()
    assert "no longer waits for an answer" in gone
    # Not from htmx (a link followed): the inbox.
    response = client.get(url)
    assert response.status_code == 302 and response.url == "/approvals/?execution=told"
    assert client.get("/approvals/rows?op=abc", headers=htmx).status_code == 400


# ---- the operation page ----------------------------------------------------------------


def test_the_operation_page_shows_the_note_in_place_of_the_forms(client, telemetry_source):
    callback = told_callback(telemetry_source)
    factories.signed_in(client, "otto", "operator")

    response = client.get(f"/executions/{callback.execution_id}/operations/approval")

    assert response.status_code == 200
    html = response.content.decode()
    assert READING in html and answers.ID_BEING_READ_WHY in html
    assert 'data-testid="callback-id-reading"' in html
    assert 'data-testid="send-success"' not in html and "/callbacks/" not in html
    assert urgent(callback)
    # The forms' block comes again by itself until they can show.
    [block] = re.findall(r'<div class="callback-forms"[^>]*>', html)
    refresh = f"/executions/{callback.execution_id}/operations/approval/callback?next="
    assert f'hx-get="{refresh}' in block and 'hx-trigger="every 3s"' in block

    not_soon()
    htmx = {"HX-Request": "true"}
    forms = client.get(
        f"/executions/{callback.execution_id}/operations/approval/callback?next=/here",
        headers=htmx,
    ).content.decode()
    assert READING in forms and 'hx-trigger="every 3s"' in forms
    assert urgent(callback)

    id_read(callback)
    forms = client.get(
        f"/executions/{callback.execution_id}/operations/approval/callback?next=/here",
        headers=htmx,
    ).content.decode()
    assert READING not in forms and "hx-trigger" not in forms
    assert 'data-testid="send-success"' in forms
    assert f"/executions/{callback.execution_id}/callbacks/Ab+c/9d/E==/succeed" in forms
    assert 'name="next" value="/here"' in forms
    # The panel's line about the id comes with them, with the id.
    [fact] = re.findall(
        rf'<div class="full" id="callback-id-fact-{callback.pk}" hx-swap-oob="true">.*?</div>',
        forms,
        flags=re.DOTALL,
    )
    assert "Ab+c/9d/E==" in fact and "being read" not in fact


def test_a_viewer_sees_the_callback_waiting_too(client, telemetry_source):
    callback = told_callback(telemetry_source)
    factories.signed_in(client, "vera", "viewer")

    inbox = client.get("/approvals/")
    page = client.get(f"/executions/{callback.execution_id}/operations/approval")

    assert inbox.status_code == 200 and page.status_code == 200
    assert 'data-testid="bulk-check' not in inbox.content.decode()
    assert 'data-testid="callback-id-reading"' in page.content.decode()


# ---- bulk answers ------------------------------------------------------------------------


def test_bulk_answers_say_it_has_no_id_yet_and_skip_it_with_the_reason(client, telemetry_source):
    callback = told_callback(telemetry_source)
    factories.signed_in(client, "otto", "operator")

    # "Select all that match the filter" takes it in: the confirmation says so.
    confirm = client.post(
        "/approvals/bulk", {"answer": "approve", "scope": "filter", "execution": "told"}
    )
    page = confirm.content.decode()
    assert confirm.status_code == 200 and "Approve 1 callback?" in page
    assert 'data-testid="bulk-answer-reading"' in page and "no callback id yet" in page
    assert urgent(callback)
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)

    not_soon()
    with factories.tasks_run_here():
        response = client.post(
            "/approvals/bulk",
            {"answer": "approve", "scope": "filter", "execution": "told", "confirm": "yes",
             "token": token, "result": '{"approved": true}'},
        )  # fmt: skip
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response.url == f"/approvals/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.finished
    assert job.failures == [{"operation_id": callback.pk, "error": answers.ID_NOT_READ}]
    assert not AuditEntry.objects.filter(action__startswith="callback_").exists()
    assert urgent(callback)  # asked for again
    results = client.get(response.url).content.decode()
    assert "not sent" in results and "not read from the history yet" in results


def test_no_answer_is_ever_sent_with_an_empty_id(telemetry_source):
    callback = told_callback(telemetry_source)
    person = factories.user("otto", "operator")

    with pytest.raises(services.ActionRefused) as refused:
        approvals.answer(person, callback.execution, callback, Decision.APPROVE)

    assert str(refused.value) == answers.ID_NOT_READ and refused.value.code == "id_not_read"
    assert not AuditEntry.objects.exists()
    assert urgent(callback)


# ---- the API -----------------------------------------------------------------------------


def test_the_api_lists_it_with_a_null_id_and_asks_for_it(client, telemetry_source):
    callback = told_callback(telemetry_source)
    person = factories.user("ci", "operator")
    secret = api_tokens.issue(person, "ci", "act").secret
    auth = {"Authorization": f"Bearer {secret}"}

    body = client.get("/api/v1/callbacks", headers=auth).json()

    [item] = body["items"]
    assert item["callback_id"] is None and item["operation_id"] == "approval"
    assert item["may_answer"] is False and "ask again in a few seconds" in item["why_not"]
    assert urgent(callback)

    # mine=true: only what may be answered now; still asked for.
    not_soon()
    mine = client.get("/api/v1/callbacks?mine=true", headers=auth).json()
    assert mine["items"] == [] and mine["total"] == 0
    assert urgent(callback)

    id_read(callback, "known-id")
    [item] = client.get("/api/v1/callbacks", headers=auth).json()["items"]
    assert (item["callback_id"], item["may_answer"], item["why_not"]) == ("known-id", True, "")
    schema = client.get("/api/v1/openapi.json", headers=auth).json()
    field = schema["components"]["schemas"]["CallbackOut"]["properties"]["callback_id"]
    assert "history" in field["description"]


# ---- notifications -------------------------------------------------------------------------


def test_a_notification_promised_for_it_asks_for_its_id(telemetry_source):
    callback = told_callback(telemetry_source)
    Rule.objects.create(name="baristas", email_to="baristas@example.com", on_deadline=False)

    promised = scan.scan()

    assert len(promised) == 1
    assert urgent(callback)
    # Already promised: a later scan promises nothing and asks for nothing.
    not_soon()
    assert scan.scan() == []
    assert not urgent(callback)


def test_a_slack_click_on_it_is_refused_until_its_id_is_read(
    client,
    settings,
    telemetry_source,
    hooks,  # noqa: F811 (the fixture)
    eager,  # noqa: F811 (the fixture)
):
    """A signed click, as Slack sends it. The click's own history read (the source is
    offline here) does not give the id: refused with the reason, to the clicker alone;
    nothing sent, and its execution asked for."""
    settings.SLACK_SIGNING_SECRET = SECRET
    settings.SLACK_BOT_TOKEN = ""
    settings.CONSOLE_BASE_URL = BASE
    callback = told_callback(telemetry_source)
    slack.link(factories.user("alice", "operator"), "U0ALICE", TEAM, by="test")

    response = click(client, callback, "approve", "U0ALICE", hooks)

    assert response.status_code == 200
    [refusal] = hooks.messages()
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert refusal["text"] == answers.ID_NOT_READ
    assert not AuditEntry.objects.filter(action__startswith="callback_").exists()
    assert urgent(callback)
