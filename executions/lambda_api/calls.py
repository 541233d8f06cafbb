"""One call to a Lambda endpoint: within the call budget, with retries and backoff on
transient errors, raising LambdaApiError."""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import botocore.exceptions

from executions.budget import BudgetExhausted, CallBudget
from executions.lambda_api.clients import account, account_known, client, sqs_client
from executions.lambda_api.endpoint import Endpoint
from executions.lambda_api.errors import BUDGET_EXHAUSTED, LambdaApiError, domain_error

logger = logging.getLogger(__name__)

# Backoff: attempt n waits uniform(0, min(cap, base * 2**n)) seconds ("full jitter").
RETRY_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0

# History pages: the API allows up to 1,000 events per page.
MAX_HISTORY_PAGE = 1000


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


def scope(endpoint: Endpoint) -> str:
    """What Lambda's quotas are counted against: the account and Region on AWS, the
    endpoint and Region elsewhere. Sources that share an account and Region share a budget."""
    if endpoint.endpoint_url:
        return f"{endpoint.endpoint_url}|{endpoint.region}"
    return f"aws:{account(endpoint)}:{endpoint.region}"


_remembered: set[tuple[str, str]] = set()


def known_scope(endpoint: Endpoint) -> str | None:
    """The endpoint's scope if it is known without a network call (pages use this)."""
    if endpoint.endpoint_url or account_known(endpoint):
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


def call(
    endpoint: Endpoint, operation: str, *, attempts: int = RETRY_ATTEMPTS, **params: Any
) -> Any:
    """Call `operation` within the budget, with retries on transient errors (up to
    `attempts` tries in all; the connection test makes one); raise LambdaApiError."""
    method = getattr(client(endpoint), snake(operation))
    attempt = 0
    while True:
        _take_token(endpoint, operation)
        try:
            return method(**params)
        except botocore.exceptions.ClientError as exc:
            error = domain_error(exc, operation)
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
        if error.permanent or attempt >= attempts:
            raise error
        delay = random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
        logger.info("%s failed (%s); retry %d in %.2f s", operation, error.code, attempt, delay)
        time.sleep(delay)


def snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def clean(response: dict[str, Any]) -> dict[str, Any]:
    response = dict(response)
    response.pop("ResponseMetadata", None)
    return response


def sqs_call(endpoint: Endpoint, operation: str, **params: Any) -> Any:
    try:
        return getattr(sqs_client(endpoint), snake(operation))(**params)
    except botocore.exceptions.ClientError as exc:
        raise domain_error(exc, f"SQS {operation}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise LambdaApiError(
            f"SQS {operation}: cannot reach {endpoint.queue_endpoint_url or 'SQS'}: {exc}",
            code="EndpointUnreachable",
            operation=operation,
        ) from exc
