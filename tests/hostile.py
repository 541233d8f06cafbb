"""Hostile input carried by a real execution in the sandbox (echo-steps names its
operations, results and error after its input)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from executions.models import Execution
from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories

# Each would run script if it reached the page as markup; a test checks it never does.
HTML = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "</script><script>window.__pwned=2</script>"
DOT = '"q" \\ back\\slash {braces} -> } ; digraph { x }'
BIG = "z" * 100_000
UNICODE = "日本語の操作 · العربية · Ελληνικά"
ERROR = "<svg onload=window.__pwned=4>"
MARKERS = ['<img src=x onerror="window.__pwned', "<script>window.__pwned", "<svg onload=window"]


def deep_json(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["d"] = {}
        node = node["d"]
    return root


def hostile_execution(lambda_sandbox: Any, source: Any) -> Execution:
    """Start echo-steps with hostile names and payloads, answer its callback, mirror it."""
    tag = uuid.uuid4().hex[:6]
    event = {
        "names": [HTML, DOT, BIG, UNICODE, SCRIPT],
        "context": SCRIPT,
        "result": {"html": "<img src=x onerror=window.__pwned=3>", "big": "y" * 100_000},
        "deep": deep_json(900),
        "callback": "<i>cb</i>" + HTML,
        "error": ERROR + " " + BIG[:5000],
    }
    arn = start(lambda_sandbox, "echo-steps", event, f'<b id="pwn">bold</b>-{tag}')
    callback = wait_for_callback(lambda_sandbox, arn)
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback, Result=json.dumps({"x": SCRIPT}).encode()
    )
    wait_for_status(lambda_sandbox, arn)
    return factories.mirrored(source, arn)
