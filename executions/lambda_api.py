"""Every call the console makes to a Lambda endpoint (and to the SQS queue of its status
events). Nothing else imports boto3.

One domain error, `LambdaApiError`, with a `permanent` flag: permanent errors (access
denied, not found, invalid input) will not go away on a retry; transient ones
(throttling, 5xx, connection failures) are retried here with exponential backoff and
full jitter before they are raised. botocore's own retries are switched off so that
every HTTP request is one counted, visible call.

Every read call first takes a token from the call budget (executions/budget.py), one
per (account or endpoint, Region, API) shared by every worker through Redis; a throttle
that gets through anyway is reported back to it. `set_budget` installs it (the app does
at start-up); without one, calls are not budgeted.

Timestamps in the records returned here are timezone-aware datetimes, as boto3 parses
them; `jsonable` turns a record into something a JSONField can store.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.exceptions
from botocore import UNSIGNED
from botocore.config import Config

from executions.budget import DEFAULT_SHARE, BudgetExhausted, CallBudget, budget_rate

logger = logging.getLogger(__name__)

TRANSIENT_CODES = {
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ServiceException",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
    "EC2ThrottledException",
    "ResourceNotReadyException",
}
THROTTLING_CODES = {"TooManyRequestsException", "ThrottlingException", "Throttling"}
UNSUPPORTED_CODES = {"UnknownOperationException", "UnsupportedOperationException"}
# Not an error of the endpoint: the console's own call budget is spent for now.
BUDGET_EXHAUSTED = "BudgetExhausted"
NOT_FOUND_CODES = {"ResourceNotFoundException"}

# Backoff: attempt n waits uniform(0, min(cap, base * 2**n)) seconds ("full jitter").
RETRY_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0

# History pages: the API allows up to 1,000 events per page.
MAX_HISTORY_PAGE = 1000


class LambdaApiError(Exception):
    """A call to a Lambda endpoint failed. `permanent` says whether a retry could help."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        operation: str = "",
        permanent: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation
        self.permanent = permanent
        self.status = status

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLING_CODES

    @property
    def unsupported(self) -> bool:
        return self.code in UNSUPPORTED_CODES

    @property
    def not_found(self) -> bool:
        return self.code in NOT_FOUND_CODES

    def __str__(self) -> str:
        if self.unsupported:
            return f"{self.operation} is not supported by this backend."
        return super().__str__()


@dataclass(frozen=True)
class Endpoint:
    """What lambda_api needs to know of a Source (so this module stays free of Django)."""

    name: str
    region: str
    endpoint_url: str = ""
    credentials: str = "default"  # "default", "profile" or "none"
    profile: str = ""
    role_arn: str = ""
    # The share of each API quota this source may spend (the rest is left to others),
    # and the account's own quotas where they differ from Lambda's defaults.
    quota_share: float = DEFAULT_SHARE
    quotas: tuple[tuple[str, float], ...] = ()
    # The SQS queue of the source's status events (blank: none), and its endpoint.
    queue_url: str = ""
    queue_endpoint_url: str = ""

    @classmethod
    def of(cls, source: Any) -> Endpoint:
        return cls(
            name=source.name,
            region=source.region,
            endpoint_url=source.endpoint_url or "",
            credentials=source.credentials,
            profile=source.profile or "",
            role_arn=source.role_arn or "",
            quota_share=source.quota_share / 100,
            quotas=tuple(sorted((source.api_quotas or {}).items())),
            queue_url=getattr(source, "events_queue_url", "") or "",
            queue_endpoint_url=getattr(source, "events_endpoint_url", "") or "",
        )

    def budget_rate(self, api: str) -> float:
        """Calls per second of `api` this source may make."""
        return budget_rate(api, self.quota_share, dict(self.quotas))


# ---- call listeners: a botocore event hook on every client, for counting calls ---------

# listener(operation_name, request_params, parsed_response) after every HTTP response,
# errors included. Tests count calls and events fetched with it; no mock is involved.
CallListener = Callable[[str, dict[str, Any], dict[str, Any]], None]
_listeners: list[CallListener] = []


def add_call_listener(listener: CallListener) -> None:
    _listeners.append(listener)


def remove_call_listener(listener: CallListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _before_call(model: Any = None, params: Any = None, context: Any = None, **_: Any) -> None:
    # before-parameter-build sees the API-level parameters (not the serialised request).
    if context is not None:
        context["durable_console_params"] = dict(params or {})


def _after_call(model: Any = None, parsed: Any = None, context: Any = None, **_: Any) -> None:
    params = (context or {}).get("durable_console_params") or {}
    for listener in list(_listeners):
        listener(model.name if model is not None else "?", params, parsed or {})


# ---- clients --------------------------------------------------------------------------

_clients: dict[Endpoint, tuple[Any, float]] = {}
_clients_lock = threading.Lock()
ROLE_SESSION_SECONDS = 3600


def _session(endpoint: Endpoint) -> tuple[boto3.Session, float]:
    """A boto3 session for the endpoint, and when its credentials expire (inf: never)."""
    if endpoint.credentials == "profile" and endpoint.profile:
        session = boto3.Session(profile_name=endpoint.profile, region_name=endpoint.region)
    else:
        session = boto3.Session(region_name=endpoint.region)
    if not endpoint.role_arn:
        return session, float("inf")
    sts = session.client("sts", region_name=endpoint.region)
    try:
        creds = sts.assume_role(
            RoleArn=endpoint.role_arn,
            RoleSessionName="durable-console",
            DurationSeconds=ROLE_SESSION_SECONDS,
        )["Credentials"]
    except botocore.exceptions.BotoCoreError as exc:
        raise LambdaApiError(
            f"Could not assume role {endpoint.role_arn}: {exc}", operation="AssumeRole"
        ) from exc
    except botocore.exceptions.ClientError as exc:
        raise _domain_error(exc, "AssumeRole") from exc
    assumed = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=endpoint.region,
    )
    # Refresh five minutes before the temporary credentials run out.
    return assumed, time.time() + ROLE_SESSION_SECONDS - 300


def _cached(
    cache: dict[Endpoint, tuple[Any, float]],
    endpoint: Endpoint,
    make: Callable[[Endpoint], tuple[Any, float]],
) -> Any:
    """A client from `cache`, or a new one from `make` (client, expiry) once the cached
    one's credentials run out (thread-safe to share)."""
    with _clients_lock:
        cached = cache.get(endpoint)
        if cached and cached[1] > time.time():
            return cached[0]
    made = make(endpoint)
    with _clients_lock:
        cache[endpoint] = made
    return made[0]


def client(endpoint: Endpoint) -> Any:
    """A cached Lambda client for the endpoint."""
    return _cached(_clients, endpoint, _make_lambda_client)


def _make_lambda_client(endpoint: Endpoint) -> tuple[Any, float]:
    session, expires = _session(endpoint)
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        signature_version=UNSIGNED if endpoint.credentials == "none" else None,
        user_agent_extra="durable-console",
    )
    lambda_client = session.client(
        "lambda",
        region_name=endpoint.region,
        endpoint_url=endpoint.endpoint_url or None,
        config=config,
    )
    lambda_client.meta.events.register("before-parameter-build.lambda", _before_call)
    lambda_client.meta.events.register("after-call.lambda", _after_call)
    return lambda_client, expires


def forget_clients() -> None:
    with _clients_lock:
        _clients.clear()
        _sqs_clients.clear()


_sqs_clients: dict[Endpoint, tuple[Any, float]] = {}


def sqs_client(endpoint: Endpoint) -> Any:
    """A cached SQS client for the endpoint's status-event queue."""
    return _cached(_sqs_clients, endpoint, _make_sqs_client)


def _make_sqs_client(endpoint: Endpoint) -> tuple[Any, float]:
    region = _queue_region(endpoint)
    if endpoint.credentials == "none":
        # A local endpoint: SQS servers route requests by their signature's scope, so
        # sign with placeholder keys (there is nothing to authenticate against).
        session, expires = (
            boto3.Session(
                aws_access_key_id="local", aws_secret_access_key="local", region_name=region
            ),
            float("inf"),
        )
    else:
        session, expires = _session(endpoint)
    sqs = session.client(
        "sqs",
        region_name=region,
        endpoint_url=endpoint.queue_endpoint_url or None,
        config=Config(
            retries={"total_max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            # Long polls wait up to 20 s for a message.
            read_timeout=30,
            user_agent_extra="durable-console",
        ),
    )
    return sqs, expires


def _queue_region(endpoint: Endpoint) -> str:
    # https://sqs.REGION.amazonaws.com/ACCOUNT/NAME names its region.
    host = endpoint.queue_url.split("/")[2] if endpoint.queue_url.count("/") >= 3 else ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[0] == "sqs":
        return parts[1]
    return endpoint.region


# ---- the call budget ------------------------------------------------------------------

_budget: CallBudget | None = None
# How long a budgeted call may wait for its token before it is left for later. Web
# requests (an action's re-sync) wait less than workers: see budget_wait().
BUDGET_MAX_WAIT_SECONDS = 10.0
_local = threading.local()


def set_budget(budget: CallBudget | None) -> None:
    global _budget
    _budget = budget


def get_budget() -> CallBudget | None:
    return _budget


class budget_wait:  # noqa: N801 (used as a context manager, like a function)
    """`with budget_wait(2): ...`: budgeted calls in this thread wait at most 2 s."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        self.previous = getattr(_local, "max_wait", None)
        _local.max_wait = self.seconds

    def __exit__(self, *exc: object) -> None:
        _local.max_wait = self.previous


_accounts: dict[Endpoint, str] = {}


def scope(endpoint: Endpoint) -> str:
    """What Lambda's quotas are counted against: the account and Region on AWS, the
    endpoint and Region elsewhere. Sources that share an account and Region share a budget."""
    if endpoint.endpoint_url:
        return f"{endpoint.endpoint_url}|{endpoint.region}"
    return f"aws:{_account(endpoint)}:{endpoint.region}"


def _account(endpoint: Endpoint) -> str:
    if endpoint.role_arn.count(":") >= 5:
        return endpoint.role_arn.split(":")[4]
    if endpoint in _accounts:
        return _accounts[endpoint]
    try:
        # GetCallerIdentity needs no permission; once per process and endpoint.
        session, _ = _session(endpoint)
        account = session.client("sts", region_name=endpoint.region).get_caller_identity()[
            "Account"
        ]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        logger.warning("cannot tell the account of source %s: %s", endpoint.name, exc)
        return f"profile-{endpoint.profile or 'default'}"
    _accounts[endpoint] = account
    return account


# ---- errors and retries ---------------------------------------------------------------


def _domain_error(exc: botocore.exceptions.ClientError, operation: str) -> LambdaApiError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = error.get("Message") or str(exc)
    transient = code in TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
    return LambdaApiError(
        f"{operation}: {code or status}: {message}",
        code=code,
        operation=operation,
        permanent=not transient,
        status=status,
    )


_remembered: set[tuple[str, str]] = set()


def known_scope(endpoint: Endpoint) -> str | None:
    """The endpoint's scope if it is known without a network call (pages use this)."""
    if endpoint.endpoint_url or endpoint.role_arn.count(":") >= 5 or endpoint in _accounts:
        return scope(endpoint)
    return _budget.scope_of(endpoint.name) if _budget is not None else None


def _take_token(endpoint: Endpoint, operation: str) -> None:
    if _budget is None or not _budget.meters(operation):
        return
    max_wait = getattr(_local, "max_wait", None)
    where = scope(endpoint)
    if (endpoint.name, where) not in _remembered:
        _budget.remember_scope(endpoint.name, where)
        _remembered.add((endpoint.name, where))
    try:
        _budget.acquire(
            where,
            operation,
            endpoint.budget_rate(operation),
            BUDGET_MAX_WAIT_SECONDS if max_wait is None else max_wait,
        )
    except BudgetExhausted as exc:
        raise LambdaApiError(str(exc), code=BUDGET_EXHAUSTED, operation=operation) from exc


def _call(endpoint: Endpoint, operation: str, **params: Any) -> Any:
    """Call `operation` within the budget, with retries on transient errors; raise
    LambdaApiError."""
    method = getattr(client(endpoint), _snake(operation))
    attempt = 0
    while True:
        _take_token(endpoint, operation)
        try:
            return method(**params)
        except botocore.exceptions.ClientError as exc:
            error = _domain_error(exc, operation)
            if error.throttled and _budget is not None and _budget.meters(operation):
                _budget.throttled(scope(endpoint), operation)
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectTimeoutError,
        ) as exc:
            error = LambdaApiError(
                f"{operation}: cannot reach {endpoint.endpoint_url or 'AWS'}: {exc}",
                code="EndpointUnreachable",
                operation=operation,
            )
        except botocore.exceptions.NoCredentialsError as exc:
            raise LambdaApiError(
                f"No AWS credentials for source {endpoint.name}: {exc}",
                code="NoCredentials",
                operation=operation,
                permanent=True,
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise LambdaApiError(f"{operation}: {exc}", operation=operation) from exc
        attempt += 1
        if error.permanent or attempt >= RETRY_ATTEMPTS:
            raise error
        delay = random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
        logger.info("%s failed (%s); retry %d in %.2f s", operation, error.code, attempt, delay)
        time.sleep(delay)


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _clean(response: dict[str, Any]) -> dict[str, Any]:
    response = dict(response)
    response.pop("ResponseMetadata", None)
    return response


# ---- reading --------------------------------------------------------------------------


def list_functions(endpoint: Endpoint) -> list[dict[str, Any]]:
    functions: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    while True:
        page = _call(endpoint, "ListFunctions", **params)
        functions.extend(page.get("Functions", []))
        if not page.get("NextMarker"):
            return functions
        params["Marker"] = page["NextMarker"]


def list_executions(
    endpoint: Endpoint,
    function_name: str,
    qualifier: str = "",
    *,
    started_after: datetime | None = None,
    statuses: list[str] | None = None,
    page_size: int = 1000,
) -> Iterator[dict[str, Any]]:
    """ListDurableExecutionsByFunction, every page."""
    params: dict[str, Any] = {"FunctionName": function_name, "MaxItems": page_size}
    if qualifier:
        params["Qualifier"] = qualifier
    if started_after is not None:
        params["StartedAfter"] = started_after
    if statuses:
        params["Statuses"] = statuses
    while True:
        page = _call(endpoint, "ListDurableExecutionsByFunction", **params)
        yield from page.get("DurableExecutions", [])
        if not page.get("NextMarker"):
            return
        params["Marker"] = page["NextMarker"]


def get_execution(endpoint: Endpoint, arn: str) -> dict[str, Any]:
    return _clean(_call(endpoint, "GetDurableExecution", DurableExecutionArn=arn))


def history_page(
    endpoint: Endpoint,
    arn: str,
    *,
    marker: str | None = None,
    reverse: bool = False,
    max_items: int = MAX_HISTORY_PAGE,
    include_data: bool = True,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "DurableExecutionArn": arn,
        "IncludeExecutionData": include_data,
        "MaxItems": max_items,
        "ReverseOrder": reverse,
    }
    if marker:
        params["Marker"] = marker
    return _clean(_call(endpoint, "GetDurableExecutionHistory", **params))


# ---- status events (EventBridge -> SQS) ----------------------------------------------


def _sqs_call(endpoint: Endpoint, operation: str, **params: Any) -> Any:
    try:
        return getattr(sqs_client(endpoint), _snake(operation))(**params)
    except botocore.exceptions.ClientError as exc:
        raise _domain_error(exc, f"SQS {operation}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise LambdaApiError(
            f"SQS {operation}: cannot reach {endpoint.queue_endpoint_url or 'SQS'}: {exc}",
            code="EndpointUnreachable",
            operation=operation,
        ) from exc


def receive_status_events(
    endpoint: Endpoint, *, max_messages: int = 10, wait_seconds: int = 1
) -> list[dict[str, Any]]:
    """Up to 10 messages of the status-event queue (long polling `wait_seconds`), each
    with its MessageId, ReceiptHandle, Body and SentTimestamp (epoch ms)."""
    response = _sqs_call(
        endpoint,
        "ReceiveMessage",
        QueueUrl=endpoint.queue_url,
        MaxNumberOfMessages=max(1, min(max_messages, 10)),
        WaitTimeSeconds=max(0, min(wait_seconds, 20)),
        MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
    )
    return response.get("Messages", [])


def delete_status_events(endpoint: Endpoint, receipts: dict[str, str]) -> list[str]:
    """Delete messages by {message id: receipt handle}; returns the ids that failed."""
    failed: list[str] = []
    items = list(receipts.items())
    for start in range(0, len(items), 10):
        batch = items[start : start + 10]
        response = _sqs_call(
            endpoint,
            "DeleteMessageBatch",
            QueueUrl=endpoint.queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": handle} for n, (_, handle) in enumerate(batch)
            ],
        )
        failed.extend(batch[int(f["Id"])][0] for f in response.get("Failed", []))
    return failed


# ---- acting ---------------------------------------------------------------------------


def send_callback_success(endpoint: Endpoint, callback_id: str, result: bytes) -> None:
    _call(endpoint, "SendDurableExecutionCallbackSuccess", CallbackId=callback_id, Result=result)


def send_callback_failure(
    endpoint: Endpoint,
    callback_id: str,
    error_type: str,
    error_message: str,
    error_data: str | None = None,
) -> None:
    error: dict[str, Any] = {"ErrorType": error_type, "ErrorMessage": error_message}
    if error_data:
        error["ErrorData"] = error_data
    _call(endpoint, "SendDurableExecutionCallbackFailure", CallbackId=callback_id, Error=error)


def send_callback_heartbeat(endpoint: Endpoint, callback_id: str) -> None:
    _call(endpoint, "SendDurableExecutionCallbackHeartbeat", CallbackId=callback_id)


def stop_execution(
    endpoint: Endpoint, arn: str, error_type: str = "", error_message: str = ""
) -> dict[str, Any]:
    params: dict[str, Any] = {"DurableExecutionArn": arn}
    if error_type or error_message:
        params["Error"] = {"ErrorType": error_type, "ErrorMessage": error_message}
    return _clean(_call(endpoint, "StopDurableExecution", **params))


def pause_execution(endpoint: Endpoint, arn: str, reason: str = "") -> None:
    params: dict[str, Any] = {"DurableExecutionArn": arn}
    if reason:
        params["Reason"] = reason
    _call(endpoint, "PauseDurableExecution", **params)


def resume_execution(endpoint: Endpoint, arn: str, reason: str = "") -> None:
    params: dict[str, Any] = {"DurableExecutionArn": arn}
    if reason:
        params["Reason"] = reason
    _call(endpoint, "ResumeDurableExecution", **params)


def start_execution(
    endpoint: Endpoint, function_name: str, qualifier: str, name: str, payload: bytes
) -> str:
    """Invoke a durable function asynchronously with DurableExecutionName; return the ARN."""
    params: dict[str, Any] = {
        "FunctionName": function_name,
        "InvocationType": "Event",
        "DurableExecutionName": name,
        "Payload": payload,
    }
    if qualifier:
        params["Qualifier"] = qualifier
    response = _call(endpoint, "Invoke", **params)
    arn = response.get("DurableExecutionArn")
    if not arn:
        raise LambdaApiError(
            f"{function_name} did not start a durable execution (is it a durable function?)",
            operation="Invoke",
            permanent=True,
        )
    return arn


# ---- records --------------------------------------------------------------------------


def split_function_arn(arn: str) -> tuple[str, str, str]:
    """`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` -> (region, name,
    qualifier); blanks for what is not there."""
    parts = (arn or "").split(":")
    return (
        parts[3] if len(parts) > 3 else "",
        parts[6] if len(parts) > 6 else "",
        parts[7] if len(parts) > 7 else "",
    )


def jsonable(value: Any) -> Any:
    """A boto3 record with datetimes as ISO strings and bytes as text, for JSONField."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value))
