"""The shapes the API reads and writes (its OpenAPI schema is made from these).

Requests refuse fields they do not know (`extra="forbid"`): a misspelt `error_mesage`
is an error, never silently ignored.
"""

import json
from datetime import datetime
from typing import Any, Literal

from django.http import JsonResponse
from ninja import Field, Schema
from ninja.responses import NinjaJSONEncoder
from pydantic import ConfigDict, StrictInt

from domain import answers
from executions.models import ExecutionStatus

Status = Literal[tuple(ExecutionStatus.values)]  # type: ignore[valid-type]


class Encoder(NinjaJSONEncoder):
    """Every JSON the API writes, its reads' (ninja's renderer) and what a view builds
    itself alike: datetimes as ISO 8601 in UTC to the millisecond with a Z
    (2026-12-06T19:57:47.835Z), anything else unknown as its text."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def dumps(value: Any) -> str:
    return json.dumps(value, cls=Encoder, ensure_ascii=False)


def plain(value: Any) -> Any:
    """`value` as the JSON the API writes reads back (datetimes as text, as above)."""
    return json.loads(dumps(value))


def reply(model: Schema, status: int) -> JsonResponse:
    return JsonResponse(model.model_dump(), status=status, encoder=Encoder)


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


# ---- reading --------------------------------------------------------------------------


class ExecutionRef(Schema):
    id: int
    arn: str
    name: str
    status: str
    function: str
    function_id: int
    source: str
    source_id: int
    started_at: datetime | None
    ended_at: datetime | None
    waiting_for: str = Field(description="What the execution waits for: callback, wait, …")
    pending_callbacks: int
    url: str = Field(description="The execution's page in the console.")


class ExecutionPage(Schema):
    items: list[ExecutionRef]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class ExecutionOut(ExecutionRef):
    qualifier: str
    version: str
    operation_count: int
    waiting_until: datetime | None
    history_complete: bool
    last_synced_at: datetime | None
    last_sync_error: str
    started_from: int | None = Field(
        default=None,
        description="The id of the execution this one was started again from (through the "
        "console's Start again or start-again), when you may see it.",
    )


class OperationNode(Schema):
    id: str
    parent_id: str | None
    name: str | None
    type: str
    subtype: str | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    attempt_count: int
    children: list["OperationNode"]


OperationNode.model_rebuild()


class OperationsOut(Schema):
    operations: list[OperationNode]


class PayloadsOut(Schema):
    input: Any = None
    input_truncated: bool
    result: Any = None
    result_truncated: bool
    error: Any = None
    error_truncated: bool


class EventOut(Schema):
    event_id: int
    type: str
    sub_type: str
    operation_id: str
    name: str
    timestamp: datetime | None
    details: Any


class EventPage(Schema):
    items: list[EventOut]
    next_after: int | None = Field(description="Pass as `after` for the next page.")


class Approval(Schema):
    policy: str
    approvals: list[str]
    rejections: list[str]
    approvals_required: int
    rejections_required: int
    state: str


class CallbackOut(Schema):
    execution: ExecutionRef
    callback_id: str | None = Field(
        description="The id an answer is sent with. `null` while it is being read from the "
        "execution's history (the console learned of the callback first from the function's "
        "telemetry): it is read first now, so ask again in a few seconds."
    )
    operation_id: str
    name: str
    started_at: datetime | None
    timeout_at: datetime | None
    heartbeat_at: datetime | None
    deadline: datetime | None = Field(description="The nearer of the two deadlines.")
    approval: Approval | None
    may_answer: bool = Field(description="Whether the token's user may answer it now.")
    why_not: str = Field(description="Why they may not, when they may not.")


class CallbackPage(Schema):
    items: list[CallbackOut]
    total: int
    page: int
    pages: int


class SourceOut(Schema):
    id: int
    name: str
    region: str
    enabled: bool
    last_listed_at: datetime | None
    stale_since: datetime | None
    last_error: str
    behind: bool


class AuditOut(Schema):
    id: int
    created_at: datetime
    completed_at: datetime | None
    username: str
    action: str
    outcome: str
    source: str
    execution_arn: str
    callback_id: str
    payload: str
    error: str
    via: str
    reason: str


class AuditPage(Schema):
    items: list[AuditOut]
    next_cursor: str | None


class Me(Schema):
    username: str
    token: str
    token_scope: str
    token_expires_at: datetime
    may_act: bool
    roles: list[str]


# ---- acting ---------------------------------------------------------------------------


class Succeed(Strict):
    result: Any = Field(
        default_factory=lambda: json.loads(answers.DEFAULT_RESULT),
        description="Any JSON value, up to 1 MB; without it, what every page's Approve "
        f"sends: {answers.DEFAULT_RESULT}.",
    )
    reason: str = ""


class Fail(Strict):
    error_type: str = "Rejected"
    error_message: str = ""
    error_data: Any = Field(default=None, description="Any JSON value, or null.")
    reason: str = ""


class Heartbeat(Strict):
    pass


class Stop(Strict):
    error_type: str = ""
    error_message: str = ""


class Reason(Strict):
    reason: str = ""


class Start(Strict):
    function_id: StrictInt
    name: str
    input: Any = Field(default_factory=dict, description="Any JSON value, up to 1 MB.")


class StartAgain(Strict):
    name: str | None = Field(default=None, description="Blank: the old name plus a suffix.")
    input: Any = Field(default=None, description="Omitted: the execution's own input.")


class ListFilterIn(Strict):
    # StrictInt: JSON's true is not the id 1 (pydantic's lax mode would read it so).
    source: StrictInt | None = None
    function: StrictInt | None = None
    status: list[Status] = Field(default_factory=list)  # type: ignore[valid-type]
    name: str = ""
    input: str = ""
    started_from: str = Field(default="", alias="from")
    started_to: str = Field(default="", alias="to")


class BulkIn(Strict):
    action: Literal["stop"] = "stop"
    ids: list[StrictInt] | None = Field(default=None, description="These executions…")
    filter: ListFilterIn | None = Field(
        default=None, description="…or every running one that matches (the list's filters)."
    )
    error_type: str = ""
    error_message: str = ""
    dry_run: bool = Field(default=False, description="Only say how many it would stop.")


class ActionOut(Schema):
    outcome: Literal["sent", "held"]
    message: str
    audit_id: int | None
    execution: ExecutionRef | None
    approval: Approval | None = None


class BulkFailure(Schema):
    execution_id: int | None = None
    name: str = ""
    error: str = ""


class BulkJobOut(Schema):
    id: int
    action: str
    total: int
    done: int
    finished: bool
    created_at: datetime
    finished_at: datetime | None
    failures: list[dict[str, Any]]
    skipped: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Not acted on: it ended or changed status after the set was frozen "
        "(execution_id, name, arn, reason).",
    )
    cancelled: bool = False
    cancelled_by: str = ""
    execution_ids: list[int]
    dry_run: bool = False
