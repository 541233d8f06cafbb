"""Bad input never gives a server error.

A property-based fuzz (hypothesis) over every URL of the console, found by walking
django.urls.get_resolver(), so a new URL is fuzzed without being listed: its path
parameters get real ids of a small mirrored world and fuzzed ones, and the query
parameters and form fields the views read (PARAMETERS, listed by reading browser/,
actions/ and notify/) get unicode digits, numbers past 64 bits, negative numbers, empty
values, NUL, malformed UTF-8, dates in years 0, 1, 9999 and 99999, garbage, JSON nested
to any depth up to 1 MB and long strings, by GET and by POST, as a signed-in superuser.
Every answer is below 500, and a 400 of the console says what is wrong (a refused query
names its parameter). Then regression tests, one per failure the fuzz was written for.

Nothing between the console and what it talks to is mocked: the world is recorded
histories stored by the sync's own code (tests/notify_servers.py), the database is the
test database and the cache real Redis. No request reaches a Lambda endpoint: one-time
tokens that would let a form send are given only where the execution has ended, so the
service refuses after checking the input.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions import tokens, validation
from browser import listing
from browser.detail import TABS
from browser.functions import RANGES
from browser.models import SavedView
from executions import tree
from executions.models import (
    AuditEntry,
    AuditOutcome,
    BulkJob,
    Execution,
    ExecutionStatus,
    Operation,
)
from guardrails.models import Guardrail
from notify.models import DeliveryStatus, Rule
from tests.notify_servers import HISTORIES, mirror_events, mirror_recorded
from web import params

MAX = params.MAX_INTEGER
MEGABYTE = validation.MAX_PAYLOAD_BYTES
# Requests of the fuzz come from a documentation address (TEST-NET-1), so the sign-in rate
# limit it trips (per address, in Redis) never locks out another test's 127.0.0.1.
FUZZ_ADDRESS = "192.0.2.77"

# ---- what the views read ------------------------------------------------------------------

LIST_FILTERS = ("source", "function", "status", "name", "input", "from", "to")
TREE_STATE = ("expand", "collapse")
CALLBACK_FORMS = ("reason", "result", "error_type", "error_message", "error_data", "token", "next")
BULK = ("scope", "confirm", "error_type", "error_message", "token", "next")
RULE_FORM = tuple(
    "name enabled source function_pattern callback_pattern on_callback on_deadline "
    "deadline_minutes on_failure email_to webhook_url webhook_format".split()
)

# The query parameters and form fields each view reads (request.GET, request.POST, its
# form's fields), by URL name. test_every_url_of_the_console_has_its_parameters_listed
# fails when a URL is added without its line here.
POLICY_FORM = (
    "name", "enabled", "source", "function_pattern", "callback_pattern", "approver_groups",
    "approver_users", "approvals_required", "rejections_required", "reason_to_approve",
    "reason_to_reject", "instructions", "requester_path",
)  # fmt: skip
SOURCE_FORM = (
    "name", "endpoint_url", "region", "credentials", "profile", "role_arn", "role_external_id",
    "function_names", "discover", "events_queue_url", "events_endpoint_url",
    "reconcile_interval_seconds", "list_interval_seconds", "execution_interval_seconds",
    "quota_share", "api_quotas", "retention_days", "retention_by_function",
)  # fmt: skip
GUARDRAIL_FORM = (
    "name", "source", "function_pattern", "condition", "threshold", "action", "notify_rule",
    "act_while_waiting_for_people", "max_per_hour",
)  # fmt: skip
# Every tab's, and the operation panel the page has open (its reload brings it along).
DETAIL_PARAMETERS = (
    "layout", "at", "failed", *TREE_STATE, "type", "op", "after", "before", "panel",
)  # fmt: skip
PARAMETERS: dict[str, tuple[str, ...]] = {
    "favicon": (),
    "metrics": (),  # reads the Authorization header and the client's address only
    "login": ("username", "password", "next"),
    "logout": ("next",),
    "browser:home": (),
    "browser:healthz": (),
    "browser:sync_health": (),
    "browser:sync_health_json": (),
    "browser:archive": ("q", "page"),
    "browser:archived": ("tab", "page"),
    "browser:sources": (),
    "browser:source": (),
    "browser:list": (*LIST_FILTERS, "after", "before"),
    "browser:attention": ("reason",),
    "browser:saved_views": (),
    "browser:saved_view_new": ("name", "share", "page", "query"),
    "browser:saved_view_edit": ("name", "share"),
    "browser:saved_view_delete": (),
    "browser:news": (*LIST_FILTERS, "since"),
    "browser:rows": ("ids", *LIST_FILTERS),
    "browser:function": ("range",),
    "browser:compare": ("a", "b", "ids"),
    # Every tab: graph (layout, expand, at), operations (failed, expand, collapse, at),
    # events (type, op, after, before), timeline (expand, at), io (none).
    "browser:detail": DETAIL_PARAMETERS,
    "browser:tab": DETAIL_PARAMETERS,
    "browser:compare_previous": (),
    "browser:header": ("since",),
    "browser:first_callback": (),
    "browser:export": (),
    "browser:graph_svg": ("layout", "expand", "at", "download"),
    "browser:tree_rows": ("parent", "offset", *TREE_STATE, "at"),
    "browser:operation": (),
    "actions:approvals": ("function", "execution", "page"),
    "actions:approvals_count": (),
    "actions:approvals_rows": ("op", "next"),
    "actions:approvals_bulk": (
        *BULK,
        "answer",
        "ops",
        "function",
        "execution",
        "result",
        "error_data",
        "reason",
    ),
    "actions:bulk_answer_job": ("page",),
    "actions:audit": ("action", "username", "outcome", "arn", "page"),
    "actions:bulk_job": ("page",),
    "actions:bulk_job_cancel": (),
    "actions:start": ("from", "function", "name", "input", "token"),
    "actions:bulk_stop": (*BULK, "ids", "filter", "digest"),
    "actions:lookup": ("arn",),
    "actions:refresh": ("since", "asked"),
    "actions:stop": ("error_type", "error_message", "token", "next"),
    "actions:pause": ("reason", "token", "next"),
    "actions:resume": ("reason", "token", "next"),
    "actions:stop_form": ("reason", "next"),
    "actions:pause_form": ("reason", "next"),
    "actions:delete": ("token",),
    "actions:start_again": ("function", "name", "input", "token", "step", "reviewed"),
    "actions:callback_succeed": CALLBACK_FORMS,
    "actions:callback_fail": CALLBACK_FORMS,
    "actions:callback_heartbeat": CALLBACK_FORMS,
    "actions:callback_form": ("next",),
    "actions:callback_forms_of": ("next",),
    "notify:rules": (),
    "notify:rule_new": RULE_FORM,
    "notify:rule_edit": RULE_FORM,
    "notify:rule_test": (),
    "notify:rule_delete": (),
    "notify:deliveries": ("status", "rule", "page"),
    "notify:slack_interactions": ("payload",),
    "actions:source_new": SOURCE_FORM,
    "actions:source_edit": SOURCE_FORM,
    "actions:source_pause": (),
    "actions:source_resume": (),
    "actions:source_test": (),
    "actions:source_delete": (),
    "actions:policies": (),
    "actions:policy_new": POLICY_FORM,
    "actions:policy_edit": POLICY_FORM,
    "actions:policy_delete": (),
    "access:sso_login": ("next", "again"),
    "access:sso_callback": ("code", "state", "error", "error_description"),
    "access:break_glass": (),
    "access:account": (),
    "access:sign_out_everywhere": (),
    "access:token_create": ("name", "scope", "days"),
    "access:token_revoke": ("next",),
    "access:tokens_all": (),
    "guardrails:list": (),
    "guardrails:new": GUARDRAIL_FORM,
    "guardrails:detail": ("page",),
    "guardrails:edit": GUARDRAIL_FORM,
    "guardrails:mode": ("mode",),
    "guardrails:delete": (),
}
# Django's admin reads these on its lists and forms (the fuzz sends them to every admin
# URL; its forms' own fields are its business and Django's).
ADMIN_PARAMETERS = ("q", "o", "p", "e", "all", "_popup", "_to_field", "_changelist_filters")
# Fields that carry a payload up to the service's 1 MB, at any depth.
JSON_FIELDS = frozenset({"result", "error_data", "input"})
# Forms that may get a valid one-time token, when their execution has ended: the service
# then refuses after checking the input, and nothing reaches a Lambda endpoint.
TOKEN_WHEN_ENDED = frozenset(
    {
        "actions:callback_succeed",
        "actions:callback_fail",
        "actions:callback_heartbeat",
        "actions:stop",
        "actions:pause",
        "actions:resume",
    }
)


# ---- every URL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern: its name ("browser:detail"; "" when it has none) and the patterns
    from the root resolver down to it."""

    name: str
    parts: tuple[Any, ...]

    def __str__(self) -> str:
        return "/" + "".join(str(part) for part in self.parts)

    @property
    def console(self) -> bool:
        """The console's own page (not Django's admin, not the API, which answers JSON and
        is fuzzed against its schema in tests/test_api_fuzz.py), whose 400 pages say what is
        wrong."""
        path = str(self)
        return not self.name.startswith("admin:") and not path.startswith(("/admin/", "/api/"))


def _routes(resolver: URLResolver, parts: tuple = (), spaces: tuple = ()) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = (entry.namespace,) if entry.namespace else ()
            yield from _routes(entry, parts + (entry.pattern,), spaces + namespace)
        else:
            name = ":".join(spaces + (entry.name,)) if entry.name else ""
            yield Route(name, parts + (entry.pattern,))


ROUTES = list(_routes(get_resolver()))
CONVERTER = re.compile(r"<(?:(?P<kind>[^>:]+):)?(?P<name>[^>]+)>")


# ---- the world: a few mirrored executions and what points at them ---------------------------


@dataclass
class World:
    user: User
    running: Execution
    ended: Execution
    failed: Execution
    function_ids: list[int]
    stop_job: int
    answer_job: int
    rule: int
    saved_view: int
    guardrail: int
    # Real values the fuzz mixes in, so it reaches past the first check of each view.
    real: list[str] = field(default_factory=list)
    callback_ids: list[str] = field(default_factory=list)
    operation_ids: list[str] = field(default_factory=list)

    @property
    def execution_ids(self) -> list[int]:
        return [self.running.pk, self.ended.pk, self.failed.pk]

    def ids_for(self, route: Route) -> list[int]:
        """The rows an <int:pk> of this URL names."""
        if route.name == "browser:function":
            return self.function_ids
        if route.name in ("actions:bulk_job", "actions:bulk_job_cancel"):
            return [self.stop_job]
        if route.name == "actions:bulk_answer_job":
            return [self.answer_job]
        if route.name.startswith("notify:"):
            return [self.rule]
        if route.name.startswith("guardrails:"):
            return [self.guardrail]
        if route.name.startswith("browser:saved_view_"):
            return [self.saved_view]
        if route.name == "browser:source" or route.name.startswith("actions:source_"):
            return [self.running.source_id]
        if not route.console:
            return [*self.execution_ids, *self.function_ids, self.rule, self.stop_job]
        return self.execution_ids


def recorded(name: str) -> list[dict[str, Any]]:
    """A recorded history's events as boto3 gives them (timestamps as datetimes)."""
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    for event in events:
        event["EventTimestamp"] = datetime.fromisoformat(event["EventTimestamp"])
        details = tree.event_details(event)
        if isinstance(details.get("ScheduledEndTimestamp"), str):
            details["ScheduledEndTimestamp"] = datetime.fromisoformat(
                details["ScheduledEndTimestamp"]
            )
    return events


def _ended(execution: Execution, status: str, **fields: Any) -> Execution:
    Execution.objects.filter(pk=execution.pk).update(
        status=status, ended_at=timezone.now(), **fields
    )
    execution.refresh_from_db()
    return execution


@pytest.fixture
def world(db: Any) -> World:
    # Test databases reuse primary keys: renders cached by an earlier test must go.
    cache.delete_pattern("browser:*")
    # No password: the client signs in with force_login, and hashing one costs a third of
    # a second per test.
    user = User.objects.create_user("fuzz-admin", is_staff=True, is_superuser=True)
    running = mirror_recorded("fuzz-running", "coffee-order-waiting-timeout", 30)
    ended = _ended(
        mirror_recorded("fuzz-ended", "coffee-order-waiting-timeout", 90),
        ExecutionStatus.SUCCEEDED,
        result_payload='{"ok": true}',
    )
    failed = _ended(
        mirror_events(
            "fuzz-failed", "order-processor", recorded("order-processor-failed"), "fuzz/failed"
        ),
        ExecutionStatus.FAILED,
        error={"ErrorType": "ValueError", "ErrorMessage": "card declined"},
    )
    callback = Operation.objects.pending_callbacks().get(execution=running)
    stop_job = BulkJob.objects.create(
        user=user,
        action="stop",
        total=2,
        done=1,
        execution_ids=[running.pk, 987654],
        failures=[{"execution_id": 987654, "name": "", "arn": "", "error": "gone"}],
    )
    answer_job = BulkJob.objects.create(
        user=user,
        action="callback_success",
        total=1,
        execution_ids=[running.pk],
        parameters={"operations": [callback.pk], "result": "{}"},
    )
    # No email address and no webhook: its test button sends nothing anywhere.
    rule = Rule.objects.create(name="fuzz-rule")
    saved_view = SavedView.objects.create(owner=user, name="fuzz-view", query="status=RUNNING")
    AuditEntry.objects.create(
        user=user,
        username=user.username,
        action="callback_success",
        execution_arn=running.arn,
        callback_id=callback.callback_id,
        payload="{}",
        outcome=AuditOutcome.SUCCEEDED,
    )
    operations = list(Operation.objects.filter(execution__in=[running, ended, failed]))
    events = max(running.last_event_id, failed.last_event_id)
    executions = [running, ended, failed]
    real = [
        *(str(e.pk) for e in executions),
        *(str(listing.Cursor.of(e)) for e in executions),
        *(e.name for e in executions),
        *(e.arn for e in executions),
        *(e.mirror_state for e in executions),
        *(str(n) for n in range(1, events + 1)),
        *(op.operation_id for op in operations),
        *ExecutionStatus.values,
        *DeliveryStatus.values,
        *AuditOutcome.values,
        *TABS,
        *RANGES,
        "TB", "LR", "all", "1", "0", "yes", "filter", "selected", "approve", "reject",
        "callback_success", "stop", "StepFailed", "coffee-order", "fuzz-admin",
        "/executions/", "//example.com/", "https://example.com/", "javascript:alert(1)",
        timezone.now().isoformat(), "2026-01-31", "2026-01-31T10:30",
        str(running.function_id), str(rule.pk), str(callback.pk),
        "list", "attention", "everyone", "status=RUNNING", f"function={running.function_id}",
    ]  # fmt: skip
    return World(
        user=user,
        running=running,
        ended=ended,
        failed=failed,
        function_ids=sorted({e.function_id for e in executions}),
        stop_job=stop_job.pk,
        answer_job=answer_job.pk,
        rule=rule.pk,
        saved_view=saved_view.pk,
        guardrail=Guardrail.objects.create(
            name="fuzz-guardrail", condition="retrying", threshold=3, action="stop"
        ).pk,
        real=real,
        callback_ids=sorted({op.callback_id for op in operations if op.callback_id}),
        operation_ids=sorted({op.operation_id for op in operations}),
    )


# ---- fuzzed values ----------------------------------------------------------------------------

NUMBERS = [
    "0", "-0", "-1", "1", "007", str(MAX), str(MAX + 1), str(-MAX - 1), str(-MAX - 2),
    "9" * 23, "9" * 5000, "+1", "1_000", "1e3", "1.5", "0x1f", " 1", "1 ", "--1", "-",
]  # fmt: skip
# Digits int() reads as numbers: Arabic-Indic, Persian, Devanagari, full-width, N'Ko,
# mathematical; and characters that look like digits but are not (superscript, Roman).
OTHER_DIGITS = ["١٢٣", "١", "۱۲۳", "१२३", "１２３", "߁", "𝟙𝟚", "²", "Ⅻ", "〇", "1١"]
DATES = [
    "99999-01-01", "0001-01-01", "0000-01-01", "9999-12-31", "9999-12-31T23:59",
    "9999-12-31T23:59:59.999999", "9999-12-31T23:59-05:00", "0001-01-01T00:00+05:00",
    "0001-01-01T00:00-05:00", "2026-02-30", "2026-13-01", "2026-01-31T25:00", "-2026-01-01",
    "+2026-01-01", "2026-01-31T10:30:00.123456+14:00", "20260131", "2026-W05-1", "garbage",
]  # fmt: skip
TEXTS = [
    "", " ", "\x00", "a\x00b", "%", "%FF", "\ufffd", "\u202e", "🙂", "\n", "a\r\nX-Injected: 1",
    "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "x" * 5000, "x" * 70_000,
]  # fmt: skip
# Dates that are well formed, nearly so, or far out (5-digit years, offsets, out of range).
DATE_LIKE = r"[+-]?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{1,2}:[0-9]{2}([+-][0-9]{2}:[0-9]{2})?)?"

# JSON nested `depth` levels, well formed or broken in the ways a deep document breaks.
SHAPES: dict[str, tuple[int, Callable[[int], str]]] = {
    # name: (characters per level, the document)
    "arrays": (2, lambda n: "[" * n + "]" * n),
    "objects": (6, lambda n: '{"k":' * n + "0" + "}" * n),
    "mixed": (8, lambda n: '[{"k":' * n + "0" + "}]" * n),
    "unclosed": (1, lambda n: "[" * n),
    "one-too-many": (2, lambda n: "[" * n + "]" * (n + 1)),
    "crossed": (2, lambda n: "[" * n + "}" + "]" * (n - 1)),
    "trailing-comma": (3, lambda n: "[" * n + "1," + "]" * n),
}


def deep_json(max_bytes: int, *, large: bool = False) -> st.SearchStrategy[str]:
    """JSON nested to any depth that fits in `max_bytes` (by the shape's width), including
    the depths around where json.loads gives up; `large`: 100 KB to just past 1 MB."""

    def build(shape: str, depth: int) -> str:
        width, make = SHAPES[shape]
        return make(max(1, min(depth, max_bytes // width)))

    if large:
        # Up to the service's 1 MB and one level past it (the "arrays" shape's 2 bytes).
        depths = st.sampled_from([50_000, 100_000, 174_762, MEGABYTE // 2, MEGABYTE // 2 + 1])
    else:
        depths = st.one_of(
            st.sampled_from([1, 2, 998, 999, 1000, 1001, 5000, 100_000]),
            st.integers(1, max_bytes),
        )
    return st.builds(build, st.sampled_from(sorted(SHAPES)), depths)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
).map(json.dumps)


def json_texts(max_bytes: int) -> st.SearchStrategy[str]:
    """Payloads: valid JSON, JSON cut short, and JSON at any depth."""
    return st.one_of(JSON_VALUES, JSON_VALUES.map(lambda text: text[:-1]), deep_json(max_bytes))


def values(world: World) -> st.SearchStrategy[str | bytes]:
    """What a fuzzed parameter holds: text, or bytes (sent as they are, UTF-8 or not).
    JSON up to 64 KB: the fields that carry payloads get theirs up to 1 MB (draw_request)."""
    return st.one_of(
        st.sampled_from(NUMBERS + OTHER_DIGITS + DATES + TEXTS),
        st.sampled_from(world.real),
        st.integers(-(2**80), 2**80).map(str),
        st.text(st.characters(categories=["Nd"]), min_size=1, max_size=24),
        st.from_regex(DATE_LIKE, fullmatch=True),
        st.text(max_size=60),
        st.binary(min_size=1, max_size=24),
        json_texts(64 * 1024),
    )


def path_values(kind: str, route: Route, world: World) -> st.SearchStrategy[str]:
    """A path parameter, percent-encoded: real values and fuzzed ones. Values the
    converter does not match are in the mix too; their answer is a 404."""
    fuzzed = st.one_of(
        st.sampled_from(NUMBERS + OTHER_DIGITS + TEXTS[:-2]),
        st.text(min_size=1, max_size=40),
        st.binary(min_size=1, max_size=16).map(lambda raw: raw.decode("latin-1")),
    )
    if kind == "int":
        real = st.sampled_from(world.ids_for(route)).map(str)
        numbers = st.integers(0, 2**70).map(str)
        return st.one_of(real, real, numbers, fuzzed).map(lambda text: quote(text, safe=""))
    if kind == "slug":
        real = st.sampled_from(sorted(TABS))
    elif route.name.startswith("actions:callback"):
        real = st.sampled_from(world.callback_ids)
    else:
        real = st.sampled_from(world.operation_ids)
    safe = "/" if kind == "path" else ""
    return st.one_of(real, real, fuzzed).map(lambda text: quote(text, safe=safe))


# JSON's punctuation is sent unencoded, which Django reads as it reads %5B: encoded, 1 MB
# of brackets is 3 MB to decode, and most of this test's time went to unquote().
LITERAL = '[]{}:,"/'


def encoded(pairs: list[tuple[str, str | bytes]]) -> str:
    """application/x-www-form-urlencoded, with bytes sent as they are (malformed UTF-8)."""
    return "&".join(
        f"{quote(name, safe='')}="
        + (
            quote_from_bytes(value, safe=LITERAL)
            if isinstance(value, bytes)
            else quote(value, safe=LITERAL)
        )
        for name, value in pairs
    )


# ---- one request --------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    pairs: list[tuple[str, str | bytes]]
    partial: bool
    pk: str | None  # the <int:pk> of the path, as sent

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.pairs}

    def __str__(self) -> str:
        sent = [(name, value[:60]) for name, value in self.pairs]
        return f"{self.method} {self.path[:200]} {sent!r} htmx={self.partial}"


def draw_request(data: st.DataObject, route: Route, world: World, method: str) -> Request:
    path, pk = [], None
    for part in route.parts:
        if isinstance(part, RegexPattern):
            text = data.draw(st.from_regex(part.regex, fullmatch=True), label=str(part))
            path.append(quote(text, safe="/"))
            continue
        text, at = str(part), 0
        for match in CONVERTER.finditer(text):
            path.append(text[at : match.start()])
            kind = match["kind"] or "str"
            value = data.draw(path_values(kind, route, world), label=match["name"])
            if match["name"] == "pk":
                pk = value
            path.append(value)
            at = match.end()
        path.append(text[at:])
    names = PARAMETERS.get(route.name, ()) if route.console else ADMIN_PARAMETERS
    every = sorted({name for listed in PARAMETERS.values() for name in listed})
    chosen = data.draw(st.lists(st.sampled_from(names), max_size=6), label="names") if names else []
    # Now and then a parameter another view reads: one this table forgot is fuzzed too.
    chosen += data.draw(st.lists(st.sampled_from(every), max_size=1), label="stray")
    # One field may carry a payload up to the service's 1 MB (and just past it); more
    # would pass Django's limit on a request body (DATA_UPLOAD_MAX_MEMORY_SIZE).
    big = [name for name in chosen if name in JSON_FIELDS]
    pairs: list[tuple[str, str | bytes]] = []
    for name in chosen:
        if name == "token" and route.name in TOKEN_WHEN_ENDED and pk == str(world.ended.pk):
            token = st.one_of(st.just(tokens.one_time_token(world.user)), values(world))
            pairs.append((name, data.draw(token, label=name)))
        elif name in JSON_FIELDS and big and name == big[0]:
            strategy = st.one_of(
                deep_json(MEGABYTE + 2, large=True), json_texts(MEGABYTE + 2), values(world)
            )
            pairs.append((name, data.draw(strategy, label=name)))
        elif name == "filter":
            # The list's filter travels as a query string: fuzz what it holds, too.
            inner = st.lists(st.tuples(st.sampled_from(LIST_FILTERS), values(world)), max_size=3)
            query = st.one_of(inner.map(encoded), values(world))
            pairs.append((name, data.draw(query, label=name)))
        else:
            pairs.append((name, data.draw(values(world), label=name)))
    partial = data.draw(st.booleans(), label="htmx")
    return Request(method, "/" + "".join(path), pairs, partial, pk)


def send(client: Client, request: Request) -> Any:
    headers = {"HX-Request": "true"} if request.partial else {}
    body = encoded(request.pairs)
    if request.method == "GET":
        target = f"{request.path}?{body}" if body else request.path
        return client.get(target, headers=headers, REMOTE_ADDR=FUZZ_ADDRESS)
    return client.post(
        request.path,
        data=body.encode("ascii"),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
        REMOTE_ADDR=FUZZ_ADDRESS,
    )


# Where a console page puts the reason it refused: the 400 page of a malformed query, and
# the refusals beside the forms.
REFUSAL = re.compile(
    r'data-testid="(bad-request-message|[a-z-]*error|rule-errors)"[^>]*>(.*?)</', re.DOTALL
)


def assert_answered(response: Any, request: Request, route: Route) -> None:
    """Below 500; and a 400 of the console says what is wrong, naming the parameter when
    the query could not be read."""
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)
    assert response.status_code < 500, f"{route}: {response.status_code} for {request}"
    if response.status_code != 400 or not route.console:
        return
    body = response.content.decode("utf-8", "replace")
    found = {key: html.unescape(text).strip() for key, text in REFUSAL.findall(body)}
    assert any(found.values()), f"{route}: a 400 that does not say what is wrong, for {request}"
    message = found.get("bad-request-message")
    if message is not None:
        # The parameter that is wrong, or the one that is missing.
        names = request.names | set(PARAMETERS.get(route.name, ()))
        named = [name for name in names if f"“{name}”" in message]
        assert named, f"{route}: “{message}” names none of {sorted(names)}"


# ---- the fuzz -------------------------------------------------------------------------------

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
# Django's admin is fuzzed more lightly: its many URLs are Django's code, not ours.
ADMIN_FUZZ = settings(FUZZ, max_examples=4)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name or str(route))
def test_no_input_to_any_url_gives_a_server_error(world: World, route: Route) -> None:
    client = Client()

    @(FUZZ if route.console else ADMIN_FUZZ)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        if not User.objects.filter(pk=world.user.pk).exists():
            world.user.save(force_insert=True)  # an example deleted it in the admin
        # Signed in again each time: an example may have posted to /logout/.
        client.force_login(world.user)
        for method in ("GET", "POST"):
            request = draw_request(data, route, world, method)
            assert_answered(send(client, request), request, route)

    fuzz()


def test_every_url_of_the_console_has_its_parameters_listed() -> None:
    named = {route.name for route in ROUTES if route.console and route.name}
    assert named - set(PARAMETERS) == set(), "list what the new views read in PARAMETERS"
    assert set(PARAMETERS) - named == set(), "PARAMETERS names URLs that are gone"


@settings(derandomize=True, database=None, deadline=None, max_examples=400)
@given(text=st.one_of(JSON_VALUES, JSON_VALUES.map(lambda t: t[:-1]), st.text(max_size=30)))
def test_the_json_check_without_recursion_agrees_with_json_loads(text: str) -> None:
    try:
        json.loads(text, parse_int=str)
    except ValueError:
        assert validation.json_error(text) != ""
    else:
        assert validation.json_error(text) == ""


# ---- regression tests ---------------------------------------------------------------------


@pytest.fixture
def admin(world: World) -> Client:
    client = Client()
    client.force_login(world.user)
    return client


def arabic(number: int) -> str:
    """A number in Arabic-Indic digits, which int() reads as the same number."""
    return str(number).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


def refusal(response: Any) -> str:
    body = response.content.decode()
    return " ".join(html.unescape(text).strip() for _, text in REFUSAL.findall(body))


def _callback_url(execution: Execution, answer: str) -> str:
    callback_id = Operation.objects.get(execution=execution, type="CALLBACK").callback_id
    return f"/executions/{execution.pk}/callbacks/{callback_id}/{answer}"


DEEP = "[" * (MEGABYTE // 2) + "]" * (MEGABYTE // 2)  # exactly 1 MB, 524,288 levels
DEEP_BROKEN = DEEP[:-1] + "}"


def test_a_callback_result_nested_half_a_million_levels_deep_is_read_as_json(
    admin: Client, world: World
) -> None:
    assert validation.json_payload(DEEP) == DEEP
    response = admin.post(
        _callback_url(world.ended, "succeed"),
        {"result": DEEP, "token": tokens.one_time_token(world.user)},
    )
    # Read as JSON: what stops it is that the callback no longer waits, as it should.
    assert response.status_code == 400
    assert "no longer pending" in refusal(response)
    assert not AuditEntry.objects.exclude(action="callback_success").exists()


def test_a_deeply_nested_result_that_is_not_json_is_refused_with_where_it_breaks(
    admin: Client, world: World
) -> None:
    response = admin.post(
        _callback_url(world.ended, "succeed"),
        {"result": DEEP_BROKEN, "token": tokens.one_time_token(world.user)},
    )
    assert response.status_code == 400
    assert "Result is not valid JSON: unexpected “}” at character 1,048,575" in refusal(response)


def test_deeply_nested_error_data_of_a_rejection_is_read_without_recursion(
    admin: Client, world: World
) -> None:
    url = _callback_url(world.ended, "fail")
    token = tokens.one_time_token
    # The error's type, message and data share the 1 MB: 100,000 levels are 200 KB.
    deep = "[" * 100_000 + "]" * 100_000
    accepted = admin.post(url, {"error_type": "No", "error_data": deep, "token": token(world.user)})
    refused = admin.post(
        url, {"error_type": "No", "error_data": "[" * 5000, "token": token(world.user)}
    )
    assert accepted.status_code == 400
    assert "no longer pending" in refusal(accepted)
    assert refused.status_code == 400
    assert "Error data is not valid JSON: the text ends at character 5,000" in refusal(refused)


def test_a_start_input_nested_deeper_than_json_loads_goes_is_refused_only_when_broken(
    admin: Client, world: World
) -> None:
    assert validation.json_payload(DEEP, "Input") == DEEP
    response = admin.post(
        "/executions/start/",
        {
            "function": world.running.function_id,
            "name": "deep-input",
            "input": DEEP_BROKEN,
            "token": tokens.one_time_token(world.user),
        },
    )
    assert response.status_code == 400
    assert "Input is not valid JSON: unexpected “}”" in refusal(response)
    assert not AuditEntry.objects.filter(action="start").exists()


def test_a_bulk_answer_whose_deep_result_is_broken_is_refused_before_anything_is_queued(
    admin: Client, world: World
) -> None:
    callback = Operation.objects.pending_callbacks().get(execution=world.running)
    response = admin.post(
        "/approvals/bulk",
        {"answer": "approve", "ops": [callback.pk], "confirm": "yes", "result": DEEP_BROKEN},
    )
    assert response.status_code == 400
    assert "Nothing was sent: Result is not valid JSON" in refusal(response)
    assert BulkJob.objects.filter(action="callback_success").count() == 1  # the world's own


def test_a_payload_over_one_megabyte_is_refused_for_its_size_at_any_depth() -> None:
    with pytest.raises(ValidationError, match="1,048,578 bytes; the service accepts"):
        validation.json_payload("[" + DEEP + "]")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("to=99999-01-01", "“to” must be a date in a year from 1 to 9999"),
        ("from=0000-01-01", "“from” must be a date in a year from 1 to 9999"),
        ("to=9999-12-31T23:59-05:00", "“to” must be a moment from 0001-01-01 00:00"),
        ("from=0001-01-01T00:00%2B05:00", "“from” must be a moment from 0001-01-01 00:00"),
        ("to=garbage", "“to” must be a date (2026-01-31)"),
    ],
)
@pytest.mark.parametrize("url", ["/executions/", "/executions/news"])
def test_a_list_filter_date_outside_the_calendar_is_refused_with_a_reason(
    admin: Client, world: World, url: str, query: str, reason: str
) -> None:
    response = admin.get(f"{url}?{query}")
    assert response.status_code == 400
    assert reason in refusal(response)


def test_the_last_day_there_is_and_the_first_bound_the_list_without_an_error(
    admin: Client, world: World
) -> None:
    everything = admin.get("/executions/?from=0001-01-01&to=9999-12-31")
    nothing = admin.get("/executions/?from=9999-12-31T23:59:59.999999")
    assert everything.status_code == nothing.status_code == 200
    assert all(e.name in everything.content.decode() for e in Execution.objects.all())
    assert world.running.name not in nothing.content.decode()


def test_a_bulk_stop_by_a_filter_with_an_impossible_date_is_refused_with_a_reason(
    admin: Client, world: World
) -> None:
    response = admin.post(
        "/executions/bulk-stop",
        {"scope": "filter", "filter": "to=9999-12-31T23:59-05:00"},
        follow=True,
    )
    page = response.content.decode()
    assert "The list&#x27;s filter cannot be read: “to” must be a moment" in page
    assert BulkJob.objects.filter(action="stop").count() == 1  # the world's own


PAGES = ["/approvals/", "/audit/", "/notifications/deliveries/", "jobs", "answer-jobs"]


def _page_url(world: World, page: str) -> str:
    return {
        "jobs": f"/jobs/{world.stop_job}/",
        "answer-jobs": f"/approvals/jobs/{world.answer_job}/",
    }.get(page, page)


@pytest.mark.parametrize("page", PAGES)
def test_a_page_number_in_arabic_digits_is_refused_with_a_reason(
    admin: Client, world: World, page: str
) -> None:
    response = admin.get(_page_url(world, page), {"page": "١٢٣"})
    assert response.status_code == 400
    assert "“page” must be a whole number written with the digits 0-9, not “١٢٣”" in refusal(
        response
    )


@pytest.mark.parametrize("page", PAGES)
def test_a_page_number_past_a_64_bit_integer_is_refused_and_the_largest_is_the_last_page(
    admin: Client, world: World, page: str
) -> None:
    url = _page_url(world, page)
    too_large = admin.get(url, {"page": "99999999999999999999999"})
    largest = admin.get(url, {"page": str(MAX)})
    assert too_large.status_code == 400
    assert "“page” is too large" in refusal(too_large)
    assert largest.status_code == 200


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/executions/compare?a={}&b=1", "a"),
        ("/executions/compare?ids={}&ids=1", "ids"),
        ("/executions/rows?ids={}", "ids"),
        ("/executions/?source={}", "source"),
        ("/executions/?function={}", "function"),
        ("/executions/start/?from={}", "from"),
        ("/notifications/deliveries/?rule={}", "rule"),
        ("/executions/?after=1.{}", "after"),
        ("/executions/news?since=1.{}", "since"),
    ],
)
@pytest.mark.parametrize("number", ["١", "۲", "99999999999999999999999", "9" * 5000])
def test_an_id_in_other_digits_or_past_64_bits_in_a_query_is_refused_with_a_reason(
    admin: Client, world: World, url: str, name: str, number: str
) -> None:
    response = admin.get(url.format(quote(number)))
    assert response.status_code == 400
    assert f"“{name}”" in refusal(response)


def test_the_largest_64_bit_id_is_read_and_found_missing_and_the_next_is_refused(
    admin: Client, world: World
) -> None:
    largest = admin.get(f"/executions/compare?a={MAX}&b={world.running.pk}")
    past = admin.get(f"/executions/compare?a={MAX + 1}&b={world.running.pk}")
    assert largest.status_code == 404
    assert past.status_code == 400 and "“a” is too large" in refusal(past)


def test_an_operations_offset_past_any_row_is_refused_and_the_largest_shows_none(
    admin: Client, world: World
) -> None:
    url = f"/executions/{world.running.pk}/tree-rows"
    htmx = {"HX-Request": "true"}
    past = admin.get(url, {"offset": str(MAX + 1)}, headers=htmx)
    largest = admin.get(url, {"offset": str(MAX)}, headers=htmx)
    assert past.status_code == 400 and "“offset” is too large" in refusal(past)
    assert largest.status_code == 200


def test_a_function_id_in_arabic_digits_in_the_start_form_is_refused_and_nothing_is_sent(
    admin: Client, world: World
) -> None:
    # ١ is read by int() as 1, and the world's function has a small id: without the
    # check, this started an execution of another function than the one the form names.
    function = arabic(world.running.function_id)
    response = admin.post(
        "/executions/start/",
        {
            "function": function,
            "name": "arabic-id",
            "input": "{}",
            "token": tokens.one_time_token(world.user),
        },
    )
    assert response.status_code == 400
    assert f"“function” must be a whole number written with the digits 0-9, not “{function}”" in (
        refusal(response)
    )
    assert not AuditEntry.objects.filter(action="start").exists()


def test_an_over_long_function_id_in_the_start_form_is_refused_with_a_reason(
    admin: Client, world: World
) -> None:
    response = admin.post(
        "/executions/start/",
        {"function": "9" * 30, "name": "long-id", "input": "{}", "token": "x"},
    )
    assert response.status_code == 400
    assert "“function” is too large" in refusal(response)


BAD_IDS = [
    ("١", "must be a whole number written with the digits 0-9"),
    ("99999999999999999999999", "is too large"),
]


@pytest.mark.parametrize(("number", "reason"), BAD_IDS)
def test_ids_in_a_bulk_stop_are_read_from_digits_0_to_9_and_within_64_bits(
    admin: Client, world: World, number: str, reason: str
) -> None:
    # The running execution's own id, written in Arabic digits, must not select it.
    ids = [number, arabic(world.running.pk)]
    response = admin.post("/executions/bulk-stop", {"ids": ids}, follow=True)
    page = response.content.decode()
    assert f"“ids” {reason}" in html.unescape(page)
    assert 'data-testid="bulk-confirm"' not in page and "Stop 1" not in page


@pytest.mark.parametrize(("number", "reason"), BAD_IDS)
def test_callback_ids_in_a_bulk_answer_are_read_from_digits_0_to_9_and_within_64_bits(
    admin: Client, world: World, number: str, reason: str
) -> None:
    callback = Operation.objects.pending_callbacks().get(execution=world.running)
    ops = [number, arabic(callback.pk)]
    response = admin.post("/approvals/bulk", {"answer": "approve", "ops": ops}, follow=True)
    page = response.content.decode()
    assert f"“ops” {reason}" in html.unescape(page)
    assert 'data-testid="bulk-answer-confirm"' not in page


@pytest.mark.parametrize("target", ["2026-13-01", "9999-12-31T23:59", "²", "login"])
def test_a_next_that_is_not_a_path_sends_a_form_back_to_its_page_not_to_a_view_of_that_name(
    admin: Client, world: World, target: str
) -> None:
    # redirect() looked a bare word up as a view's name: NoReverseMatch, a 500, for the
    # first three; the last went to the sign-in page.
    response = admin.post(f"/executions/{world.ended.pk}/stop", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == f"/executions/{world.ended.pk}/"


def test_a_next_on_this_site_is_followed_as_a_path_or_a_whole_address(
    admin: Client, world: World
) -> None:
    for target in ("/executions/?status=RUNNING", "http://testserver/approvals/"):
        response = admin.post(f"/executions/{world.ended.pk}/stop", {"next": target})
        assert response["Location"] == target
    elsewhere = admin.post(f"/executions/{world.ended.pk}/stop", {"next": "https://example.com/"})
    assert elsewhere["Location"] == f"/executions/{world.ended.pk}/"


@pytest.mark.parametrize(
    "text", ["١٢٣", "１２３", "1_000", "+1", " 1", "0x10", "1e3", "1.0", "", "-", "٣"]
)
def test_whole_numbers_are_read_from_the_digits_0_to_9_only(text: str) -> None:
    with pytest.raises(params.BadQuery, match="“n” must be a whole number"):
        params.whole_number("n", text)


def test_whole_numbers_keep_their_sign_and_leading_zeros_mean_nothing() -> None:
    assert params.whole_number("n", "-0") == 0
    assert params.whole_number("n", "007") == 7
    assert params.whole_number("n", "-" + str(MAX + 1)) == -MAX - 1
    assert params.whole_number("n", "0" * 30 + "1") == 1
    with pytest.raises(params.BadQuery, match="“n” must be at least -9223372036854775808"):
        params.whole_number("n", "-" + str(MAX + 2))


def test_a_refused_value_is_quoted_short_and_on_one_line() -> None:
    with pytest.raises(params.BadQuery) as refused:
        params.whole_number("n", "a\x00b\n" + "c" * 100)
    assert str(refused.value) == (
        "“n” must be a whole number written with the digits 0-9, not "
        "“a\ufffdb\ufffd" + "c" * 36 + "… (104 characters)”."
    )


# ---- what the fuzz found outside the views above ------------------------------------------


def test_a_post_to_add_a_set_aside_message_in_the_admin_is_not_a_server_error(
    admin: Client,
) -> None:
    response = admin.post("/admin/executions/setasidemessage/add/", {"_save": "Save"})
    assert response.status_code == 403  # set aside by the consumer only


def test_an_empty_post_of_the_rule_form_says_what_is_wrong(admin: Client, world: World) -> None:
    for url in ("/notifications/new", f"/notifications/{world.rule}/"):
        response = admin.post(url)
        assert response.status_code == 400
        assert refusal(response), url
