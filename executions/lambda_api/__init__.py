"""Every call the console makes to a Lambda endpoint (and to the SQS queue of its status
events). Nothing outside this package imports boto3 or botocore.

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

The package: `errors` (LambdaApiError), `endpoint` (Endpoint), `clients` (boto3 sessions,
clients and the call hook), `calls` (one budgeted, retried call), `reading`, `acting`,
`status_events` (SQS), `probe` (a source's connection test) and `records`. Callers use
the names re-exported here.
"""

from __future__ import annotations

from executions.lambda_api.acting import (
    OPTIONAL_ACTIONS,
    delete_execution,
    pause_execution,
    resume_execution,
    send_callback_failure,
    send_callback_heartbeat,
    send_callback_success,
    start_execution,
    stop_execution,
    supports,
)
from executions.lambda_api.calls import (
    budget_wait,
    get_budget,
    known_scope,
    scope,
    set_budget,
)
from executions.lambda_api.clients import (
    add_call_listener,
    client,
    forget_clients,
    remove_call_listener,
    sqs_client,
)
from executions.lambda_api.endpoint import Endpoint
from executions.lambda_api.errors import BUDGET_EXHAUSTED, LambdaApiError
from executions.lambda_api.probe import Check, Probe, probe_connection
from executions.lambda_api.reading import (
    MAX_HISTORY_PAGE,
    get_execution,
    history_page,
    list_executions,
    list_functions,
)
from executions.lambda_api.records import dumps, jsonable, split_function_arn
from executions.lambda_api.status_events import delete_status_events, receive_status_events

__all__ = [
    "BUDGET_EXHAUSTED",
    "MAX_HISTORY_PAGE",
    "OPTIONAL_ACTIONS",
    "Probe",
    "Check",
    "Endpoint",
    "LambdaApiError",
    "add_call_listener",
    "budget_wait",
    "client",
    "delete_execution",
    "delete_status_events",
    "dumps",
    "forget_clients",
    "get_budget",
    "get_execution",
    "history_page",
    "jsonable",
    "known_scope",
    "list_executions",
    "list_functions",
    "pause_execution",
    "probe_connection",
    "receive_status_events",
    "remove_call_listener",
    "resume_execution",
    "scope",
    "send_callback_failure",
    "send_callback_heartbeat",
    "send_callback_success",
    "set_budget",
    "split_function_arn",
    "sqs_client",
    "start_execution",
    "stop_execution",
    "supports",
]
