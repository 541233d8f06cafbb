"""One vocabulary for answering a callback (domain/answers.py): the execution page's
callback form, the approvals inbox, bulk answers, the audit log, notifications, Slack's
buttons and the API's documentation say the same words for what a person does (Approve,
Reject, Extend (heartbeat)), show what each sends, and offer the same default result;
one callback waiting in the live sandbox, every place rendered for it."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from domain import answers
from executions import sync
from executions.models import AuditEntry, AuditOutcome, Operation
from notify import deliver, scan
from notify.models import Rule, WebhookFormat
from sandbox.client import history, start, wait_for, wait_for_callback
from tests import factories, markup
from tests.notify_servers import RECEIVER_NETWORK, Receiver, SmtpSink

pytestmark = pytest.mark.django_db

# The words, as a person reads them; a test that fails here means the words changed.
APPROVE, REJECT, EXTEND = "Approve", "Reject", "Extend (heartbeat)"
DEFAULT_RESULT = '{"approved": true}'
APPROVE_SENDS = "Sends success with this result"
REJECT_SENDS = "Sends failure with this error"
HINT = (
    'Approve sends success with this result: {"approved": true}. '
    "Reject sends failure with this error type: Rejected."
)
# The three words of before, none of which may come back.
OLD_WORDS = ("Send success", "Send failure", "Send heartbeat", "Send approval", "Sent success")


@pytest.fixture
def operator(client):
    return factories.signed_in(client, "otto", "operator")


@pytest.fixture
def waiting(sandbox_source, lambda_sandbox) -> Operation:
    arn = start(lambda_sandbox, "coffee-order", {"orderId": "w"}, f"vw-{uuid.uuid4().hex[:8]}")
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, arn)
    return Operation.objects.pending_callbacks().get(execution=execution)


def _no_old_words(html: str, place: str) -> None:
    for old in OLD_WORDS:
        assert old not in html, f"{place} still says {old!r}"


def _says_what_approve_sends(text: str, place: str) -> None:
    assert APPROVE_SENDS.lower() in text.lower(), place
    assert DEFAULT_RESULT in text, place


def test_the_vocabulary_is_written_down_once():
    assert (answers.APPROVE.button, answers.REJECT.button, answers.EXTEND.button) == (
        APPROVE,
        REJECT,
        EXTEND,
    )
    assert answers.DEFAULT_RESULT == DEFAULT_RESULT and answers.HINT == HINT
    # The audit log's stored codes stay as they were.
    assert [a.action for a in answers.ANSWERS] == [
        "callback_success",
        "callback_failure",
        "callback_heartbeat",
    ]


def test_every_place_words_the_answers_alike_and_offers_the_same_result(
    client, operator, waiting, lambda_sandbox, settings
):
    execution = waiting.execution
    # ---- the execution page's callback form (the operation's panel) ----
    panel_html = client.get(
        f"/executions/{execution.pk}/operations/{waiting.operation_id}"
    ).content.decode()
    _no_old_words(panel_html, "the callback form")
    forms = markup.parse(panel_html).find(data_testid="callback-forms")
    assert forms.find(data_testid="send-success").text == APPROVE
    assert forms.find(data_testid="send-failure").text == REJECT
    assert forms.find(data_testid="send-heartbeat").text == EXTEND
    label = forms.find(data_testid="approve-sends").text
    assert label == f"{APPROVE_SENDS} (JSON, you can edit it):"
    assert forms.find(data_testid="result-editor").text == DEFAULT_RESULT
    assert forms.find(data_testid="reject-sends").text == f"{REJECT_SENDS}:"
    assert forms.find("input", name="error_type").attrs["value"] == "Rejected"
    assert forms.find("input", name="error_message").attrs["value"] == "Rejected by otto"
    assert "heartbeat timeout starts again" in forms.find(data_testid="extend-sends").text
    _says_what_approve_sends(forms.text, "the callback form")

    # ---- the approvals inbox: its row, and the dialogs the row opens ----
    inbox_html = client.get("/approvals/").content.decode()
    _no_old_words(inbox_html, "the inbox")
    inbox = markup.parse(inbox_html)
    assert HINT in inbox.find(data_testid="answers-hint").text
    row = inbox.find(data_testid="approval-row", data_execution=execution.name)
    approve = row.find(data_testid="approve")
    assert approve.text == f"{APPROVE}…"
    assert approve.attrs["title"] == f"{APPROVE_SENDS}: {DEFAULT_RESULT}"
    assert row.find(data_testid="reject").text == f"{REJECT}…"
    dialog = inbox.find(id=f"approve-{waiting.pk}")
    assert dialog.find(data_testid="approve-sends").text == label
    assert dialog.find(data_testid="approve-payload").text == DEFAULT_RESULT
    assert dialog.find(data_testid="approve-confirm").text == APPROVE
    rejection = inbox.find(id=f"reject-{waiting.pk}")
    assert rejection.find(data_testid="reject-sends").text == f"{REJECT_SENDS}:"
    assert rejection.find(data_testid="reject-type").attrs["value"] == "Rejected"
    assert rejection.find(data_testid="reject-message").attrs["value"] == "Rejected by otto"
    assert rejection.find(data_testid="reject-confirm").text == REJECT
    _says_what_approve_sends(approve.attrs["title"], "the inbox's row")

    # ---- bulk answers' confirmation ----
    bulk_html = client.post(
        "/approvals/bulk", {"answer": "approve", "ops": [waiting.pk]}
    ).content.decode()
    _no_old_words(bulk_html, "the bulk answer page")
    bulk = markup.parse(bulk_html)
    assert bulk.find(data_testid="bulk-answer-confirm").text == f"{APPROVE} 1 callback?"
    assert bulk.find(data_testid="approve-sends").text == (
        f"{APPROVE_SENDS} to each (JSON, you can edit it):"
    )
    assert bulk.find(data_testid="bulk-answer-result").text == DEFAULT_RESULT
    assert bulk.find(data_testid="bulk-answer-confirm-button").text == f"{APPROVE} 1 callback"
    _says_what_approve_sends(bulk.text, "the bulk answer page")
    bulk_reject = markup.parse(
        client.post("/approvals/bulk", {"answer": "reject", "ops": [waiting.pk]}).content.decode()
    )
    assert bulk_reject.find(data_testid="bulk-answer-confirm").text == f"{REJECT} 1 callback?"
    assert bulk_reject.find(data_testid="reject-sends").text == f"{REJECT_SENDS} to each:"
    assert bulk_reject.find("input", name="error_type").attrs["value"] == "Rejected"

    # ---- a notification: an email, and a Slack message with its buttons ----
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    settings.OUTGOING_ALLOWED_NETWORKS = [RECEIVER_NETWORK]
    settings.SLACK_SIGNING_SECRET = "vocabulary-secret"
    with SmtpSink() as smtp, Receiver() as slack:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        Rule.objects.create(name="mail", email_to="baristas@example.com", on_deadline=False)
        Rule.objects.create(
            name="slack",
            webhook_url=slack.url,
            webhook_format=WebhookFormat.SLACK,
            on_deadline=False,
        )
        scan.scan()
        deliver.send_due()
    [email] = smtp.messages
    body = email.get_payload(decode=True).decode()
    _no_old_words(body, "the email")
    assert HINT in body and "Approve or reject it in Durable Console:" in body
    _says_what_approve_sends(body, "the email")
    [request] = slack.requests
    message = json.loads(request["body"])
    _no_old_words(request["body"].decode(), "the Slack message")
    [buttons] = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in buttons["elements"]][:2] == [APPROVE, REJECT]
    [hint] = [b for b in message["blocks"] if b["type"] == "context"]
    assert hint["elements"][0]["text"] == HINT
    assert message["blocks"].index(hint) == message["blocks"].index(buttons) + 1
    _says_what_approve_sends(hint["elements"][0]["text"], "Slack's blocks")

    # ---- answered from the execution page's form as it comes: heartbeat, then approve ----
    token = re.compile(r'name="token" value="([^"]+)"')

    def _fresh_token() -> str:
        page = client.get(f"/executions/{execution.pk}/callbacks/{waiting.callback_id}/")
        return token.search(page.content.decode()).group(1)

    base = f"/executions/{execution.pk}/callbacks/{waiting.callback_id}"
    extended = client.post(f"{base}/heartbeat", {"token": _fresh_token()}, follow=True)
    assert "Extended: heartbeat sent to the callback." in extended.content.decode()
    approved = client.post(
        f"{base}/succeed",
        {"token": _fresh_token(), "result": forms.find(data_testid="result-editor").text},
        follow=True,
    )
    assert "Approved: success sent to the callback." in approved.content.decode()
    sent = AuditEntry.objects.get(action="callback_success")
    assert json.loads(sent.payload) == {"approved": True}
    wait_for(
        lambda: (
            "CallbackSucceeded" in [e["EventType"] for e in history(lambda_sandbox, execution.arn)]
        ),
        30,
    )

    # ---- the audit log: the same words, by the codes it always stored ----
    AuditEntry.objects.create(
        username="otto",
        action="callback_failure",
        source_name="sandbox",
        execution_arn=execution.arn,
        callback_id=waiting.callback_id,
        outcome=AuditOutcome.SUCCEEDED,
    )  # as an entry written before these words was
    audit_html = client.get(f"/audit/?arn={execution.name}").content.decode()
    _no_old_words(audit_html, "the audit log")
    audit = markup.parse(audit_html)
    words = {
        row.attrs["data-action"]: row.find(data_testid="audit-action").text
        for row in audit.find_all(data_testid="audit-row")
    }
    assert words == {
        "callback_success": "Approved callback (success sent)",
        "callback_heartbeat": "Extended callback (heartbeat sent)",
        "callback_failure": "Rejected callback (failure sent)",
    }
    approved_row = audit.find(data_testid="audit-row", data_action="callback_success")
    assert DEFAULT_RESULT in approved_row.text  # what was sent, beside the words


def test_a_vote_under_a_policy_reads_which_way_it_went(client, operator):
    for decision in ("approve", "reject"):
        AuditEntry.objects.create(
            username="otto",
            action="approval",
            source_name="sandbox",
            payload=json.dumps({"policy": "two", "decision": decision, "sent": False}),
            outcome=AuditOutcome.SUCCEEDED,
        )
    audit = markup.parse(client.get("/audit/?action=approval").content.decode())
    shown = [e.text for e in audit.find_all(data_testid="audit-action")]
    assert sorted(shown) == ["Approved under a policy", "Rejected under a policy"]


def test_the_api_documents_the_answers_in_the_same_words(client):
    schema = client.get("/api/v1/openapi.json").json()
    summaries = {
        path.rsplit("/", 1)[1]: item["post"]["summary"]
        for path, item in schema["paths"].items()
        if "/callbacks/" in path and "post" in item
    }
    assert summaries == {
        "succeed": "Approve a callback (sends success)",
        "fail": "Reject a callback (sends failure)",
        "heartbeat": "Extend a callback (sends heartbeat)",
    }
