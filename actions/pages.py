"""The actions app's pages that only read: the approvals inbox (every pending callback,
with forms to approve or reject it), the navigation bar's count, and the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from access import roles, scope
from access.scope import EVERYTHING, Scope
from actions import approvals as held_approvals
from actions import tokens
from browser import payloads
from domain import answers
from executions import deadlines, schedule
from executions.deadlines import Deadlines
from executions.models import (
    AuditEntry,
    AuditOutcome,
    Execution,
    Operation,
)
from web import params
from web.forms import next_url
from web.shortcuts import is_partial, vary_on_htmx


def pending_count(visible: Scope = EVERYTHING) -> int:
    return visible.operations(Operation.objects.awaiting_answer()).count()


# ---- approvals inbox ------------------------------------------------------------------


def inbox_order(
    function: str = "", visible: Scope = EVERYTHING, name: str = ""
) -> tuple[list[int], dict[tuple[int, str], Deadlines]]:
    """The pending callbacks the inbox lists (of one function, or all; of executions whose
    name holds `name`, or all; of what the person may see), nearest deadline first, then
    those without one, oldest first; and their deadlines. Sorted here, not in SQL: the
    deadlines are in the history's JSON."""
    pending = visible.operations(Operation.objects.awaiting_answer())
    if function:
        pending = pending.filter(execution__function__name=function)
    if name:
        pending = pending.filter(execution__name__icontains=name)
    keys = list(pending.values_list("pk", "execution_id", "operation_id", "started_at"))
    times = deadlines.for_keys((execution_id, op_id) for _, execution_id, op_id, _ in keys)
    never = datetime.max.replace(tzinfo=UTC)

    def order(key: tuple[int, int, str, datetime | None]) -> tuple:
        pk, execution_id, op_id, started = key
        due = times.get((execution_id, op_id))
        first = due.first if due else None
        return (first is None, first or never, started or never, pk)

    return [key[0] for key in sorted(keys, key=order)], times


def _inbox_items(
    request: HttpRequest,
    rows: list[Operation],
    times: dict[tuple[int, str], Deadlines],
    visible: Scope,
    back: str,
) -> list[dict[str, Any]]:
    """What the inbox shows of each pending callback (the table's rows and their dialogs).
    `back`: the inbox's own address, where an answer returns to. A callback whose id no
    history read has given yet (telemetry told of it first) is `reading_id`: shown as
    waiting, with no answer offered until the id is read."""
    # wait_for_callback runs its submitter as a step beside the callback (same parent).
    submitters = {
        (op.execution_id, op.parent_operation_id): op
        for op in Operation.objects.filter(
            execution_id__in={op.execution_id for op in rows},
            parent_operation_id__in={
                op.parent_operation_id for op in rows if op.parent_operation_id
            },
            type="STEP",
        )
    }
    can_act = roles.can_act(request.user)
    next_query = urlencode({"next": back})
    items = []
    now = timezone.now()
    progress = held_approvals.progress_of(rows)
    for op in rows:
        due = times.get((op.execution_id, op.operation_id), Deadlines())
        submitter = submitters.get((op.execution_id, op.parent_operation_id))
        reading_id = not op.callback_id
        may_answer = can_act and visible.may_act(op.execution) and not reading_id
        items.append(
            {
                "operation": op,
                "execution": op.execution,
                "reading_id": reading_id,
                # Its answer forms; until its id is read, its operation page.
                "form_url": (
                    reverse("browser:operation", args=[op.execution_id, op.operation_id])
                    if reading_id
                    else reverse("actions:callback_form", args=[op.execution_id, op.callback_id])
                    + f"?{next_query}"
                ),
                "timeout_at": due.timeout_at,
                "heartbeat_at": due.heartbeat_at,
                "deadline": due.first,
                "deadline_left": (due.first - now).total_seconds() if due.first else None,
                "input": payloads.payload(op.execution.input_payload).text,
                "submitter_result": payloads.payload(submitter.result_payload).text
                if submitter
                else None,
                "approval": progress.get(op.pk),
                # Seen here, but maybe not the person's to answer (access/scope.py).
                "can_act": may_answer,
                "token_ok": tokens.one_time_token(request.user) if may_answer else "",
                "token_fail": tokens.one_time_token(request.user) if may_answer else "",
            }
        )
    return items


def _reading_url(items: list[dict[str, Any]], back: str) -> str:
    """The address that brings the rows of callbacks whose ids are being read again
    (approvals_rows), or "" when every id shown is known: nothing to refresh."""
    waiting = [item["operation"].pk for item in items if item["reading_id"]]
    if not waiting:
        return ""
    return (
        reverse("actions:approvals_rows")
        + "?"
        + urlencode([("op", pk) for pk in waiting] + [("next", back)])
    )


@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    function = params.text(request.GET, "function", 170)
    # An execution's name, or part of it: the order, ticket or run someone asks about.
    name = params.text(request.GET, "execution", 200).strip()
    visible = scope.of_request(request)
    order, times = inbox_order(function, visible, name)
    page = Paginator(order, 50).get_page(params.integer(request.GET, "page", minimum=1))
    by_pk = visible.operations(Operation.objects.awaiting_answer()).in_bulk(list(page.object_list))
    rows = [by_pk[pk] for pk in page.object_list if pk in by_pk]
    # Callbacks shown whose ids no history read has given yet: read their executions first.
    schedule.want_callback_ids(rows)
    back = request.get_full_path()
    items = _inbox_items(request, rows, times, visible, back)
    functions = (
        visible.operations(Operation.objects.awaiting_answer())
        .values_list("execution__function__name", flat=True)
        .distinct()
        .order_by("execution__function__name")
    )
    return render(
        request,
        "actions/approvals.html",
        {
            "items": items,
            "page": page,
            "function": function,
            "execution_name": name,
            "query": urlencode({"function": function, "execution": name}),
            "functions": list(functions),
            "can_act": roles.can_act(request.user),
            "matching": len(order),
            "answers": answers,
            "reject_message": answers.default_error_message(request.user.get_username()),
            "back": back,
            "reading_url": _reading_url(items, back),
        },
    )


# At most this many rows a refresh brings: one page of the inbox.
ROWS_PER_REFRESH = 50


@require_GET
def approvals_rows(request: HttpRequest) -> HttpResponse:
    """The inbox's rows of callbacks whose ids were being read (`op`, repeated), polled by
    the open inbox while any is: each row again, out of band (with its answer buttons and
    dialogs once its id is read), and the poll itself, which stops when no id shown is
    still being read. A row whose callback no longer waits says so."""
    wanted = []
    for text in request.GET.getlist("op")[:ROWS_PER_REFRESH]:
        pk = params.whole_number("op", text.strip(), minimum=1)
        if pk not in wanted:
            wanted.append(pk)
    back = next_url(request, reverse("actions:approvals"))
    if not is_partial(request):
        return redirect(back)
    visible = scope.of_request(request)
    by_pk = visible.operations(Operation.objects.awaiting_answer()).in_bulk(wanted)
    rows = [by_pk[pk] for pk in wanted if pk in by_pk]
    schedule.want_callback_ids(rows)
    times = deadlines.for_keys((op.execution_id, op.operation_id) for op in rows)
    items = _inbox_items(request, rows, times, visible, back)
    context = {
        "items": items,
        "gone": [pk for pk in wanted if pk not in by_pk],
        "can_act": roles.can_act(request.user),
        "answers": answers,
        "reject_message": answers.default_error_message(request.user.get_username()),
        "back": back,
        "reading_url": _reading_url(items, back),
        "columns": 7 if roles.can_act(request.user) else 6,
    }
    return vary_on_htmx(render(request, "actions/_approval_rows.html", context))


@require_GET
def approvals_count(request: HttpRequest) -> HttpResponse:
    """The navigation bar's badge, polled by htmx."""
    count = pending_count(scope.of_request(request))
    return render(request, "actions/_approvals_badge.html", {"pending_count": count})


# ---- audit ----------------------------------------------------------------------------


AUDIT_FILTERS = ("action", "username", "outcome", "arn")

# What each action did, in words: (when it was done, when it was only tried), by
# AuditEntry.action. The outcome badge beside it says which. A callback's answers are
# worded as every page words them (domain/answers.py); the stored codes stay as they were.
ACTION_WORDS = {
    **{a.action: (a.audit_done, a.audit_tried) for a in answers.ANSWERS},
    "stop": ("Stopped execution", "Stop execution"),
    "pause": ("Paused execution", "Pause execution"),
    "resume": ("Resumed execution", "Resume execution"),
    "start": ("Started execution", "Start execution"),
    "delete": ("Deleted execution", "Delete execution"),
    "bulk_cancelled": ("Cancelled a bulk job", "Cancel a bulk job"),
    "sign_in": ("Signed in", "Sign in"),
    "sign_in_failed": ("Failed sign-in", "Failed sign-in"),
    "sign_out": ("Signed out", "Sign out"),
    "role_changed": ("Role changed", "Change role"),
    "break_glass_created": ("Made a break-glass link", "Make a break-glass link"),
    "token_created": ("Made an API token", "Make an API token"),
    "token_revoked": ("Revoked an API token", "Revoke an API token"),
    "approval": ("Answered under a policy", "Answer under a policy"),
    "policy_created": ("Created approval policy", "Create approval policy"),
    "policy_changed": ("Changed approval policy", "Change approval policy"),
    "policy_deleted": ("Deleted approval policy", "Delete approval policy"),
    "guardrail_created": ("Created guardrail", "Create guardrail"),
    "guardrail_changed": ("Changed guardrail", "Change guardrail"),
    "guardrail_mode": ("Switched guardrail", "Switch guardrail"),
    "guardrail_deleted": ("Deleted guardrail", "Delete guardrail"),
    "guardrail_tripped": ("Guardrail's circuit breaker tripped", "Trip a circuit breaker"),
    "rule_created": ("Created notification rule", "Create notification rule"),
    "rule_changed": ("Changed notification rule", "Change notification rule"),
    "rule_tested": ("Tested notification rule", "Test notification rule"),
    "rule_deleted": ("Deleted notification rule", "Delete notification rule"),
    "source_created": ("Added source", "Add source"),
    "source_changed": ("Changed source", "Change source"),
    "source_paused": ("Paused source", "Pause source"),
    "source_resumed": ("Resumed source", "Resume source"),
    "source_tested": ("Tested source connection", "Test source connection"),
    "source_deleted": ("Removed source", "Remove source"),
}


# A vote under an approval policy ("approval"), by the decision its payload records.
VOTE_WORDS = {
    "approve": f"{answers.APPROVE.done} under a policy",
    "reject": f"{answers.REJECT.done} under a policy",
}


def action_words(action: str, done: bool = True) -> str:
    words = ACTION_WORDS.get(action)
    if words is None:
        return action.replace("_", " ").capitalize()
    return words[0] if done else words[1]


def entry_words(entry: AuditEntry) -> str:
    """An entry's action in words; a vote under a policy says which way it went."""
    if entry.action == "approval":
        try:
            decision = json.loads(entry.payload or "{}").get("decision")
        except (ValueError, AttributeError):
            decision = None
        if decision in VOTE_WORDS:
            return VOTE_WORDS[decision]
    return action_words(entry.action, entry.outcome == AuditOutcome.SUCCEEDED)


def _names_in_arn(arn: str) -> tuple[str, str]:
    """`...:function:FUNCTION[:QUALIFIER]/durable-execution/NAME/ID` -> (NAME, FUNCTION),
    for an execution the mirror does not hold; blanks for what is not there."""
    head, found, tail = arn.partition("/durable-execution/")
    if not found:
        return "", ""
    _, _, function = head.partition(":function:")
    return tail.split("/", 1)[0], function.split(":", 1)[0]


def audit_rows(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    """Each entry with its action in words and the execution it touched (name, function
    and page when the mirror holds it), read in three queries for the whole page."""
    arns = {e.execution_arn for e in entries if e.execution_arn}
    executions = {
        execution.arn: execution
        for execution in Execution.objects.filter(arn__in=arns).select_related("function")
    }
    callback_ids = {e.callback_id for e in entries if e.callback_id}
    callbacks = {
        (op.execution_id, op.callback_id): op.label
        for op in Operation.objects.filter(
            execution_id__in=[e.pk for e in executions.values()],
            type="CALLBACK",
            callback_id__in=callback_ids,
        ).only("execution_id", "callback_id", "name", "subtype", "type", "operation_id")
    }
    rows = []
    for entry in entries:
        execution = executions.get(entry.execution_arn)
        name, function = _names_in_arn(entry.execution_arn)
        rows.append(
            {
                "entry": entry,
                "words": entry_words(entry),
                "execution": execution,
                "name": execution.name if execution else name,
                "function": execution.function.name if execution else function,
                "callback": callbacks.get((execution.pk, entry.callback_id)) if execution else None,
            }
        )
    return rows


def visible_audit(user: Any, visible: Scope) -> QuerySet[AuditEntry]:
    """The entries this person may read: everything, or what was done to the executions
    they may see and what they did themselves."""
    entries = AuditEntry.objects.all()
    if not visible.everything:
        seen = visible.executions(Execution.objects).values("arn")
        entries = entries.filter(Q(execution_arn__in=seen) | Q(username=user.get_username()))
    return entries


def audit_entries(user: Any, visible: Scope, values: dict[str, str]) -> QuerySet[AuditEntry]:
    """The audit log's filters (AUDIT_FILTERS' values; blank: any) over visible_audit, for
    the page and the API alike."""
    entries = visible_audit(user, visible)
    if values.get("outcome") and values["outcome"] not in AuditOutcome.values:
        raise params.BadQuery(
            f"“outcome” must be one of {', '.join(AuditOutcome.values)}, "
            f"not “{params.shown(values['outcome'])}”."
        )
    if values.get("action"):
        entries = entries.filter(action=values["action"])
    if values.get("username"):
        entries = entries.filter(username=values["username"])
    if values.get("outcome"):
        entries = entries.filter(outcome=values["outcome"])
    if values.get("arn"):
        # By ARN, or by the name of a mirrored execution (not every backend's ARNs hold it).
        named = Execution.objects.filter(name__icontains=values["arn"]).values("arn")
        entries = entries.filter(
            Q(execution_arn__icontains=values["arn"]) | Q(execution_arn__in=named)
        )
    return entries


@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    visible = scope.of_request(request)
    scoped = visible_audit(request.user, visible)
    values = {k: params.text(request.GET, k, 2048) for k in AUDIT_FILTERS}
    params.choice(request.GET, "outcome", AuditOutcome.values)
    entries = audit_entries(request.user, visible, values)
    page = Paginator(entries, 50).get_page(params.integer(request.GET, "page", minimum=1))
    query = urlencode({k: v for k, v in values.items() if v})
    actions = scoped.values_list("action", flat=True).distinct().order_by()
    return render(
        request,
        "actions/audit.html",
        {
            "page": page,
            "rows": audit_rows(list(page.object_list)),
            "values": values,
            "query": query,
            "actions": sorted((a, action_words(a)) for a in actions),
            "outcomes": AuditOutcome.choices,
        },
    )
