"""How a message goes out: email through Django's email backend, or a webhook (an HTTP
POST of JSON, signed with the rule's secret).

Webhook bodies carry `X-Durable-Console-Signature: sha256=<hex HMAC-SHA256 of the body
with the rule's secret>`; a receiver recomputes it over the raw body to know the message
is the console's. With the Slack format the body is `{"text": ...}`, which Slack's (and
Mattermost's, Teams' workflow) incoming webhooks post as a message; a callback's message
also carries Block Kit `blocks` with a reason input and Approve and Reject buttons once
Slack's clicks can be checked (SLACK_SIGNING_SECRET: notify/slack.py), the text staying
as the fallback.

Webhooks (Slack's too) go out through notify/outgoing.py, the one client with the address
guard: public addresses only (unless OUTGOING_ALLOWED_NETWORKS names the host), no
redirects, and a failure says the status or "could not connect", never the answer's body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage

from notify import outgoing
from notify.models import Channel, Rule, WebhookFormat

SIGNATURE_HEADER = "X-Durable-Console-Signature"
WEBHOOK_TIMEOUT_SECONDS = 10


class SendFailed(Exception):
    """The channel refused or could not be reached; the message says why."""


@dataclass
class Message:
    """What a delivery says, the same for every channel."""

    event: str
    subject: str  # one line: email subject, Slack text's first line
    text: str  # a few lines of plain text, the link last
    link: str
    data: dict[str, Any] = field(default_factory=dict)  # the webhook's JSON fields
    # Emailed beside the rule's addresses: the approvers a callback's policy names.
    recipients: list[str] = field(default_factory=list)
    # The callback a person may answer from the message (execution pk, operation id):
    # Slack's buttons name it.
    callback: tuple[int, str] | None = None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_body(rule: Rule, message: Message) -> bytes:
    if rule.webhook_format == WebhookFormat.SLACK:
        # Slack's link syntax: <url|label>. Names are escaped as Slack asks (&, <, >), so
        # an execution named "<!channel>" does not ping a channel.
        lines = slack_escape(message.text.replace(message.link, "").rstrip())
        text = f"{lines}\n<{message.link}|Open in Durable Console>"
        payload: dict[str, Any] = {"text": text}
        if message.callback is not None and settings.SLACK_SIGNING_SECRET:
            # Buttons only where a click can be checked: without the signing secret the
            # console refuses every click, and a button that can only fail is worse than none.
            from notify import slack

            payload["blocks"] = slack.callback_blocks(text, message.link, *message.callback)
    else:
        payload = {
            "event": message.event,
            "subject": message.subject,
            "text": message.text,
            "link": message.link,
            **message.data,
        }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()


def send_webhook(rule: Rule, message: Message) -> None:
    body = webhook_body(rule, message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "durable-console-notify/1",
        SIGNATURE_HEADER: signature(rule.secret, body),
    }
    try:
        answer = outgoing.post(rule.webhook_url, body, headers, WEBHOOK_TIMEOUT_SECONDS)
    except outgoing.OutgoingError as exc:
        raise SendFailed(str(exc)) from exc
    if not answer.ok:
        raise SendFailed(answer.failure("webhook"))


def send_email(rule: Rule, message: Message) -> None:
    email = EmailMessage(
        subject=message.subject,
        body=message.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(dict.fromkeys([*rule.recipients, *message.recipients])),
    )
    try:
        sent = email.send(fail_silently=False)
    except Exception as exc:  # smtplib, socket and SSL errors alike: keep the reason
        raise SendFailed(f"The mail server refused or could not be reached: {exc}") from exc
    if not sent:
        raise SendFailed("The email backend sent nothing.")


def send(channel: str, rule: Rule, message: Message) -> None:
    if channel == Channel.EMAIL:
        if not rule.recipients:
            raise SendFailed("The rule has no email addresses any more.")
        send_email(rule, message)
    elif channel == Channel.WEBHOOK:
        if not rule.webhook_url:
            raise SendFailed("The rule has no webhook URL any more.")
        send_webhook(rule, message)
    else:
        raise SendFailed(f"Unknown channel {channel!r}.")
