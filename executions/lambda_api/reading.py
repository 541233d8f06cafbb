"""Reading: functions, executions, one execution, and history pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from executions.lambda_api.calls import call, clean
from executions.lambda_api.endpoint import Endpoint

# History pages: the API allows up to 1,000 events per page.
MAX_HISTORY_PAGE = 1000


def list_functions(endpoint: Endpoint) -> list[dict[str, Any]]:
    functions: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    while True:
        page = call(endpoint, "ListFunctions", **params)
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
        page = call(endpoint, "ListDurableExecutionsByFunction", **params)
        yield from page.get("DurableExecutions", [])
        if not page.get("NextMarker"):
            return
        params["Marker"] = page["NextMarker"]


def get_execution(endpoint: Endpoint, arn: str) -> dict[str, Any]:
    return clean(call(endpoint, "GetDurableExecution", DurableExecutionArn=arn))


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
    return clean(call(endpoint, "GetDurableExecutionHistory", **params))
