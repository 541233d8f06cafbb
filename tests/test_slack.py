"""Slack's Approve and Reject buttons with callbacks waiting in the live sandbox: requests
signed exactly as Slack documents it (v0 HMAC of the raw body), an HTTPS server standing in
for Slack's response URL, and another for Slack's users.info. What counts is what reached
the sandbox (its history, the console's calls) and what Slack was told, not the HTTP codes
alone."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from access.models import Identity
from actions.models import ApprovalPolicy
from domain import answers
from executions import sync
from executions.models import AuditEntry, Operation
from notify import channels, deliver, scan, slack
from notify.models import Delivery, Rule, WebhookFormat
from sandbox.client import history, start, wait_for_callback
from tests import factories
from tests.notify_servers import RECEIVER_NETWORK, Receiver
from tests.test_outgoing import _certificates

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0CONSOLE"
SENDS = ("SendDurableExecutionCallbackSuccess", "SendDurableExecutionCallbackFailure")
BASE = "https://console.example.com"


# ---- what stands in for Slack -----------------------------------------------------------


@dataclass
class Hooks:
    """The HTTPS server a click's response_url points at (Slack's hooks.slack.com)."""

    receiver: Receiver
    url: str

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.receiver.requests]


@pytest.fixture(autouse=True)
def _slack_settings(settings):
    settings.SLACK_SIGNING_SECRET = SECRET
    settings.SLACK_BOT_TOKEN = ""
    settings.CONSOLE_BASE_URL = BASE


@pytest.fixture
def hooks(settings, tmp_path, monkeypatch):
    """Slack's response URL: https, with a certificate of a test CA the console is told to
    trust (SSL_CERT_FILE, read whenever a TLS context loads the system's certificates)."""
    ca_file, cert_file, key_file = _certificates(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    settings.SLACK_RESPONSE_URL_HOSTS = ["localhost"]
    settings.OUTGOING_ALLOWED_NETWORKS = ["localhost", RECEIVER_NETWORK]
    receiver = Receiver()
    receiver.server.socket = tls.wrap_socket(receiver.server.socket, server_side=True)
    port = receiver.server.server_address[1]
    with receiver:
        yield Hooks(receiver, f"https://localhost:{port}/actions/{TEAM}/1234/{uuid.uuid4().hex}")


@pytest.fixture
def eager():
    """The task a click queues runs inside the request, its errors raised."""
    with factories.tasks_run_here(propagate=True):
        yield


class SlackApi:
    """Slack's Web API (users.info) on 127.0.0.1: answers with the users it is given, and
    records each request."""

    def __init__(self, users: dict[str, dict[str, Any]]) -> None:
        self.users = users
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                api.requests.append({"path": self.path, "headers": dict(self.headers), **form})
                found = api.users.get(form.get("user", ""))
                answer = (
                    {"ok": True, "user": found}
                    if found
                    else {"ok": False, "error": "user_not_found"}
                )
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def __enter__(self) -> SlackApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- what Slack sends -------------------------------------------------------------------


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    """As Slack documents it: v0= + hex HMAC-SHA256 of v0:{timestamp}:{raw body}."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def message_for(operation: Operation) -> dict[str, Any]:
    """The Slack message a callback's delivery posts (the webhook body)."""
    link = f"{BASE}/executions/{operation.execution_id}/operations/{operation.operation_id}"
    rule = Rule(name="slack", webhook_url="https://hooks.example.com/x", webhook_format="slack")
    text = f"Callback {operation.label} of {operation.execution.name} is waiting.\n{link}"
    message = channels.Message(
        "callback", "s", text, link, callback=(operation.execution_id, operation.operation_id)
    )
    return json.loads(channels.webhook_body(rule, message))


def click_body(
    message: dict[str, Any],
    action: str,
    user: str,
    response_url: str,
    reason: str | None = None,
    team: str = TEAM,
) -> bytes:
    """A block_actions request body as Slack sends it: form-encoded payload=<JSON>."""
    [buttons] = [b for b in message["blocks"] if b["type"] == "actions"]
    [button] = [e for e in buttons["elements"] if e["action_id"] == action]
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": team},
        "api_app_id": "A0CONSOLE",
        "token": "a-deprecated-verification-token",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C01"},
        "trigger_id": f"1234.5678.{uuid.uuid4().hex}",  # new for every click
        "team": {"id": team, "domain": "example"},
        "channel": {"id": "C01", "name": "approvals"},
        "message": {"type": "message", "ts": "1700000000.000100", **message},
        "state": {
            "values": {
                slack.BLOCK_REASON: {slack.REASON: {"type": "plain_text_input", "value": reason}}
            }
        },
        "response_url": response_url,
        "actions": [
            {
                "block_id": buttons["block_id"],
                "action_ts": f"{time.time():.6f}",
                **button,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def post(client, body: bytes, *, timestamp: int | None = None, secret: str = SECRET):
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return client.post(
        "/slack/interactions",
        body,
        content_type="application/x-www-form-urlencoded",
        headers={
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(body, stamp, secret),
        },
    )


def click(client, operation, action, user, hooks, reason=None, message=None):
    body = click_body(message or message_for(operation), action, user, hooks.url, reason)
    return post(client, body)


# ---- the console's side -------------------------------------------------------------------


def _waiting(source, lambda_client) -> Operation:
    tag = uuid.uuid4().hex[:8]
    arn = start(lambda_client, "coffee-order", {"orderId": tag}, f"slack-{tag}")
    wait_for_callback(lambda_client, arn, "baristaAccepts")
    execution = sync.sync_arn(source, arn)
    return Operation.objects.select_related(
        "execution", "execution__function", "execution__source"
    ).get(execution=execution, type="CALLBACK")


def _linked(name: str, role: str, slack_id: str) -> User:
    person = factories.user(name, role)
    slack.link(person, slack_id, TEAM, by="test")
    return person


def _sends(api_calls) -> int:
    return sum(api_calls.count(op) for op in SENDS)


def _callback_events(lambda_client, arn: str) -> list[dict[str, Any]]:
    return [e for e in history(lambda_client, arn) if e["EventType"].startswith("Callback")]


def _event_types(lambda_client, arn: str) -> list[str]:
    return [e["EventType"] for e in _callback_events(lambda_client, arn)]


def _action_ids(message: dict[str, Any]) -> list[str]:
    return [
        e.get("action_id")
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def _outcome(message: dict[str, Any]) -> str:
    [block] = [b for b in message["blocks"] if b.get("block_id") == slack.BLOCK_OUTCOME]
    return block["text"]["text"]


# ---- the message --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_callbacks_slack_message_carries_approve_reject_a_reason_and_the_link(
    sandbox_source, lambda_sandbox, settings
):
    settings.OUTGOING_ALLOWED_NETWORKS = [RECEIVER_NETWORK]
    with Receiver() as receiver:
        Rule.objects.create(
            name="slack",
            webhook_url=receiver.url,
            webhook_format=WebhookFormat.SLACK,
            callback_pattern="barista*",
            on_deadline=False,
        )
        operation = _waiting(sandbox_source, lambda_sandbox)
        scan.scan()
        for delivery in Delivery.objects.all():
            deliver.attempt(delivery.pk)

    [request] = receiver.requests
    body = json.loads(request["body"])
    link = f"{BASE}/executions/{operation.execution_id}/operations/{operation.operation_id}"
    assert f"<{link}|Open in Durable Console>" in body["text"]  # the fallback stays
    section, reason, actions, hint = body["blocks"]
    # What each button sends is said under the buttons, so the section leaves it out.
    assert answers.HINT in body["text"]
    assert section["type"] == "section"
    assert section["text"]["text"] == body["text"].replace(answers.HINT + "\n", "")
    assert hint["type"] == "context" and hint["elements"][0]["text"] == answers.HINT
    assert reason["type"] == "input" and reason["optional"] is True
    assert reason["label"]["text"] == "Reason"
    assert reason["element"]["type"] == "plain_text_input"
    assert reason["element"]["action_id"] == "reason"
    approve, reject, open_ = actions["elements"]
    value = f"{operation.execution_id}:{operation.operation_id}"
    assert (approve["action_id"], approve["style"], approve["value"]) == (
        "approve",
        "primary",
        value,
    )
    assert (reject["action_id"], reject["style"], reject["value"]) == ("reject", "danger", value)
    assert open_["url"] == link and open_["text"]["text"] == "Open in Durable Console"
    # The callback id would answer the callback without the console: it is nowhere in it.
    assert operation.callback_id not in request["body"].decode()


def test_without_a_signing_secret_a_slack_message_has_no_buttons(settings):
    settings.SLACK_SIGNING_SECRET = ""
    rule = Rule(name="s", webhook_url="https://hooks.example.com/x", webhook_format="slack")
    link = f"{BASE}/executions/1/operations/abc"
    message = channels.Message("callback", "s", f"waiting\n{link}", link, callback=(1, "abc"))
    assert set(json.loads(channels.webhook_body(rule, message))) == {"text"}
    settings.SLACK_SIGNING_SECRET = SECRET
    assert "blocks" in json.loads(channels.webhook_body(rule, message))
    failed = channels.Message("failed", "s", f"failed\n{link}", link)
    assert set(json.loads(channels.webhook_body(rule, failed))) == {"text"}


# ---- the signature ------------------------------------------------------------------------


def test_slacks_own_worked_example_verifies():
    # docs.slack.dev/authentication/verifying-requests-from-slack: a slash command's body.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert slack.signature(SECRET, "1531420618", body) == expected == sign(body, "1531420618")
    slack.verify(SECRET, "1531420618", expected, body, now=1531420618 + 299)
    with pytest.raises(slack.Refused, match="five minutes"):
        slack.verify(SECRET, "1531420618", expected, body, now=1531420618 + 301)
    with pytest.raises(slack.Refused, match="does not match"):
        slack.verify(SECRET, "1531420618", expected, body + b"&x=1", now=1531420618)


@pytest.mark.django_db
def test_a_forged_an_old_or_a_replayed_click_is_refused_and_nothing_is_sent(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager, settings, caplog
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    _linked("alice", "operator", "U0ALICE")
    body = click_body(message_for(operation), "approve", "U0ALICE", hooks.url)
    now = int(time.time())
    api_calls.clear()

    forged = post(client, body, secret="not-the-signing-secret")
    old = post(client, body, timestamp=now - 6 * 60)
    future = post(client, body, timestamp=now + 6 * 60)
    unsigned = client.post(
        "/slack/interactions", body, content_type="application/x-www-form-urlencoded"
    )
    tampered_body = body.replace(b"approve", b"reject")
    stamp = str(now)
    tampered = client.post(
        "/slack/interactions",
        tampered_body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(body, stamp)},
    )
    settings.SLACK_SIGNING_SECRET = ""
    unconfigured = post(client, body)
    settings.SLACK_SIGNING_SECRET = SECRET

    for response, reason in [
        (forged, "The signature does not match."),
        (old, "more than five minutes from now"),
        (future, "more than five minutes from now"),
        (unsigned, "Not signed"),
        (tampered, "The signature does not match."),
        (unconfigured, "not set up on this console"),
    ]:
        assert response.status_code == 401, reason
        assert response["Content-Type"].startswith("text/plain")
        assert reason in response.content.decode()
    assert "SLACK_SIGNING_SECRET is not set" in caplog.text
    assert _sends(api_calls) == 0 and hooks.receiver.requests == []
    assert _event_types(lambda_sandbox, operation.execution.arn) == ["CallbackStarted"]

    # The genuine request is taken once; the same request again is a replay.
    stamp = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(body, stamp)}
    kind = "application/x-www-form-urlencoded"
    first = client.post("/slack/interactions", body, content_type=kind, headers=headers)
    again = client.post("/slack/interactions", body, content_type=kind, headers=headers)
    assert first.status_code == 200
    assert again.status_code == 401 and "replay" in again.content.decode()
    assert api_calls.count(SENDS[0]) == 1 and len(hooks.receiver.requests) == 1
    assert _event_types(lambda_sandbox, operation.execution.arn).count("CallbackSucceeded") == 1


@pytest.mark.django_db
def test_a_signed_request_that_is_not_a_click_on_a_callback_is_a_400_that_says_why(
    client, hooks, eager, api_calls
):
    message = {
        "blocks": slack.callback_blocks("waiting", f"{BASE}/x", 1, "op-1"),
        "text": "waiting",
    }
    good = json.loads(
        parse_qs(click_body(message, "approve", "U0X", hooks.url).decode())["payload"][0]
    )

    def refused(payload: Any, raw: bytes | None = None) -> str:
        body = raw if raw is not None else urlencode({"payload": json.dumps(payload)}).encode()
        response = post(client, body)
        assert response.status_code == 400, response.content
        return response.content.decode()

    assert "not JSON" in refused(None, b"payload=%7Bnot+json")
    assert "no payload field" in refused(None, b"text=hello")
    assert "view_submission" in refused({**good, "type": "view_submission"})
    assert "Unknown action" in refused(
        {**good, "actions": [{"action_id": "delete", "value": "1:x"}]}
    )
    assert "does not name a callback" in refused(
        {**good, "actions": [{**good["actions"][0], "value": "one:op-1"}]}
    )
    assert "not Slack's" in refused({**good, "response_url": "https://attacker.example.com/x"})
    assert "not Slack's" in refused({**good, "response_url": hooks.url.replace("https", "http")})
    assert "no Slack user" in refused({**good, "user": {"name": "alice"}})
    # The link button needs nothing: acknowledged, nothing done.
    link = {**good, "actions": [{"action_id": "open", "type": "button", "url": f"{BASE}/x"}]}
    assert post(client, urlencode({"payload": json.dumps(link)}).encode()).status_code == 200
    assert hooks.receiver.requests == [] and _sends(api_calls) == 0


# ---- answers ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_linked_operator_approves_and_the_message_says_who_and_when(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    _linked("alice", "operator", "U0ALICE")
    api_calls.clear()

    response = click(client, operation, "approve", "U0ALICE", hooks)

    assert response.status_code == 200 and response.content == b""
    assert api_calls.count(SENDS[0]) == 1 and api_calls.count(SENDS[1]) == 0
    assert "CallbackSucceeded" in _event_types(lambda_sandbox, operation.execution.arn)
    [update] = hooks.messages()
    assert update["replace_original"] is True
    assert re.fullmatch(
        r"\*Approved by alice \(<@U0ALICE>\) at \d\d:\d\d UTC\* \(success sent\)\.",
        _outcome(update),
    )
    assert _action_ids(update) == []  # the buttons are gone
    assert not any(b["type"] == "input" for b in update["blocks"])
    assert update["blocks"][0]["block_id"] == slack.BLOCK_MESSAGE  # the text stays
    entry = AuditEntry.objects.get(action="callback_success")
    assert (entry.username, entry.via, entry.outcome) == ("alice", "Slack", "SUCCEEDED")
    assert entry.callback_id == operation.callback_id
    # The result every form offers (domain/answers.py), not an empty one.
    assert json.loads(entry.payload) == {"approved": True}


@pytest.mark.django_db
def test_a_rejection_sends_the_failure_with_the_reason(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    _linked("bob", "operator", "U0BOB")
    api_calls.clear()

    click(client, operation, "reject", "U0BOB", hooks, reason="  out of beans  ")

    assert api_calls.count(SENDS[1]) == 1 and api_calls.count(SENDS[0]) == 0
    [failed] = [
        e
        for e in _callback_events(lambda_sandbox, operation.execution.arn)
        if e["EventType"] == "CallbackFailed"
    ]
    error = failed["CallbackFailedDetails"]["Error"]["Payload"]
    assert (error["ErrorType"], error["ErrorMessage"]) == ("Rejected", "out of beans")
    [update] = hooks.messages()
    assert _outcome(update).startswith("*Rejected by bob (<@U0BOB>) at ")
    assert _outcome(update).endswith("* (failure sent), reason: out of beans.")
    entry = AuditEntry.objects.get(action="callback_failure")
    assert entry.via == "Slack" and json.loads(entry.payload)["ErrorMessage"] == "out of beans"


@pytest.mark.django_db
def test_under_the_two_person_rule_the_first_click_is_held_and_the_second_sends(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager
):
    ApprovalPolicy.objects.create(
        name="two-people",
        source=sandbox_source,
        function_pattern="coffee-order",
        approvals_required=2,
    )
    operation = _waiting(sandbox_source, lambda_sandbox)
    _linked("alice", "operator", "U0ALICE")
    _linked("bob", "operator", "U0BOB")
    api_calls.clear()

    click(client, operation, "approve", "U0ALICE", hooks, reason="checked")

    assert _sends(api_calls) == 0
    assert _event_types(lambda_sandbox, operation.execution.arn) == ["CallbackStarted"]
    [held] = hooks.messages()
    assert held["replace_original"] is True
    assert "Approved by alice" in _outcome(held) and "Held: 1 of 2 approvals" in _outcome(held)
    assert "nothing was sent yet" in _outcome(held)
    assert _action_ids(held) == ["approve", "reject", "open"]  # others may still answer
    assert any(b["type"] == "input" for b in held["blocks"])

    # Bob clicks on the message as it now reads.
    click(client, operation, "approve", "U0BOB", hooks, message=held)

    assert api_calls.count(SENDS[0]) == 1
    assert _event_types(lambda_sandbox, operation.execution.arn).count("CallbackSucceeded") == 1
    done = hooks.messages()[-1]
    assert "Approved by bob (<@U0BOB>)" in _outcome(done)
    assert "with alice; policy “two-people”" in _outcome(done)
    assert _action_ids(done) == []
    assert [b.get("block_id") for b in done["blocks"]].count(slack.BLOCK_OUTCOME) == 1
    approvals = AuditEntry.objects.filter(action="approval")
    assert set(approvals.values_list("via", flat=True)) == {"Slack"}


@pytest.mark.django_db
def test_an_unlinked_slack_user_is_told_how_to_get_linked_and_nothing_is_sent(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    # A console user named like the Slack user's name is not them: names are never used.
    factories.user("someone", "operator")
    api_calls.clear()

    click(client, operation, "approve", "U0STRANGER", hooks)

    assert _sends(api_calls) == 0
    assert _event_types(lambda_sandbox, operation.execution.arn) == ["CallbackStarted"]
    [refusal] = hooks.messages()
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert "not linked to a Durable Console user" in refusal["text"]
    assert f"manage.py slackuser YOUR_USERNAME U0STRANGER --team {TEAM}" in refusal["text"]
    assert not AuditEntry.objects.filter(action__startswith="callback").exists()


@pytest.mark.django_db
def test_a_viewer_may_not_answer_from_slack(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    _linked("vic", "viewer", "U0VIC")
    api_calls.clear()

    click(client, operation, "approve", "U0VIC", hooks)

    assert _sends(api_calls) == 0
    assert _event_types(lambda_sandbox, operation.execution.arn) == ["CallbackStarted"]
    [refusal] = hooks.messages()
    assert refusal["response_type"] == "ephemeral"
    assert "needs the operator role" in refusal["text"]


@pytest.mark.django_db
def test_a_policys_reason_and_its_approvers_apply_to_slack_clicks(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager
):
    ApprovalPolicy.objects.create(
        name="leads", source=sandbox_source, function_pattern="coffee-order",
        approver_users="lea", reason_to_approve=True,
    )  # fmt: skip
    operation = _waiting(sandbox_source, lambda_sandbox)
    _linked("lea", "operator", "U0LEA")
    _linked("otto", "operator", "U0OTTO")
    api_calls.clear()

    click(client, operation, "approve", "U0OTTO", hooks, reason="fine")
    click(client, operation, "approve", "U0LEA", hooks)

    assert _sends(api_calls) == 0
    outsider, no_reason = hooks.messages()
    assert outsider["response_type"] == no_reason["response_type"] == "ephemeral"
    assert "lets only lea" in outsider["text"]
    assert "asks for a reason to approve" in no_reason["text"]

    click(client, operation, "approve", "U0LEA", hooks, reason="ticket 42")
    assert api_calls.count(SENDS[0]) == 1
    assert _outcome(hooks.messages()[-1]).endswith("* (success sent), reason: ticket 42.")


@pytest.mark.django_db
def test_a_callback_answered_elsewhere_says_so_and_nothing_is_sent(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    _linked("alice", "operator", "U0ALICE")
    # Answered outside the console (the mirror has not seen it yet).
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=operation.callback_id, Result=b'{"by": "someone else"}'
    )
    api_calls.clear()

    click(client, operation, "approve", "U0ALICE", hooks)

    assert _sends(api_calls) == 0
    assert _event_types(lambda_sandbox, operation.execution.arn).count("CallbackSucceeded") == 1
    [refusal] = hooks.messages()
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert "no longer pending" in refusal["text"] and "nothing was sent" in refusal["text"]


@pytest.mark.django_db
def test_a_second_click_after_the_answer_sends_nothing_again(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    _linked("alice", "operator", "U0ALICE")
    api_calls.clear()

    click(client, operation, "approve", "U0ALICE", hooks)
    click(client, operation, "reject", "U0ALICE", hooks)  # a later request: another signature

    assert api_calls.count(SENDS[0]) == 1 and api_calls.count(SENDS[1]) == 0
    approved, refusal = hooks.messages()
    assert approved["replace_original"] is True
    assert refusal["response_type"] == "ephemeral" and "no longer pending" in refusal["text"]


# ---- who the Slack user is ---------------------------------------------------------------------


@pytest.mark.django_db
def test_with_a_bot_token_the_slack_profiles_email_finds_exactly_one_console_user(
    client, sandbox_source, lambda_sandbox, api_calls, hooks, eager, settings
):
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    profile = {
        "id": "U0CARA",
        "deleted": False,
        "is_bot": False,
        "profile": {"email": "Cara@Example.com"},
    }
    cara = factories.user("cara", "operator")
    twin = factories.user("cara-old", "operator")
    User.objects.filter(pk=twin.pk).update(email="cara@example.com")
    Identity.objects.create(
        user=cara, issuer="https://login.example.com", subject="c-1",
        claims={"email": "cara@example.com"},
    )  # fmt: skip
    operation = _waiting(sandbox_source, lambda_sandbox)
    api_calls.clear()

    with SlackApi({"U0CARA": profile}) as api:
        settings.SLACK_API_URL = api.url
        click(client, operation, "approve", "U0CARA", hooks)  # two users have the address
        User.objects.filter(pk=twin.pk).update(is_active=False)
        click(client, operation, "approve", "U0NOBODY", hooks)  # Slack knows no such user
        click(client, operation, "approve", "U0CARA", hooks)

    ambiguous, unknown, approved = hooks.messages()
    assert "More than one console user has the email address" in ambiguous["text"]
    assert "user_not_found" in unknown["text"]
    assert "Approved by cara (<@U0CARA>)" in _outcome(approved)
    assert api_calls.count(SENDS[0]) == 1
    request = api.requests[0]
    assert request["path"] == "/api/users.info" and request["user"] == "U0CARA"
    assert request["headers"]["Authorization"] == "Bearer xoxb-test-token"
    assert AuditEntry.objects.get(action="callback_success").username == "cara"


@pytest.mark.django_db
def test_an_identity_providers_unverified_email_finds_nobody(settings):
    cara = factories.user("cara", "operator")
    Identity.objects.create(
        user=cara, issuer="https://login.example.com", subject="c-1",
        claims={"email": "cara@example.com", "email_verified": False},
    )  # fmt: skip
    with pytest.raises(slack.NotLinked, match="No console user has the email address"):
        slack.by_email("cara@example.com")
    Identity.objects.filter(user=cara).update(claims={"email": "CARA@example.com"})
    assert slack.by_email("cara@example.com") == cara


@pytest.mark.django_db
def test_an_administrator_links_and_unlinks_slack_users_with_manage_py_slackuser(capsys):
    alice, bob = factories.user("alice"), factories.user("bob")

    call_command("slackuser", "alice", "U0ALICE", "--team", TEAM)
    assert "Linked Slack user U0ALICE (workspace T0CONSOLE) to alice." in capsys.readouterr().out
    assert slack.person(TEAM, "U0ALICE") == alice
    # Another workspace's U0ALICE is someone else.
    with pytest.raises(slack.NotLinked, match="not linked"):
        slack.person("T0OTHER", "U0ALICE")
    with pytest.raises(CommandError, match="is linked to alice: unlink it first"):
        call_command("slackuser", "bob", "U0ALICE")
    with pytest.raises(CommandError, match="not a Slack user id"):
        call_command("slackuser", "bob", "@alice")
    with pytest.raises(CommandError, match="No user named carol"):
        call_command("slackuser", "carol", "U0CAROL")

    call_command("slackuser", "bob", "U0BOB")  # any workspace
    assert slack.person("T0OTHER", "U0BOB") == bob
    call_command("slackuser", "alice")
    assert "alice: Slack user U0ALICE (workspace T0CONSOLE)" in capsys.readouterr().out

    User.objects.filter(pk=bob.pk).update(is_active=False)
    with pytest.raises(slack.NotLinked, match="which is deactivated"):
        slack.person(TEAM, "U0BOB")

    call_command("slackuser", "alice", "U0ALICE", "--unlink")
    with pytest.raises(slack.NotLinked):
        slack.person(TEAM, "U0ALICE")
    with pytest.raises(CommandError, match="has no Slack link"):
        call_command("slackuser", "alice", "--unlink")
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "username"))
    assert actions == [
        ("slack_linked", "alice"),
        ("slack_linked", "bob"),
        ("slack_unlinked", "alice"),
    ]
