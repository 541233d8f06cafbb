"""How answering a callback is worded, and what it sends when the person changes nothing:
written down once, for every place that offers or records an answer (the execution page's
callback form, the approvals inbox and its bulk answers, the audit log, notifications,
Slack's buttons and their message updates, the API's documentation).

A person does one of three things to a waiting callback, and each says what goes to it:
- Approve: sends success with a result (JSON), by default DEFAULT_RESULT;
- Reject: sends failure with an error (type, message, data), by default DEFAULT_ERROR_TYPE;
- Extend (heartbeat): sends a heartbeat, so the callback's heartbeat timeout starts again.

The audit log keeps its stored action codes (`Answer.action`); only what is shown comes
from here, so entries written before these words read with them too.
"""

from __future__ import annotations

from dataclasses import dataclass

# What an approval sends unless the person writes another result.
DEFAULT_RESULT = '{"approved": true}'
# What a rejection sends unless the person writes another error.
DEFAULT_ERROR_TYPE = "Rejected"


def default_error_message(username: str) -> str:
    """A rejection's message unless the person writes another: who rejected it."""
    return f"Rejected by {username}" if username else "Rejected"


@dataclass(frozen=True)
class Answer:
    """One way to answer a callback, in words."""

    action: str  # AuditEntry.action, as stored (never changes with the words)
    verb: str  # what the person does
    button: str  # the button's words
    done: str  # what the person did: messages, the audit log, Slack's update
    sends: str  # what goes to the callback, said beside the button or field
    kind: str  # what goes to the callback: success, failure or a heartbeat
    api_call: str  # the Lambda API call behind it

    @property
    def sent(self) -> str:
        """What went to the callback, once it was sent."""
        return f"{self.kind} sent"

    @property
    def audit_done(self) -> str:
        """The audit log's words for an entry that was done."""
        return f"{self.done} callback ({self.sent})"

    @property
    def audit_tried(self) -> str:
        """The audit log's words for an entry that failed or is still pending."""
        return f"{self.verb} callback"

    @property
    def message(self) -> str:
        """What the page says once it was sent."""
        return f"{self.done}: {self.sent} to the callback."


APPROVE = Answer(
    action="callback_success",
    verb="Approve",
    button="Approve",
    done="Approved",
    sends="Sends success with this result",
    kind="success",
    api_call="SendDurableExecutionCallbackSuccess",
)
REJECT = Answer(
    action="callback_failure",
    verb="Reject",
    button="Reject",
    done="Rejected",
    sends="Sends failure with this error",
    kind="failure",
    api_call="SendDurableExecutionCallbackFailure",
)
EXTEND = Answer(
    action="callback_heartbeat",
    verb="Extend",
    button="Extend (heartbeat)",
    done="Extended",
    sends="Sends a heartbeat: the callback keeps waiting and its heartbeat timeout starts again",
    kind="heartbeat",
    api_call="SendDurableExecutionCallbackHeartbeat",
)
ANSWERS = (APPROVE, REJECT, EXTEND)
BY_ACTION = {answer.action: answer for answer in ANSWERS}

# What each button sends when nothing was changed, in one line: beside the buttons (the
# inbox's, Slack's) and in a message about a waiting callback.
APPROVE_HINT = f"{APPROVE.sends}: {DEFAULT_RESULT}"
REJECT_HINT = f"{REJECT.sends} type: {DEFAULT_ERROR_TYPE}"
HINT = f"{APPROVE.verb} {APPROVE_HINT[0].lower()}{APPROVE_HINT[1:]}. " + (
    f"{REJECT.verb} {REJECT_HINT[0].lower()}{REJECT_HINT[1:]}."
)

# A callback that the SDK's telemetry told of before any history read gave its id (the id
# every answer is sent with): shown as waiting, with these words in place of its answers,
# until the id is read. Showing it asks for the id (executions/schedule.want_callback_ids),
# so that takes seconds.
ID_BEING_READ = "Reading its callback id from the history…"
ID_BEING_READ_WHY = (
    "The console learned of this callback before it read the id an answer is sent with. "
    "That id is being read now; the answer buttons appear here by themselves within seconds."
)
# Why an answer to such a callback was refused (the forms, bulk answers, the API, Slack).
ID_NOT_READ = (
    "Its callback id is not read from the history yet; nothing was sent. "
    "Try again in a few seconds."
)
