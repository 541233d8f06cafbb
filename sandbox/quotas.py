"""The sandbox's API quotas: token buckets that throttle like Lambda, and the counts.

Lambda throttles the durable execution APIs per account and Region (Lambda's quotas
page, "Durable functions"): a call over the quota gets HTTP 429 with
`TooManyRequestsException`. The sandbox does the same, so that a console which would
be throttled on AWS is throttled here too, and every call it makes is counted.

- One bucket per (account, API). The sandbox stands in for one account per access key
  ID in the request's signature (unsigned requests are one more account), so a test
  harness signing its own calls does not spend the console's quota, while two tools
  that share credentials share it as they would on AWS.
- A bucket holds `burst` tokens and refills at `rate` per second (burst defaults to one
  second's worth).
- `inject` answers that share of the throttled APIs' calls with a 429 even when a token
  is left, as AWS does when the quota is spent by someone the caller cannot see.
- Counts: calls admitted and throttled per account and API, and the admitted calls of
  each second of the last ten minutes, so tests and benchmarks can check a rate.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

# Requests per second, per account and Region (Lambda's quotas page, botocore 1.44.5).
QUOTAS: dict[str, float] = {
    "GetDurableExecutionHistory": 15,
    "ListDurableExecutionsByFunction": 15,
    "GetDurableExecution": 30,
    "StopDurableExecution": 300,
    "SendDurableExecutionCallbackSuccess": 3000,
    "SendDurableExecutionCallbackFailure": 3000,
    "SendDurableExecutionCallbackHeartbeat": 3000,
}
READ_APIS = ("GetDurableExecutionHistory", "ListDurableExecutionsByFunction", "GetDurableExecution")

# (method, path under /2025-12-01) -> API name, from the botocore model's request URIs.
_EXECUTION = r"/durable-executions/[^/]+"
_CALLBACK = r"/durable-execution-callbacks/[^/]+"
_ROUTES = [
    (method, re.compile(rf"^/2025-12-01{path}$"), name)
    for method, path, name in [
        ("GET", _EXECUTION + "/history", "GetDurableExecutionHistory"),
        ("GET", _EXECUTION + "/state", "GetDurableExecutionState"),
        ("GET", _EXECUTION, "GetDurableExecution"),
        ("GET", r"/functions/[^/]+/durable-executions", "ListDurableExecutionsByFunction"),
        ("POST", _EXECUTION + "/stop", "StopDurableExecution"),
        ("POST", _CALLBACK + "/succeed", "SendDurableExecutionCallbackSuccess"),
        ("POST", _CALLBACK + "/fail", "SendDurableExecutionCallbackFailure"),
        ("POST", _CALLBACK + "/heartbeat", "SendDurableExecutionCallbackHeartbeat"),
    ]
]
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
HISTORY_SECONDS = 600


def api_of(method: str, path: str) -> str:
    """The API a durable execution request calls ("" when it is not one we meter)."""
    for route_method, pattern, name in _ROUTES:
        if method == route_method and pattern.match(path):
            return name
    return ""


def account_of(headers: Any) -> str:
    """The stand-in account of a request: its signature's access key ID, or "unsigned"."""
    match = _CREDENTIAL.search(headers.get("Authorization") or "")
    return unquote(match.group(1)) if match else "unsigned"


@dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Counts:
    calls: int = 0
    throttled: int = 0
    injected: int = 0
    per_second: deque[list[int]] = field(default_factory=deque)  # [epoch second, admitted]

    def admit(self, now: float) -> None:
        self.calls += 1
        second = int(now)
        if self.per_second and self.per_second[-1][0] == second:
            self.per_second[-1][1] += 1
        else:
            self.per_second.append([second, 1])
            while self.per_second and self.per_second[0][0] < second - HISTORY_SECONDS:
                self.per_second.popleft()


class Quotas:
    """Thread-safe buckets and counts for the sandbox host."""

    def __init__(
        self,
        enabled: bool = True,
        rates: dict[str, float] | None = None,
        burst_seconds: float = 1.0,
        inject: float = 0.0,
        seed: int = 7,
    ) -> None:
        self.lock = threading.Lock()
        self.enabled = enabled
        self.rates = dict(QUOTAS if rates is None else rates)
        self.burst_seconds = burst_seconds
        self.inject = inject
        self.random = random.Random(seed)
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.counts: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))

    def check(self, account: str, api: str) -> str:
        """Count one call; "" to serve it, or why it is throttled ("quota", "injected")."""
        now = time.time()
        with self.lock:
            counts = self.counts[account][api]
            rate = self.rates.get(api)
            if self.enabled and rate:
                if self.inject and self.random.random() < self.inject:
                    counts.throttled += 1
                    counts.injected += 1
                    return "injected"
                bucket = self.buckets.get((account, api))
                if bucket is None:
                    burst = max(1.0, rate * self.burst_seconds)
                    bucket = self.buckets[(account, api)] = Bucket(rate, burst, burst, now)
                if not bucket.take(now):
                    counts.throttled += 1
                    return "quota"
            counts.admit(now)
            return ""

    def configure(self, settings: dict[str, Any]) -> None:
        """Change the quotas at run time (the control endpoint); `reset` clears the counts."""
        with self.lock:
            if "enabled" in settings:
                self.enabled = bool(settings["enabled"])
            if "rates" in settings:
                self.rates.update({k: float(v) for k, v in settings["rates"].items()})
            if "burst_seconds" in settings:
                self.burst_seconds = float(settings["burst_seconds"])
            if "inject" in settings:
                self.inject = float(settings["inject"])
            if "seed" in settings:
                self.random.seed(settings["seed"])
            self.buckets.clear()  # new rates take effect with full buckets
            if settings.get("reset"):
                self.counts.clear()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "enabled": self.enabled,
                "rates": dict(self.rates),
                "burst_seconds": self.burst_seconds,
                "inject": self.inject,
                "accounts": {
                    account: {
                        api: {
                            "calls": c.calls,
                            "throttled": c.throttled,
                            "injected": c.injected,
                            "per_second": [list(p) for p in c.per_second],
                        }
                        for api, c in apis.items()
                    }
                    for account, apis in self.counts.items()
                },
            }


def throttle_body(api: str, reason: str) -> bytes:
    """Lambda's TooManyRequestsException body (the shape botocore parses)."""
    message = (
        f"Rate exceeded for {api}: the quota is shared by every caller in this account and Region"
        if reason == "quota"
        else f"Rate exceeded for {api}"
    )
    return json.dumps(
        {"Type": "User", "message": message, "Reason": "CallerRateLimitExceeded"}
    ).encode()
