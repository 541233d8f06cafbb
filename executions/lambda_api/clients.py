"""boto3 sessions and clients per endpoint (cached until their credentials run out), and
the botocore event hook through which every call is seen (tests count calls with it)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions
from botocore import UNSIGNED
from botocore.config import Config

from executions.lambda_api.endpoint import Endpoint
from executions.lambda_api.errors import LambdaApiError, domain_error

logger = logging.getLogger(__name__)


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
    try:
        if endpoint.credentials == "profile" and endpoint.profile:
            session = boto3.Session(profile_name=endpoint.profile, region_name=endpoint.region)
        else:
            session = boto3.Session(region_name=endpoint.region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise LambdaApiError(
            f"No AWS profile named {endpoint.profile!r} on this server: {exc}",
            code="ProfileNotFound",
            operation="Session",
            permanent=True,
        ) from exc
    if not endpoint.role_arn:
        return session, float("inf")
    sts = session.client("sts", region_name=endpoint.region)
    extra = {"ExternalId": endpoint.role_external_id} if endpoint.role_external_id else {}
    try:
        creds = sts.assume_role(
            RoleArn=endpoint.role_arn,
            RoleSessionName="durable-console",
            DurationSeconds=ROLE_SESSION_SECONDS,
            **extra,
        )["Credentials"]
    except botocore.exceptions.BotoCoreError as exc:
        raise LambdaApiError(
            f"Could not assume role {endpoint.role_arn}: {exc}",
            code="NoCredentials"
            if isinstance(exc, botocore.exceptions.NoCredentialsError)
            else "EndpointUnreachable"
            if isinstance(exc, botocore.exceptions.EndpointConnectionError)
            else "",
            operation="AssumeRole",
            permanent=isinstance(exc, botocore.exceptions.NoCredentialsError),
        ) from exc
    except botocore.exceptions.ClientError as exc:
        raise domain_error(exc, "AssumeRole") from exc
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


_accounts: dict[Endpoint, str] = {}


def account(endpoint: Endpoint) -> str:
    """The AWS account of the endpoint: from its role ARN, else asked of STS once."""
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


def account_known(endpoint: Endpoint) -> bool:
    return endpoint.role_arn.count(":") >= 5 or endpoint in _accounts
