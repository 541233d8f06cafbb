"""Fault injection for the reliability tests: a flaky HTTP proxy in front of the sandbox.

The proxy forwards every request to the real sandbox, except that (by seeded chance)
it answers a share of them itself with Lambda's throttling error (429
TooManyRequestsException) or a 5xx, or delays them. It records what it did, so tests
can bound the number of calls and check that retries were spaced out.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class FaultPlan:
    throttle: float = 0.0  # share answered with 429 TooManyRequestsException
    server_error: float = 0.0  # share answered with 503 ServiceException
    delay: float = 0.0  # share delayed by delay_seconds before forwarding
    delay_seconds: float = 0.3
    seed: int = 7


@dataclass
class ProxyLog:
    requests: list[tuple[float, str, str]] = field(default_factory=list)  # (time, path, outcome)

    def count(self, outcome: str | None = None) -> int:
        return sum(1 for _, _, o in self.requests if outcome is None or o == outcome)


class FlakyProxy:
    def __init__(self, target_url: str, plan: FaultPlan) -> None:
        target = urlsplit(target_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.plan = plan
        self.log = ProxyLog()
        self.random = random.Random(plan.seed)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    roll = proxy.random.random()
                plan = proxy.plan
                if roll < plan.throttle:
                    outcome = "throttled"
                    self._reply(429, "TooManyRequestsException", "Rate exceeded")
                elif roll < plan.throttle + plan.server_error:
                    outcome = "server_error"
                    self._reply(503, "ServiceException", "Injected service error")
                else:
                    if roll < plan.throttle + plan.server_error + plan.delay:
                        time.sleep(plan.delay_seconds)
                        outcome = "delayed"
                    else:
                        outcome = "forwarded"
                    self._forward(body)
                with proxy.lock:
                    proxy.log.requests.append((time.monotonic(), self.path, outcome))

            def _reply(self, status: int, code: str, message: str) -> None:
                aws_error(self, status, code, message)

            def _forward(self, body: bytes) -> None:
                forward(self, proxy.target, body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def aws_error(
    handler: BaseHTTPRequestHandler, status: int, code: str, message: str, kind: str = "Service"
) -> None:
    """Answer as an AWS service's error does (the header boto3 reads the code from)."""
    data = json.dumps({"Type": kind, "message": message}).encode()
    handler.send_response(status)
    handler.send_header("x-amzn-ErrorType", code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def forward(handler: BaseHTTPRequestHandler, target: tuple[str, int], body: bytes) -> None:
    """Pass the request on to `target` and its answer back, as it came."""
    conn = http.client.HTTPConnection(*target, timeout=60)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
    conn.request(handler.command, handler.path, body=body or None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    handler.send_response(response.status)
    for name, value in response.getheaders():
        if name.lower() not in ("content-length", "connection", "transfer-encoding",
                                "date", "server"):  # fmt: skip
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
    conn.close()
