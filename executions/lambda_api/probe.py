"""Test a source's connection: the calls the sync makes, once each, and what failed in
words: nothing answers at the endpoint, the credentials are refused, or which IAM action
is missing (from the AccessDenied error's own text).

Each call is made once (no retries: a person waits for the answer) and paid from the call
budget like any other read. Nothing is written and no message is taken from the queue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from executions.lambda_api.calls import budget_wait, call, clean, sqs_call
from executions.lambda_api.endpoint import Endpoint
from executions.lambda_api.errors import BUDGET_EXHAUSTED, LambdaApiError

# How long a test waits for a token of the call budget before it says the budget is spent.
BUDGET_WAIT_SECONDS = 2.0
# Functions named on the source that a test lists (each costs one list call).
MAX_FUNCTIONS = 5

UNREACHABLE = "unreachable"
CREDENTIALS = "credentials"
PERMISSION = "permission"
NOT_FOUND = "not_found"
UNSUPPORTED = "unsupported"
BUDGET = "budget"
OTHER = "other"

CREDENTIAL_CODES = frozenset(
    {
        "NoCredentials",
        "ProfileNotFound",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "AuthFailure",
    }
)
DENIED_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "AuthorizationError", "UnauthorizedOperation"}
)
QUEUE_MISSING_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)
# "... is not authorized to perform: lambda:ListFunctions on resource: ..."
PERFORM = re.compile(r"perform:\s*([A-Za-z0-9-]+:[A-Za-z0-9*]+)")


@dataclass
class Check:
    """One call of the test: what it checked, and what came of it."""

    what: str
    ok: bool
    detail: str
    problem: str = ""  # UNREACHABLE, CREDENTIALS, PERMISSION, NOT_FOUND, ... when not ok
    permission: str = ""  # the IAM action that is missing, for PERMISSION
    note: bool = False  # ok, but not checked for a reason the detail gives


@dataclass
class Probe:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    @property
    def missing_permissions(self) -> list[str]:
        return [check.permission for check in self.checks if check.permission]

    def summary(self) -> str:
        """One line for the audit log."""
        if self.ok:
            return "; ".join(check.detail for check in self.checks)
        return "; ".join(f"{check.what}: {check.detail}" for check in self.failures)


def failed_check(what: str, error: LambdaApiError, action: str, endpoint: Endpoint) -> Check:
    """The Check of a failed call, saying in words which of the kinds of failure it was.
    `action` is the IAM action the call needs (named when the error does not name it)."""
    where = endpoint.endpoint_url or f"AWS ({endpoint.region})"
    code = error.code
    if code == "EndpointUnreachable":
        return Check(
            what,
            False,
            f"Nothing answers at {where}: check the URL and the port, that the endpoint "
            f"is running, and that this server may reach it ({error}).",
            problem=UNREACHABLE,
        )
    if code in CREDENTIAL_CODES:
        return Check(
            what,
            False,
            f"The credentials were refused ({code}): check the credentials mode, the "
            f"profile and the keys this server has for it. {error}",
            problem=CREDENTIALS,
        )
    if code in DENIED_CODES:
        found = PERFORM.search(str(error))
        permission = found.group(1) if found else action
        hint = (
            " (or the ExternalId does not match the role's trust policy)"
            if permission == "sts:AssumeRole"
            else ""
        )
        return Check(
            what,
            False,
            f"Permission missing: {permission}{hint}. Add it to the policy of the "
            f"identity the console uses. {error}",
            problem=PERMISSION,
            permission=permission,
        )
    if error.not_found or code in QUEUE_MISSING_CODES:
        return Check(what, False, f"Not found: {error}", problem=NOT_FOUND)
    if error.unsupported:
        return Check(
            what,
            False,
            f"{where} does not speak this API: {error}. Is it a Lambda endpoint?",
            problem=UNSUPPORTED,
        )
    if code == BUDGET_EXHAUSTED:
        return Check(
            what,
            False,
            "The console's call budget for this account and Region is spent for the moment; "
            "nothing was called. Test again in a few seconds.",
            problem=BUDGET,
        )
    return Check(what, False, str(error), problem=OTHER)


def _try(
    checks: list[Check],
    what: str,
    action: str,
    endpoint: Endpoint,
    make: Callable[[], Any],
) -> Any:
    """Run one call; on failure add its Check and return None."""
    try:
        with budget_wait(BUDGET_WAIT_SECONDS):
            return make()
    except LambdaApiError as exc:
        checks.append(failed_check(what, exc, action, endpoint))
        return None


def _stops(checks: list[Check]) -> bool:
    """Whether the last failure makes every further call fail the same way."""
    if not checks:
        return False
    last = checks[-1]
    # A role that cannot be assumed refuses every call after it the same way.
    return last.problem in (UNREACHABLE, CREDENTIALS, UNSUPPORTED, BUDGET) or (
        last.permission == "sts:AssumeRole"
    )


def probe_connection(
    endpoint: Endpoint, functions: Iterable[tuple[str, str]], *, discover: bool
) -> Probe:
    """Make the calls the sync makes for this source, once each, and say what came of
    them: ListFunctions (when it discovers), ListDurableExecutionsByFunction of the
    functions it names (or of one it found), GetDurableExecution and its history for an
    execution listed, and the status-event queue's attributes."""
    probe = Probe()
    checks = probe.checks
    named = list(functions)[:MAX_FUNCTIONS]
    until_found = False
    if discover:
        page = _try(
            checks,
            "List functions",
            "lambda:ListFunctions",
            endpoint,
            lambda: call(endpoint, "ListFunctions", attempts=1, MaxItems=50),
        )
        if page is None:
            if _stops(checks):
                return probe
        else:
            found = page.get("Functions", [])
            durable = [f["FunctionName"] for f in found if f.get("DurableConfig")]
            more = " (first page)" if page.get("NextMarker") else ""
            checks.append(
                Check(
                    "List functions",
                    True,
                    f"ListFunctions answered: {len(found)} functions{more}, "
                    f"{len(durable)} of them durable"
                    + (
                        f" ({', '.join(durable[:5])}{'…' if len(durable) > 5 else ''})"
                        if durable
                        else ""
                    )
                    + ".",
                )
            )
            if not named and durable:
                # Found, not named: list them until one has an execution to read.
                named = [(name, "") for name in durable[:MAX_FUNCTIONS]]
                until_found = True
    if not named:
        checks.append(
            Check(
                "List executions",
                True,
                "No durable function to list executions of yet: listing is checked once "
                "the source names one or discovers one.",
                note=True,
            )
        )
    execution_arn = ""
    for name, qualifier in named:
        what = f"List executions of {name}{':' + qualifier if qualifier else ''}"
        params: dict[str, Any] = {"FunctionName": name, "MaxItems": 1}
        if qualifier:
            params["Qualifier"] = qualifier
        page = _try(
            checks,
            what,
            "lambda:ListDurableExecutionsByFunction",
            endpoint,
            lambda params=params: call(
                endpoint, "ListDurableExecutionsByFunction", attempts=1, **params
            ),
        )
        if page is None:
            if _stops(checks):
                return probe
            continue
        listed = page.get("DurableExecutions", [])
        checks.append(
            Check(
                what,
                True,
                f"ListDurableExecutionsByFunction answered for {name}"
                + (" (it has executions)." if listed else " (no execution yet)."),
            )
        )
        if listed and not execution_arn:
            execution_arn = listed[0]["DurableExecutionArn"]
            if until_found:
                break
    if execution_arn:
        _read_one(checks, endpoint, execution_arn)
    elif named:
        checks.append(
            Check(
                "Read an execution",
                True,
                "No execution to read yet: GetDurableExecution and GetDurableExecutionHistory "
                "are checked once a function has one.",
                note=True,
            )
        )
    if endpoint.queue_url:
        _queue(checks, endpoint)
    return probe


def _read_one(checks: list[Check], endpoint: Endpoint, arn: str) -> None:
    got = _try(
        checks,
        "Read an execution",
        "lambda:GetDurableExecution",
        endpoint,
        lambda: clean(call(endpoint, "GetDurableExecution", attempts=1, DurableExecutionArn=arn)),
    )
    if got is None:
        if _stops(checks):
            return
    else:
        checks.append(Check("Read an execution", True, "GetDurableExecution answered."))
    history = _try(
        checks,
        "Read a history",
        "lambda:GetDurableExecutionHistory",
        endpoint,
        lambda: call(
            endpoint,
            "GetDurableExecutionHistory",
            attempts=1,
            DurableExecutionArn=arn,
            MaxItems=1,
            IncludeExecutionData=False,
        ),
    )
    if history is not None:
        checks.append(Check("Read a history", True, "GetDurableExecutionHistory answered."))


def _queue(checks: list[Check], endpoint: Endpoint) -> None:
    what = "Status-event queue"
    # GetQueueAttributes, not ReceiveMessage: a test must not take (or count a receive of)
    # a message the consumer is waiting for.
    answer = _try(
        checks,
        what,
        "sqs:GetQueueAttributes",
        endpoint,
        lambda: sqs_call(
            endpoint,
            "GetQueueAttributes",
            QueueUrl=endpoint.queue_url,
            AttributeNames=["ApproximateNumberOfMessages"],
        ),
    )
    if answer is None:
        if checks[-1].problem == PERMISSION:
            checks[-1].detail += (
                " The console itself needs sqs:ReceiveMessage and sqs:DeleteMessage on the "
                "queue; the test asks for the queue's attributes so as to take no message."
            )
        return
    waiting = (answer.get("Attributes") or {}).get("ApproximateNumberOfMessages", "?")
    checks.append(Check(what, True, f"The queue answered ({waiting} messages waiting)."))
