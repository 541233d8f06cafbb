"""A small Lambda-compatible HTTP endpoint in front of AWS's local durable execution runner.

The console (and any boto3 client) talks to this one endpoint exactly as it would to
AWS Lambda:

- `POST /2015-03-31/functions/{name}/invocations` (Invoke). For a durable function it
  starts an execution at the runner and returns its ARN in the
  `X-Amz-Durable-Execution-Arn` header. When the runner itself invokes a handler it
  marks the request with `X-Dex-Handler-Invoke`; then the host runs the handler once
  with the durable invocation input and returns its output. Plain functions (the
  targets of chained invokes) just run.
- `GET /2015-03-31/functions` (ListFunctions) and `GET /2015-03-31/functions/{name}`
  (GetFunction) describe the sample functions, durable ones with their DurableConfig.
- Every `/2025-12-01/` durable execution API is forwarded to the runner unchanged, within
  Lambda's API quotas (sandbox/quotas.py): over a quota the host answers 429
  `TooManyRequestsException` as Lambda does, without forwarding. A
  durable API the runner does not implement (PauseDurableExecution, for example) gets
  the error Lambda gives for an operation it does not know, `UnknownOperationException`,
  so a client can say "not supported by this backend".

With `--events-queue-url`, the host publishes Lambda's EventBridge status events
("Durable Execution Status Change", in EventBridge's envelope) to that SQS queue at a
local SQS-compatible server (sandbox/events.py), as an EventBridge rule would.

`GET /_sandbox/quotas` returns the quotas and the calls and throttles counted per account
and API; `POST /_sandbox/quotas` with a JSON body changes them (`enabled`, `rates`,
`burst_seconds`, `inject`, `reset`). Tests and benchmarks use both.

Handlers reach the runner for their checkpoints through `AWS_ENDPOINT_URL_LAMBDA`,
which `sandbox/runner.py` sets for this process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aws_durable_execution_sdk_python_testing.web.routes import Router

from sandbox.catalog import (
    ACCOUNT_ID,
    REGION,
    function_arn,
    function_configuration,
    split_function_name,
)
from sandbox.events import StatusPublisher
from sandbox.functions import FUNCTIONS
from sandbox.invoking import InvokeHandling
from sandbox.quotas import QUOTAS, Quotas, account_of, api_of, throttle_body

logger = logging.getLogger("sandbox.host")


class Host:
    """Everything the request handler needs: the runner's address and the functions."""

    def __init__(self, runner_url: str) -> None:
        parts = urlsplit(runner_url)
        self.runner_host = parts.hostname or "127.0.0.1"
        self.runner_port = parts.port or 80
        self.router = Router()

    def runner_request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.runner_host, self.runner_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def runner_knows(self, path: str, method: str) -> bool:
        try:
            self.router.find_route(urlsplit(path).path, method)
        except Exception:
            return False
        return True


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"Type": "User", "Message": message, "message": message}).encode()


class Handler(InvokeHandling, BaseHTTPRequestHandler):
    server: HostServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate sends; without TCP_NODELAY every kept-alive
    # response would stall ~40 ms on Nagle's algorithm and the client's delayed ACK.
    disable_nagle_algorithm = True

    # ---- plumbing -------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        return self._payload

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        sent_type = False
        for name, value in (headers or {}).items():
            if name.lower() in (
                "content-length",
                "transfer-encoding",
                "connection",
                "date",
                "server",
            ):
                continue
            sent_type = sent_type or name.lower() == "content-type"
            self.send_header(name, value)
        if not sent_type:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, error_body(code, message), {"x-amzn-ErrorType": code})

    # ---- dispatch -------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        # Read the whole body first: on a kept-alive connection an unread body would be
        # taken for the start of the next request.
        length = int(self.headers.get("Content-Length") or 0)
        self._payload = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        query = parse_qs(parts.query)
        try:
            if parts.path == "/health":
                self._json(200, {"status": "ok", "functions": sorted(FUNCTIONS)})
            elif parts.path == "/_sandbox/quotas":
                self._quotas(method)
            elif segments[:1] == ["2025-12-01"]:
                self._forward(method, parts.path)
            elif segments[:2] == ["2015-03-31", "functions"]:
                self._functions_api(method, segments[2:], query)
            else:
                self._unknown(method)
        except Exception as exc:  # a bug in the host must not look like a hang
            logger.exception("sandbox host failed on %s %s", method, self.path)
            self._error(500, "ServiceException", f"sandbox host error: {exc}")

    def _unknown(self, method: str) -> None:
        self._error(
            404,
            "UnknownOperationException",
            f"The sandbox does not support {method} {urlsplit(self.path).path}",
        )

    # ---- durable execution APIs: forwarded to the runner ----------------------------

    def _forward(self, method: str, path: str) -> None:
        if not self.server.host.runner_knows(self.path, method):
            self._unknown(method)
            return
        api = api_of(method, path)
        if api:
            throttled = self.server.quotas.check(account_of(self.headers), api)
            if throttled:
                self._send(
                    429,
                    throttle_body(api, throttled),
                    {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "1"},
                )
                return
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("host", "connection", "content-length")
        }
        status, out_headers, body = self.server.host.runner_request(
            method, self.path, self._body(), headers
        )
        self._send(status, body, out_headers)
        if api == "StopDurableExecution" and status < 300:
            self._poke(unquote(path.split("/")[3]))

    def _poke(self, arn: str) -> None:
        """Something may have changed the execution's status: let the publisher look."""
        if self.server.publisher is not None and arn:
            self.server.publisher.poke(arn)

    def _quotas(self, method: str) -> None:
        quotas = self.server.quotas
        if method == "POST":
            try:
                settings = json.loads(self._body() or b"{}")
                quotas.configure(settings)
            except (ValueError, TypeError, AttributeError) as exc:
                self._error(400, "InvalidParameterValueException", f"bad quota settings: {exc}")
                return
        elif method != "GET":
            self._unknown(method)
            return
        self._json(200, quotas.snapshot())

    # ---- the Lambda functions API ---------------------------------------------------

    def _functions_api(self, method: str, rest: list[str], query: dict[str, list[str]]) -> None:
        qualifier = (query.get("Qualifier") or [None])[0]
        if method == "GET" and not rest:
            configs = [function_configuration(f) for f in FUNCTIONS.values()]
            self._json(200, {"Functions": configs})
            return
        if not rest:
            self._unknown(method)
            return
        name, qualifier = split_function_name(rest[0], qualifier)
        fn = FUNCTIONS.get(name)
        if method == "GET" and len(rest) == 1:
            if fn is None:
                self._not_found(name)
                return
            self._json(200, {"Configuration": function_configuration(fn)})
            return
        if method == "POST" and rest[1:] == ["invocations"]:
            if fn is None:
                self._not_found(name)
                return
            self._invoke(fn, qualifier)
            return
        self._unknown(method)

    def _not_found(self, name: str) -> None:
        self._error(404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")


class HostServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        host: Host,
        quotas: Quotas | None = None,
        publisher: StatusPublisher | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.host = host
        self.quotas = quotas or Quotas()
        self.publisher = publisher


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lambda-compatible host for the samples")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--runner-url", required=True)
    parser.add_argument(
        "--no-throttle", action="store_true", help="serve every call, whatever the quotas"
    )
    parser.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="API=RATE",
        help="requests per second for one API (default: Lambda's quotas)",
    )
    parser.add_argument("--events-queue-url", default="", help="publish status events here")
    parser.add_argument("--sqs-endpoint-url", default="", help="the SQS server of that queue")
    args = parser.parse_args(argv)
    rates = dict(QUOTAS)
    for item in args.quota:
        api, _, rate = item.partition("=")
        rates[api] = float(rate)
    quotas = Quotas(enabled=not args.no_throttle, rates=rates)
    logging.basicConfig(
        level=os.environ.get("SANDBOX_LOG_LEVEL", "WARNING"),
        format="%(asctime)s sandbox-host %(levelname)s %(message)s",
    )
    publisher = None
    if args.events_queue_url:
        publisher = StatusPublisher(
            args.runner_url, args.events_queue_url, args.sqs_endpoint_url, ACCOUNT_ID, REGION
        ).start()
    server = HostServer((args.bind, args.port), Host(args.runner_url), quotas, publisher)
    logger.warning("sandbox host on http://%s:%s", args.bind, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if publisher is not None:
            publisher.stop()
        server.server_close()


if __name__ == "__main__":
    main()
