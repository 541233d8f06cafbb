"""The sandbox's account as Lambda describes it: one account and Region, and each sample
function's ARN and configuration (GetFunction, ListFunctions)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sandbox.functions import SampleFunction

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
SYNC_INVOKE_TIMEOUT_SECONDS = 900
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}


def function_arn(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def function_configuration(fn: SampleFunction) -> dict[str, Any]:
    config: dict[str, Any] = {
        "FunctionName": fn.name,
        "FunctionArn": function_arn(fn.name),
        "Runtime": "python3.13",
        "Handler": f"sandbox.functions.{fn.handler.__name__}",
        "Description": fn.description,
        "Timeout": 900,
        "MemorySize": 512,
        "Version": "$LATEST",
        "PackageType": "Zip",
        "State": "Active",
        "LastModified": "2026-01-01T00:00:00.000+0000",
    }
    if fn.durable:
        config["DurableConfig"] = {
            "ExecutionTimeout": fn.execution_timeout,
            "RetentionPeriodInDays": fn.retention_days,
        }
    return config


def split_function_name(raw: str, qualifier: str | None) -> tuple[str, str | None]:
    """Accept a name, `name:qualifier`, or a (partial or full) function ARN."""
    name = unquote(raw)
    if name.startswith("arn:"):
        parts = name.split(":")
        # arn:aws:lambda:region:account:function:name[:qualifier]
        name = parts[6] if len(parts) > 6 else parts[-1]
        if len(parts) > 7 and not qualifier:
            qualifier = parts[7]
    elif ":" in name:
        name, _, q = name.partition(":")
        qualifier = qualifier or q
    return name, qualifier
