"""The API's reading endpoints. They read the mirror (never the Lambda API), through the
same pieces the pages use: the list's filters and keyset pages (browser/listing.py), the
inbox's order and deadlines (actions/pages.py), the events' pages, the audit log's
filters; and each asks the same question of the person's scope (access/scope.py): an
execution outside it is a 404, as on the pages.
"""

from collections.abc import Iterator
from typing import Annotated, Any

from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from ninja import Field, Path, Query, Schema

from access import roles, scope
from actions import approvals as held_approvals
from actions import pages, policies
from api import schemas
from api.auth import token_of
from api.errors import ApiError, ErrorOut
from api.routes import READ, router
from browser import event_pages, listing, payloads
from browser.optree import operation_tree
from executions import health, schedule
from executions.deadlines import Deadlines
from executions.models import AuditEntry, AuditOutcome, Execution, Operation, Source
from web import params
from web.shortcuts import visible_execution

MAX_ID = params.MAX_INTEGER
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}

ExecutionId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="The execution's id in the console.")
]


def only(request: HttpRequest, query: type[Schema]) -> None:
    """Refuse a query parameter the endpoint does not know (a misspelt filter must not
    quietly list everything)."""
    known = set()
    for name, info in query.model_fields.items():
        known.add(info.alias or name)
    for name in request.GET:
        if name not in known:
            raise ApiError(
                400,
                "unknown_parameter",
                f"“{params.shown(name)}” is not a parameter of this request; it takes "
                f"{', '.join(sorted(known)) or 'none'}.",
                params.shown(name),
            )


# ---- executions -----------------------------------------------------------------------


def execution_ref(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.pk,
        "arn": execution.arn,
        "name": execution.name,
        "status": execution.status,
        "function": execution.function.name,
        "function_id": execution.function_id,
        "source": execution.source.name,
        "source_id": execution.source_id,
        "started_at": execution.started_at,
        "ended_at": execution.ended_at,
        "waiting_for": execution.waiting_for,
        "pending_callbacks": execution.pending_callbacks,
        "url": reverse("browser:detail", args=[execution.pk]),
    }


class ListQuery(Schema):
    source: int | None = Field(None, ge=1, le=MAX_ID)
    function: int | None = Field(None, ge=1, le=MAX_ID)
    status: list[schemas.Status] = Field(default_factory=list)  # type: ignore[valid-type]
    name: str = Field("", max_length=256, description="Part of the name.")
    input: str = Field("", max_length=256, description="A string in the execution's input.")
    started_from: str = Field("", alias="from", max_length=40, examples=["2026-01-31"])
    started_to: str = Field("", alias="to", max_length=40, examples=["2026-01-31T10:30"])
    cursor: str = Field("", max_length=60, description="`next_cursor` of the page before.")
    limit: int = Field(listing.PAGE_SIZE, ge=1, le=200)


@router.get("/executions", tags=READ, response={200: schemas.ExecutionPage, **ERRORS})
def list_executions(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    """Executions, newest first, with the list page's filters; keyset pages (a page deep in
    a million executions costs what the first does)."""
    only(request, ListQuery)
    visible = scope.of_request(request)
    flt = listing.ListFilter.from_query(request.GET, visible.read)
    after = listing.Cursor.parse(query.cursor, "cursor")
    page = listing.list_page(flt, after=after, size=query.limit)
    return {
        "items": [execution_ref(e) for e in page.rows],
        "next_cursor": str(page.older) if page.older else None,
    }


def _header(execution: Execution) -> dict[str, Any]:
    return {
        **execution_ref(execution),
        "qualifier": execution.qualifier,
        "version": execution.version,
        "operation_count": execution.operation_count,
        "waiting_until": execution.waiting_until,
        "history_complete": execution.history_complete,
        "last_synced_at": execution.last_synced_at,
        "last_sync_error": execution.last_sync_error,
    }


@router.get("/executions/{pk}", tags=READ, response={200: schemas.ExecutionOut, **ERRORS})
def get_execution(request: HttpRequest, pk: ExecutionId) -> dict[str, Any]:
    """One execution's header, as the mirror holds it."""
    only(request, Schema)
    execution = visible_execution(request, pk)
    origin = execution.started_from
    visible = origin is not None and scope.of_request(request).may_see(origin)
    return {**_header(execution), "started_from": origin.pk if visible else None}


@router.get(
    "/executions/{pk}/operations", tags=READ, response={200: schemas.OperationsOut, **ERRORS}
)
def get_operations(request: HttpRequest, pk: ExecutionId) -> dict[str, Any]:
    """The operation tree: parallel branches, map iterations and child contexts nest their
    operations under `children`."""
    only(request, Schema)
    execution = visible_execution(request, pk)
    roots = operation_tree(execution).roots
    return {"operations": [payloads.export_node(node) for node in roots]}


@router.get("/executions/{pk}/payloads", tags=READ, response={200: schemas.PayloadsOut, **ERRORS})
def get_payloads(request: HttpRequest, pk: ExecutionId) -> dict[str, Any]:
    """The execution's input, result and error: JSON values where they are JSON, else the
    text; `*_truncated` when the Lambda API cut them short."""
    only(request, Schema)
    execution = visible_execution(request, pk)
    return {
        "input": payloads.json_value(execution.input_payload),
        "input_truncated": execution.input_truncated,
        "result": payloads.json_value(execution.result_payload),
        "result_truncated": execution.result_truncated,
        "error": execution.error,
        "error_truncated": execution.error_truncated,
    }


class EventQuery(Schema):
    type: str = Field("", max_length=64, description="Only events of this type.")
    operation: str = Field("", max_length=256, description="Only this operation's events.")
    after: int | None = Field(None, ge=0, le=MAX_ID, description="`next_after` of the page before.")
    limit: int = Field(event_pages.EVENTS_PAGE_SIZE, ge=1, le=1000)


@router.get("/executions/{pk}/events", tags=READ, response={200: schemas.EventPage, **ERRORS})
def get_events(request: HttpRequest, pk: ExecutionId, query: Query[EventQuery]) -> dict[str, Any]:
    """The history events, in EventId order, a page at a time."""
    only(request, EventQuery)
    execution = visible_execution(request, pk)
    operation_id = params.operation_id(request.GET, "operation")
    page = event_pages.event_page(
        execution,
        event_type=params.text(request.GET, "type", 64),
        operation_id=operation_id,
        after=query.after,
        size=query.limit,
    )
    return {
        "items": [
            {
                "event_id": e.event_id,
                "type": e.event_type,
                "sub_type": e.sub_type,
                "operation_id": e.operation_id,
                "name": e.name,
                "timestamp": e.timestamp,
                "details": e.details,
            }
            for e in page.events
        ],
        "next_after": page.newer,
    }


# ---- callbacks ------------------------------------------------------------------------


def approval_out(progress: Any) -> dict[str, Any] | None:
    if progress is None:
        return None
    return {
        "policy": progress.policy,
        "approvals": [v.username for v in progress.approvals],
        "rejections": [v.username for v in progress.rejections],
        "approvals_required": progress.approvals_required,
        "rejections_required": progress.rejections_required,
        "state": progress.state,
    }


# why_not of a callback whose id no history read has given yet (callback_id is null).
ID_BEING_READ = (
    "Its callback id is being read from the execution's history; ask again in a few seconds."
)


def why_not_answer(
    request: HttpRequest, operation: Operation, progress: Any, acts: bool, visible: Any
) -> str:
    """'' when the token's user may answer this callback now, else why not. `acts`:
    roles.can_act of the user; `visible`: their scope (both asked once per request)."""
    user = request.user
    if not (acts and visible.may_act(operation.execution)):
        return "Your roles let you read this callback's function but not act on it."
    if not operation.callback_id:
        return ID_BEING_READ
    if progress is None:
        return ""
    why = policies.refusal(user, operation.execution, progress.rules)
    if why:
        return why
    if any(v.username == user.get_username() for v in progress.approvals + progress.rejections):
        return "You answered it already; it waits for others under its policy."
    return ""


class CallbackQuery(Schema):
    function: str = Field("", max_length=170, description="Only this function's callbacks.")
    execution: str = Field(
        "", max_length=200, description="Only callbacks of executions whose name contains this."
    )
    mine: bool = Field(False, description="Only those the token's user may answer now.")
    page: int = Field(1, ge=1, le=1_000_000)


@router.get("/callbacks", tags=READ, response={200: schemas.CallbackPage, **ERRORS})
def list_callbacks(request: HttpRequest, query: Query[CallbackQuery]) -> dict[str, Any]:
    """Callbacks waiting for an answer, across sources: nearest deadline first, then
    those without one, oldest first (the approvals inbox's order). `mine=true`: only those
    the token's user may answer now (their role, scope and the callback's policy)."""
    only(request, CallbackQuery)
    visible = scope.of_request(request)
    order, times = pages.inbox_order(
        params.text(request.GET, "function", 170),
        visible,
        params.text(request.GET, "execution", 200).strip(),
    )
    awaiting = visible.operations(Operation.objects.awaiting_answer()).select_related(
        "execution__function", "execution__source"
    )
    items: list[dict[str, Any]] = []
    reading: list[Operation] = []
    acts = roles.can_act(request.user)
    if query.mine and not acts:
        return {"items": [], "total": 0, "page": query.page, "pages": 1}
    if query.mine:
        # Read in chunks until a page of answerable ones is found; what waits for one
        # person is a short list, and each chunk is one query.
        wanted = (query.page - 1) * 50
        skipped, total = 0, 0
        for start in range(0, len(order), 200):
            chunk = order[start : start + 200]
            rows = awaiting.in_bulk(chunk)
            ops = [rows[pk] for pk in chunk if pk in rows]
            progress = held_approvals.progress_of(ops)
            for op in ops:
                why = why_not_answer(request, op, progress.get(op.pk), acts, visible)
                if why == ID_BEING_READ:
                    reading.append(op)  # theirs to answer once its id is read
                if why:
                    continue
                total += 1
                if skipped < wanted:
                    skipped += 1
                elif len(items) < 50:
                    items.append(_callback(op, times, progress.get(op.pk), ""))
        schedule.want_callback_ids(reading)
        pages_count = max(1, -(-total // 50))
        return {"items": items, "total": total, "page": query.page, "pages": pages_count}
    # A page past the last is empty (as with mine=true), never silently another page.
    shown = order[(query.page - 1) * 50 : query.page * 50]
    rows = awaiting.in_bulk(shown)
    ops = [rows[pk] for pk in shown if pk in rows]
    progress = held_approvals.progress_of(ops)
    # Callbacks shown whose ids no history read has given yet: read their executions first.
    schedule.want_callback_ids(ops)
    for op in ops:
        why = why_not_answer(request, op, progress.get(op.pk), acts, visible)
        items.append(_callback(op, times, progress.get(op.pk), why))
    return {
        "items": items,
        "total": len(order),
        "page": query.page,
        "pages": max(1, -(-len(order) // 50)),
    }


def _callback(
    op: Operation, times: dict[tuple[int, str], Deadlines], progress: Any, why: str
) -> dict[str, Any]:
    due = times.get((op.execution_id, op.operation_id), Deadlines())
    return {
        "execution": execution_ref(op.execution),
        "callback_id": op.callback_id or None,  # None: being read from the history
        "operation_id": op.operation_id,
        "name": op.label,
        "started_at": op.started_at,
        "timeout_at": due.timeout_at,
        "heartbeat_at": due.heartbeat_at,
        "deadline": due.first,
        "approval": approval_out(progress),
        "may_answer": not why,
        "why_not": why,
    }


# ---- audit ----------------------------------------------------------------------------


class AuditQuery(Schema):
    action: str = Field("", max_length=64)
    username: str = Field("", max_length=150)
    outcome: AuditOutcome | None = None
    arn: str = Field("", max_length=2048, description="Part of an ARN, or an execution's name.")
    cursor: int | None = Field(
        None, ge=1, le=MAX_ID, description="`next_cursor` of the page before."
    )
    limit: int = Field(50, ge=1, le=500)


def _audit_out(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "created_at": entry.created_at,
        "completed_at": entry.completed_at,
        "username": entry.username,
        "action": entry.action,
        "outcome": entry.outcome,
        "source": entry.source_name,
        "execution_arn": entry.execution_arn,
        "callback_id": entry.callback_id,
        "payload": entry.payload,
        "error": entry.error,
        "via": entry.via,
        "reason": entry.reason,
    }


def _audit_entries(request: HttpRequest) -> Any:
    values = {k: params.text(request.GET, k, 2048) for k in pages.AUDIT_FILTERS}
    return pages.audit_entries(request.user, scope.of_request(request), values).order_by("-id")


@router.get("/audit", tags=READ, response={200: schemas.AuditPage, **ERRORS})
def list_audit(request: HttpRequest, query: Query[AuditQuery]) -> dict[str, Any]:
    """The audit log, newest first, with the audit page's filters; what was done through
    a token says so in `via`."""
    only(request, AuditQuery)
    entries = _audit_entries(request)
    if query.cursor:
        entries = entries.filter(pk__lt=query.cursor)
    rows = list(entries[: query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return {
        "items": [_audit_out(e) for e in rows],
        "next_cursor": str(rows[-1].pk) if more and rows else None,
    }


class ExportQuery(Schema):
    action: str = Field("", max_length=64)
    username: str = Field("", max_length=150)
    outcome: AuditOutcome | None = None
    arn: str = Field("", max_length=2048)


@router.get(
    "/audit/export",
    tags=READ,
    response={200: schemas.AuditOut, **ERRORS},
    openapi_extra={
        "responses": {
            200: {
                "description": "One JSON object per line (application/x-ndjson), newest first.",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_audit(request: HttpRequest, query: Query[ExportQuery]) -> StreamingHttpResponse:
    """The audit log (filtered as /audit) as JSON lines, streamed: every entry, without
    pages."""
    only(request, ExportQuery)
    entries = _audit_entries(request)

    def lines() -> Iterator[str]:
        for entry in entries.iterator(chunk_size=2000):
            yield schemas.dumps(_audit_out(entry)) + "\n"

    reply = StreamingHttpResponse(lines(), content_type="application/x-ndjson; charset=utf-8")
    reply["Content-Disposition"] = 'attachment; filename="audit.jsonl"'
    return reply


# ---- sources, and who I am ------------------------------------------------------------


@router.get("/sources", tags=READ, response={200: list[schemas.SourceOut], **ERRORS})
def list_sources(request: HttpRequest) -> list[dict[str, Any]]:
    """The Lambda endpoints the console mirrors, and whether their sync keeps up."""
    only(request, Schema)
    return [
        {
            "id": s.pk,
            "name": s.name,
            "region": s.region,
            "enabled": s.enabled,
            "last_listed_at": s.last_synced_at,
            "stale_since": s.stale_since,
            "last_error": s.last_error,
            "behind": bool(s.enabled and _behind(s)),
        }
        for s in Source.objects.order_by("name")
    ]


def _behind(source: Source) -> bool:
    try:
        from executions import schedule

        return schedule.is_behind(source)
    except Exception:  # noqa: BLE001 (Redis unreachable: the rest still answers)
        return False


@router.get("/sources/{pk}/health", tags=READ, response={200: dict[str, Any], **ERRORS})
def source_health(
    request: HttpRequest, pk: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> dict[str, Any]:
    """The sync's figures for one source (calls against the budget, throttles, lag, errors),
    as the sync health page shows them: for staff."""
    only(request, Schema)
    if not roles.is_staff(request.user):
        raise ApiError(403, "forbidden", "The sync's figures are for staff.")
    source = Source.objects.filter(pk=pk).first()
    if source is None:
        raise ApiError(404, "not_found", f"There is no source #{pk}.")
    return schemas.plain(health.source_health(source))


@router.get("/me", tags=READ, response={200: schemas.Me, **ERRORS})
def me(request: HttpRequest) -> dict[str, Any]:
    """The token's user, what the token may do, and when it expires."""
    only(request, Schema)
    token = token_of(request)
    return {
        "username": request.user.get_username(),
        "token": token.name,
        "token_scope": token.scope,
        "token_expires_at": token.expires_at,
        "may_act": token.scope == "act" and roles.can_act(request.user),
        "roles": sorted(roles.effective_roles(request.user)),
    }
