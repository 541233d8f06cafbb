"""Slack's Approve and Reject buttons: the blocks a callback's Slack message carries, the
request Slack sends when someone clicks one (the Slack app's interactivity Request URL,
POST /slack/interactions), and who the clicker is to the console.

A click is believed only when Slack signed it: `X-Slack-Signature` is `v0=` + the hex
HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}`, keyed with the app's signing
secret (SLACK_SIGNING_SECRET); the timestamp is within five minutes of now, either way;
and the same signature was not seen before (Redis remembers each one for as long as it
could pass the time check). Anything else is a 401 with a short reason, and nothing is
done. Without a signing secret every request is refused, and the messages carry no
buttons.

Slack wants an answer within three seconds, so the view only checks and queues; the task
(notify.tasks.slack_answer) finds the console user, answers the callback through
actions.approvals.answer (the one way every path answers: the role, the approval policy
and the audit log, which says "via Slack", apply as on the pages), and tells Slack through
the click's response_url: the message is replaced by who decided and when; an approval a
policy holds for more people keeps its buttons, with the count; a refusal (not linked, not
allowed, no longer waiting, a reason needed) goes to the clicker alone.

Who a Slack user is: the console user an administrator linked their Slack user id to
(`manage.py slackuser`: an Identity with issuer "slack", or "slack:<team id>" for one
workspace; not an OpenID issuer, so it signs nobody in); else, with a bot token
(SLACK_BOT_TOKEN, scopes users:read and users:read.email), the one active console user
whose email address (their own, or the identity provider's verified one) is the Slack
profile's. Never a Slack user name or display name: anyone can choose those. Linking is an
administrator's act, never a person's own: whoever claimed another's Slack id would make
that person's clicks count as theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from access.models import Identity
from domain import answers
from executions import lambda_api, sync
from executions.locks import lock_key, redis_client, redis_key
from executions.models import AuditEntry, AuditOutcome, Operation
from executions.models.records import acting_via
from notify import outgoing
from notify.channels import slack_escape

logger = logging.getLogger(__name__)

# Identity.issuer of a Slack link: "slack" holds for every workspace the app is installed
# in, "slack:T012AB3C4" for that workspace only.
ISSUER = "slack"
# Slack's own rule: a request whose timestamp is more than five minutes from now is refused.
TOLERANCE_SECONDS = 5 * 60
# A signature can pass the time check for ten minutes (five either side of its timestamp).
SEEN_SECONDS = 2 * TOLERANCE_SECONDS + 60
VIA = "Slack"

APPROVE, REJECT, OPEN = "approve", "reject", "open"
REASON = "reason"  # the reason input's action_id
CLICK_EXPIRES_SECONDS = 30 * 60
MAX_REASON = 2000
BLOCK_MESSAGE = "durable-message"
BLOCK_REASON = "durable-reason"
BLOCK_ANSWER = "durable-answer"
BLOCK_OUTCOME = "durable-outcome"
BLOCK_HINT = "durable-hint"  # under the buttons: what each sends
SECTION_LIMIT = 3000  # characters of a section block's text
RESPONSE_TIMEOUT_SECONDS = 10
API_TIMEOUT_SECONDS = 10
API_MAX_BODY = 256 * 1024  # users.info answers a few kilobytes
ANSWER_LOCK_SECONDS = 120

# Slack's ids: upper-case letters and digits (U012ABCDEF, W…; teams T…, E…).
SLACK_ID = re.compile(r"[A-Z][A-Z0-9]{1,31}")
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
SLACK_TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,31}")


# ---- the message's blocks ------------------------------------------------------------


def callback_value(execution_id: int, operation_id: str) -> str:
    """What the buttons carry: which callback (the execution's row and the operation),
    never its callback id, which would answer it without the console."""
    return f"{execution_id}:{operation_id}"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def callback_blocks(text: str, link: str, execution_id: int, operation_id: str) -> list[dict]:
    """Block Kit for a callback's message: the text (mrkdwn, escaped by the caller), an
    optional reason, Approve and Reject, a link to the callback's page, and under them what
    each button sends (domain/answers.py; the line moves there from the text)."""
    value = callback_value(execution_id, operation_id)
    text = "\n".join(line for line in text.split("\n") if line != answers.HINT)
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return [
        {"type": "section", "block_id": BLOCK_MESSAGE, "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "input",
            "block_id": BLOCK_REASON,
            "optional": True,
            "label": _plain("Reason"),
            "hint": _plain("A rejection sends it as its error message; some policies ask for one."),
            "element": {
                "type": "plain_text_input",
                "action_id": REASON,
                "max_length": MAX_REASON,
                "placeholder": _plain("Why you approve or reject it"),
            },
        },
        {
            "type": "actions",
            "block_id": BLOCK_ANSWER,
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE,
                    "text": _plain(answers.APPROVE.button),
                    "style": "primary",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": REJECT,
                    "text": _plain(answers.REJECT.button),
                    "style": "danger",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": OPEN,
                    "text": _plain("Open in Durable Console"),
                    "url": link,
                },
            ],
        },
        {
            "type": "context",
            "block_id": BLOCK_HINT,
            "elements": [{"type": "mrkdwn", "text": answers.HINT}],
        },
    ]


# ---- is it Slack's? ------------------------------------------------------------------


class Refused(Exception):
    """Not a request of Slack's, or not any more: a 401 with this reason, nothing done."""


class BadRequest(Exception):
    """Signed by Slack, but not a click the console handles: a 400 with this reason."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of a request: v0= + hex HMAC-SHA256 of v0:{timestamp}:{body}."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, given: str, body: bytes, now: float | None = None) -> None:
    """Raise Refused unless `given` is Slack's signature of `body` at `timestamp`, and
    `timestamp` is within five minutes of now."""
    if not given or not timestamp:
        raise Refused("Not signed: X-Slack-Signature and X-Slack-Request-Timestamp are needed.")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Refused("X-Slack-Request-Timestamp is not a Unix time.")
    expected = signature(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, given.encode("utf-8", "replace")):
        raise Refused("The signature does not match.")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise Refused("The request's timestamp is more than five minutes from now.")


def first_time(given: str) -> bool:
    """True the first time a (verified) signature is seen; False for a replay."""
    digest = hashlib.sha256(given.encode("utf-8", "replace")).hexdigest()
    key = redis_key("slack", "seen", digest)
    return bool(redis_client().set(key, "1", nx=True, ex=SEEN_SECONDS))


# ---- what was clicked -----------------------------------------------------------------


@dataclass
class Click:
    """A click on Approve or Reject, as the task gets it (plain JSON values)."""

    user_id: str
    team_id: str
    action: str
    execution_id: int
    operation_id: str
    reason: str
    response_url: str
    # The message's blocks as Slack shows them, to update it in place.
    blocks: list[dict[str, Any]] = field(default_factory=list)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_value(value: Any) -> tuple[int, str]:
    """(execution pk, operation id) from a button's value; BadRequest when it names none."""
    head, sep, operation_id = value.partition(":") if isinstance(value, str) else ("", "", "")
    if not (sep and head.isascii() and head.isdigit() and len(head) <= 18):
        raise BadRequest("The button's value does not name a callback.")
    if not operation_id or len(operation_id) > 256:
        raise BadRequest("The button's value does not name a callback.")
    return int(head), operation_id


def check_response_url(url: Any) -> str:
    """The click's response_url, if it is Slack's (https on SLACK_RESPONSE_URL_HOSTS);
    else BadRequest. The address guard of notify/outgoing.py applies as well."""
    hosts = settings.SLACK_RESPONSE_URL_HOSTS
    refused = BadRequest(f"The response_url is not Slack's (https on {', '.join(hosts)}).")
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise refused
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError as exc:
        raise refused from exc
    if parts.scheme != "https" or "@" in parts.netloc or host not in hosts:
        raise refused
    return url


def _reason(state: Any) -> str:
    """The reason typed into the message's input (state.values), stripped."""
    for block in _dict(_dict(state).get("values")).values():
        entry = _dict(_dict(block).get(REASON))
        if entry.get("type") == "plain_text_input":
            value = entry.get("value")
            return value.strip() if isinstance(value, str) else ""
    return ""


def parse(body: bytes) -> Click | None:
    """The click a signed request carries (`payload=<JSON>`, type block_actions), or None
    for a click on the link button, which needs nothing; BadRequest for anything else."""
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The body is not a form with a payload field.") from exc
    values = form.get("payload") or []
    if len(values) != 1:
        raise BadRequest("The body has no payload field (or more than one).")
    try:
        payload = json.loads(values[0])
    except (ValueError, RecursionError) as exc:
        raise BadRequest("The payload is not JSON.") from exc
    if not isinstance(payload, dict):
        raise BadRequest("The payload is not a JSON object.")
    kind = payload.get("type")
    if kind != "block_actions":
        raise BadRequest(f"Only button clicks (block_actions) are handled, not {str(kind)[:40]}.")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise BadRequest("The payload names no action.")
    action = actions[0]
    action_id = action.get("action_id")
    if action_id == OPEN:
        return None
    if action_id not in (APPROVE, REJECT):
        raise BadRequest(f"Unknown action {str(action_id)[:40]}: only approve and reject.")
    user = _dict(payload.get("user"))
    user_id = user.get("id")
    if not isinstance(user_id, str) or not SLACK_ID.fullmatch(user_id):
        raise BadRequest("The payload names no Slack user.")
    team_id = _dict(payload.get("team")).get("id") or user.get("team_id") or ""
    if not isinstance(team_id, str) or (team_id and not SLACK_ID.fullmatch(team_id)):
        raise BadRequest("The payload's team id is not one of Slack's.")
    execution_id, operation_id = parse_value(action.get("value"))
    response_url = check_response_url(payload.get("response_url"))
    blocks = _dict(payload.get("message")).get("blocks")
    return Click(
        user_id=user_id,
        team_id=team_id,
        action=action_id,
        execution_id=execution_id,
        operation_id=operation_id,
        reason=_reason(payload.get("state")),
        response_url=response_url,
        blocks=[b for b in blocks if isinstance(b, dict)][:50] if isinstance(blocks, list) else [],
    )


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


@login_not_required
@csrf_exempt
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    """Slack's interactivity Request URL: check the request is Slack's, queue the answer,
    and acknowledge at once (Slack waits three seconds)."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        logger.error(
            "Slack: refused a request to /slack/interactions: SLACK_SIGNING_SECRET is not set, "
            "so no click can be checked (docs/SLACK.md)"
        )
        return _text("Slack's buttons are not set up on this console (no signing secret).", 401)
    body = request.body
    given = request.headers.get("X-Slack-Signature", "")
    try:
        verify(secret, request.headers.get("X-Slack-Request-Timestamp", ""), given, body)
        if not first_time(given):
            raise Refused("This request was received before: a replay is refused.")
    except Refused as exc:
        logger.warning("Slack: refused a request to /slack/interactions: %s", exc)
        return _text(str(exc), 401)
    except redis.RedisError:
        logger.exception("Slack: could not check a request for a replay (Redis)")
        return _text("The console cannot check this request now; try again.", 503)
    try:
        click = parse(body)
    except BadRequest as exc:
        logger.warning("Slack: a signed request the console does not handle: %s", exc)
        return _text(str(exc), 400)
    if click is not None:
        from notify import tasks

        try:
            # Slack's response_url lasts 30 minutes: a click queued while no worker ran is
            # dropped after that rather than acted on hours later, when the person who
            # clicked has long moved on (and could no longer be told what happened).
            tasks.slack_answer.apply_async((asdict(click),), expires=CLICK_EXPIRES_SECONDS)
        except Exception:  # noqa: BLE001 (the broker's errors are kombu's and redis's)
            logger.exception("Slack: could not queue the answer to a click")
            return _text("The console cannot take this click now; try again.", 503)
    return HttpResponse(status=200)


# ---- who clicked ------------------------------------------------------------------------


class NotLinked(Exception):
    """The console cannot tell which of its users the Slack user is; says why."""


def issuer(team_id: str = "") -> str:
    return f"{ISSUER}:{team_id}" if team_id else ISSUER


def is_slack_issuer(value: str) -> bool:
    return value == ISSUER or value.startswith(ISSUER + ":")


def _hint(user_id: str, team_id: str) -> str:
    team = f" --team {team_id}" if team_id else ""
    return (
        "Ask a console administrator to link your Slack account to your console user: "
        f"`manage.py slackuser YOUR_USERNAME {user_id}{team}`."
    )


def person(team_id: str, user_id: str) -> Any:
    """The console user the Slack user `user_id` of workspace `team_id` is; NotLinked."""
    issuers = [issuer(team_id), ISSUER] if team_id else [ISSUER]
    links = sorted(
        Identity.objects.select_related("user").filter(subject=user_id, issuer__in=issuers),
        key=lambda identity: issuers.index(identity.issuer),  # one workspace's link first
    )
    if links:
        user = links[0].user
        if not user.is_active:
            raise NotLinked(
                f"Your Slack account is linked to the console user {user.get_username()}, "
                "which is deactivated; nothing was sent."
            )
        return user
    if not settings.SLACK_BOT_TOKEN:
        raise NotLinked(
            "Your Slack account is not linked to a Durable Console user, so the console "
            f"cannot tell who you are; nothing was sent. {_hint(user_id, team_id)}"
        )
    return by_email(slack_email(user_id, team_id), user_id, team_id)


def slack_email(user_id: str, team_id: str = "") -> str:
    """The email address of the Slack user's profile (Slack's users.info, with the bot
    token); NotLinked when Slack does not give one."""
    hint = _hint(user_id, team_id)
    try:
        answer = outgoing.post(
            f"{settings.SLACK_API_URL}/users.info",
            urlencode({"user": user_id}).encode(),
            {
                "Authorization": f"Bearer {settings.SLACK_BOT_TOKEN}",
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "durable-console-slack/1",
            },
            API_TIMEOUT_SECONDS,
            label="Slack Web API",
            read_body=API_MAX_BODY,
        )
    except outgoing.OutgoingError as exc:
        logger.warning("Slack: users.info for %s: %s", user_id, exc)
        raise NotLinked(
            "Your Slack account is not linked to a console user, and the console could not "
            f"ask Slack for your email address; nothing was sent. {hint}"
        ) from exc
    data: Any = None
    if answer.ok:
        try:
            data = json.loads(answer.body)
        except ValueError:
            data = None
    if not isinstance(data, dict) or data.get("ok") is not True:
        error = _dict(data).get("error") or answer.failure("Slack Web API") or "no answer"
        logger.warning("Slack: users.info for %s failed: %s", user_id, str(error)[:200])
        raise NotLinked(
            "Your Slack account is not linked to a console user, and Slack did not give the "
            f"console your email address ({str(error)[:100]}); nothing was sent. {hint}"
        )
    found = _dict(data.get("user"))
    email = _dict(found.get("profile")).get("email")
    if (
        found.get("id") != user_id
        or found.get("deleted")
        or found.get("is_bot")
        or found.get("is_email_confirmed") is False
        or not isinstance(email, str)
        or not email.strip()
    ):
        raise NotLinked(
            "Your Slack account is not linked to a console user, and Slack gives no "
            f"confirmed email address for it; nothing was sent. {hint}"
        )
    return email.strip()


def by_email(email: str, user_id: str = "", team_id: str = "") -> Any:
    """The one active console user with this email address (case aside): their own, or the
    identity provider's (unless it said the address is not verified); NotLinked when none
    or several have it."""
    User = get_user_model()
    found = set(
        User.objects.filter(is_active=True, email__iexact=email).values_list("pk", flat=True)
    )
    for user_pk, claims in Identity.objects.filter(
        user__is_active=True, claims__email__iexact=email
    ).values_list("user_id", "claims"):
        if isinstance(claims, dict) and claims.get("email_verified") is not False:
            found.add(user_pk)
    shown = slack_escape(email)
    if len(found) != 1:
        which = "No console user has" if not found else "More than one console user has"
        raise NotLinked(
            f"{which} the email address of your Slack profile ({shown}), so the console "
            f"cannot tell who you are; nothing was sent. {_hint(user_id, team_id)}"
        )
    return User.objects.get(pk=found.pop())


# ---- linking (manage.py slackuser) ----------------------------------------------------------


class LinkRefused(Exception):
    """The link cannot be made or removed as asked; says why."""


def _audit(user: Any, action: str, payload: str) -> None:
    AuditEntry.objects.create(
        user=user,
        username=user.get_username(),
        action=action,
        payload=payload,
        outcome=AuditOutcome.SUCCEEDED,
        completed_at=timezone.now(),
    )


def links_of(user: Any) -> list[Identity]:
    return [i for i in user.identities.order_by("issuer", "subject") if is_slack_issuer(i.issuer)]


def describe(identity: Identity) -> str:
    team = identity.issuer.partition(":")[2]
    return f"{identity.subject} ({f'workspace {team}' if team else 'any workspace'})"


def link(user: Any, user_id: str, team_id: str = "", by: str = "") -> Identity:
    """Link the Slack user `user_id` (of workspace `team_id`, or of any) to `user`, so their
    clicks act as that user; in the audit log. LinkRefused when the id is not one or is
    linked to someone else."""
    if not SLACK_USER_ID.fullmatch(user_id):
        raise LinkRefused(
            f"{user_id!r} is not a Slack user id. Ids look like U012ABCDEF (in Slack: the "
            "person's profile → ⋮ → Copy member ID); names are never used."
        )
    if team_id and not SLACK_TEAM_ID.fullmatch(team_id):
        raise LinkRefused(f"{team_id!r} is not a Slack workspace id (they look like T012AB3C4).")
    wanted = issuer(team_id)
    with transaction.atomic():
        for other in (
            Identity.objects.select_for_update().select_related("user").filter(subject=user_id)
        ):
            if not is_slack_issuer(other.issuer):
                continue
            if other.issuer == wanted and other.user_id == user.pk:
                return other  # linked already
            # One workspace's link and another's are two people; "any workspace" overlaps all.
            overlaps = other.issuer == wanted or ISSUER in (other.issuer, wanted)
            if overlaps and other.user_id != user.pk:
                raise LinkRefused(
                    f"The Slack user {describe(other)} is linked to "
                    f"{other.user.get_username()}: unlink it first (manage.py slackuser "
                    f"{other.user.get_username()} {user_id} --unlink)."
                )
        identity = Identity.objects.create(
            user=user,
            issuer=wanted,
            subject=user_id,
            claims={"linked_by": by or "an administrator"},
        )
        _audit(
            user,
            "slack_linked",
            f"Slack user {describe(identity)} linked to {user.get_username()}"
            + (f" ({by})" if by else ""),
        )
    return identity


def unlink(user: Any, user_id: str = "", by: str = "") -> list[str]:
    """Remove the user's Slack links (the one to `user_id`, or all); what was removed."""
    removed = []
    with transaction.atomic():
        for identity in links_of(user):
            if user_id and identity.subject != user_id:
                continue
            removed.append(describe(identity))
            identity.delete()
            _audit(
                user,
                "slack_unlinked",
                f"Slack user {removed[-1]} unlinked from {user.get_username()}"
                + (f" ({by})" if by else ""),
            )
    return removed


# ---- the answer (notify.tasks.slack_answer) ----------------------------------------------


def respond(url: str, message: dict[str, Any]) -> bool:
    """POST `message` to the click's response_url (Slack's, through the address guard)."""
    try:
        check_response_url(url)
        answer = outgoing.post(
            url,
            json.dumps(message, ensure_ascii=False).encode(),
            {"Content-Type": "application/json; charset=utf-8", "User-Agent": "durable-console/1"},
            RESPONSE_TIMEOUT_SECONDS,
            label="Slack response URL",
        )
    except (BadRequest, outgoing.OutgoingError) as exc:
        logger.warning("Slack: could not answer a click through its response_url: %s", exc)
        return False
    if not answer.ok:
        logger.warning("Slack: %s", answer.failure("Slack response URL"))
        return False
    return True


def _refuse(click: Click, why: str) -> str:
    """Tell the clicker alone why nothing was done; the message stays as it is."""
    respond(
        click.response_url,
        {"response_type": "ephemeral", "replace_original": False, "text": slack_escape(why)},
    )
    return f"refused: {why}"


def _operation(click: Click) -> Operation | None:
    return (
        Operation.objects.select_related("execution", "execution__function", "execution__source")
        .filter(execution_id=click.execution_id, operation_id=click.operation_id)
        .first()
    )


def _reread(execution_id: int) -> None:
    """Read the execution again first: answered elsewhere a moment ago, it says so."""
    try:
        with lambda_api.budget_wait(2):
            sync.sync_execution(execution_id, force=True)
    except Exception as exc:  # noqa: BLE001 (the mirror as it is will do; the send checks too)
        logger.warning("Slack: could not re-read execution %s: %s", execution_id, exc)


def _fallback_blocks(operation: Operation) -> list[dict[str, Any]]:
    """The message when Slack did not send it back: what it was about, and the link."""
    from notify import scan

    execution = operation.execution
    text = (
        f"*{slack_escape(operation.label)}* of *{slack_escape(execution.name)}* "
        f"({slack_escape(execution.function.name)})\n"
        f"<{scan.link_for(execution, operation)}|Open in Durable Console>"
    )
    return [
        {"type": "section", "block_id": BLOCK_MESSAGE, "text": {"type": "mrkdwn", "text": text}}
    ]


def _with_outcome(blocks: list[dict], line: str, *, keep_buttons: bool) -> list[dict]:
    """The message's blocks with `line` under its text (in place of an earlier one); the
    reason and the buttons kept or dropped."""
    dropped = {BLOCK_OUTCOME} | (
        set() if keep_buttons else {BLOCK_REASON, BLOCK_ANSWER, BLOCK_HINT}
    )
    kept = [block for block in blocks if block.get("block_id") not in dropped]
    outcome = {
        "type": "section",
        "block_id": BLOCK_OUTCOME,
        "text": {"type": "mrkdwn", "text": line},
    }
    at = next((i for i, b in enumerate(kept) if b.get("block_id") == BLOCK_REASON), len(kept))
    return [*kept[:at], outcome, *kept[at:]]


def handle(data: dict[str, Any]) -> str:
    """Answer one click: who, may they, the answer, and what Slack shows. Returns what
    happened ('approved', 'rejected', 'held', 'failed: …', 'refused: …')."""
    click = Click(**data)
    try:
        user = person(click.team_id, click.user_id)
    except NotLinked as exc:
        logger.info("Slack: a click by %s (%s) was refused: %s", click.user_id, click.team_id, exc)
        return _refuse(click, str(exc))
    if len(click.reason) > MAX_REASON:
        return _refuse(
            click,
            f"Your reason is {len(click.reason):,} characters; at most {MAX_REASON:,} are "
            "sent. Shorten it and click again; nothing was sent.",
        )
    if _operation(click) is None:
        return _refuse(click, "This callback is no longer in the console; nothing was sent.")
    # One answer to a callback at a time: the second click waits for the first, then sees
    # the callback answered (or counts under the policy), rather than sending again.
    lock = redis_client().lock(
        lock_key(f"slack-answer:{click.execution_id}:{click.operation_id}"),
        timeout=ANSWER_LOCK_SECONDS,
        blocking_timeout=30,
    )
    if not lock.acquire():
        return _refuse(
            click,
            "Another answer to this callback is being sent; if it still waits in a minute, "
            "click again. Nothing was sent.",
        )
    try:
        _reread(click.execution_id)
        operation = _operation(click)
        if operation is None:
            return _refuse(click, "This callback is no longer in the console; nothing was sent.")
        return _answer(click, user, operation)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("Slack: the answer's lock expired before it was released")


def _answer(click: Click, user: Any, operation: Operation) -> str:
    from actions import approvals

    execution = operation.execution
    approve = click.action == APPROVE
    token = acting_via.set(VIA)
    try:
        result = approvals.answer(
            user,
            execution,
            operation,
            approvals.Decision.APPROVE if approve else approvals.Decision.REJECT,
            # What every form sends unless the person changes it (domain/answers.py).
            result=answers.DEFAULT_RESULT,
            error_type="" if approve else answers.DEFAULT_ERROR_TYPE,
            error_message=""
            if approve
            else (click.reason or answers.default_error_message(user.get_username())),
            reason=click.reason,
        )
    except approvals.ActionRefused as exc:
        return _refuse(click, str(exc))
    finally:
        acting_via.reset(token)
    if not result.ok:
        # The backend refused the send (the audit log has it): the message keeps its buttons.
        _refuse(click, result.message)
        return f"failed: {result.message}"
    who = f"{slack_escape(user.get_username())} (<@{click.user_id}>)"
    when = timezone.now().astimezone(UTC).strftime("%H:%M UTC")
    chosen = answers.APPROVE if approve else answers.REJECT
    verb = chosen.done
    reason = f", reason: {slack_escape(click.reason)}" if click.reason else ""
    blocks = click.blocks or _fallback_blocks(operation)
    progress = approvals.progress(execution, operation)
    if result.held:
        votes, needed, noun = (
            (progress.approvals, progress.approvals_required, "approvals")
            if approve
            else (progress.rejections, progress.rejections_required, "rejections")
        )
        line = (
            f"*{verb} by {who} at {when}*{reason}. Held: {len(votes)} of {needed} {noun} "
            f"(policy “{slack_escape(progress.policy)}”); nothing was sent yet."
        )
        respond(
            click.response_url,
            {
                "replace_original": True,
                "text": line,
                "blocks": _with_outcome(blocks, line, keep_buttons=True),
            },
        )
        return "held"
    others = ""
    if progress is not None:
        votes = progress.approvals if approve else progress.rejections
        names = [v.username for v in votes if v.username != user.get_username()]
        if names:
            policy = slack_escape(progress.policy)
            others = f" (with {slack_escape(', '.join(names))}; policy “{policy}”)"
    line = f"*{verb} by {who} at {when}*{others} ({chosen.sent}){reason}."
    respond(
        click.response_url,
        {
            "replace_original": True,
            "text": line,
            "blocks": _with_outcome(blocks, line, keep_buttons=False),
        },
    )
    return "approved" if approve else "rejected"
