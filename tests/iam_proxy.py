"""An HTTP proxy in front of the sandbox that answers as AWS does when IAM refuses a call.

The sandbox (AWS's local runner) checks no permission and no key, so what "Test
connection" says about a missing permission or refused credentials is tested through this:
every request is forwarded to the real sandbox, except that the API named by `deny` is
answered with Lambda's 403 AccessDeniedException (its message naming the IAM action, as
AWS words it), or, with `refuse_credentials`, every request with the 403
UnrecognizedClientException AWS gives for a key it does not know. Like tests/faults.py,
it answers with the service's own error shapes; nothing in the console is replaced.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.faults import aws_error, forward

# The REST paths of the APIs a connection test calls (botocore's Lambda model).
PATHS = {
    "ListFunctions": re.compile(r"^/2015-03-31/functions/?(\?|$)"),
    "ListDurableExecutionsByFunction": re.compile(
        r"^/2025-12-01/functions/[^/]+/durable-executions"
    ),
    "GetDurableExecutionHistory": re.compile(r"^/2025-12-01/durable-executions/.+/history"),
    "GetDurableExecution": re.compile(r"^/2025-12-01/durable-executions/[^?]+(\?|$)"),
}
ROLE = "arn:aws:sts::123456789012:assumed-role/console-reader/durable-console"


def api_of(method: str, path: str) -> str:
    if method == "GET" and PATHS["GetDurableExecutionHistory"].match(path):
        return "GetDurableExecutionHistory"
    for api, pattern in PATHS.items():
        if method == "GET" and pattern.match(path):
            return api
    return ""


class IamProxy:
    def __init__(self, target_url: str, *, deny: str = "", refuse_credentials: bool = False):
        target = urlsplit(target_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.answered: list[tuple[str, str]] = []  # (api, "denied" | "refused" | "forwarded")
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                api = api_of(self.command, self.path)
                if refuse_credentials:
                    proxy.answered.append((api, "refused"))
                    self._reply(
                        "UnrecognizedClientException",
                        "The security token included in the request is invalid.",
                    )
                elif deny and api == deny:
                    proxy.answered.append((api, "denied"))
                    self._reply(
                        "AccessDeniedException",
                        f"User: {ROLE} is not authorized to perform: lambda:{api} on resource: "
                        f"arn:aws:lambda:us-east-1:123456789012:function:* because no "
                        f"identity-based policy allows the lambda:{api} action",
                    )
                else:
                    proxy.answered.append((api, "forwarded"))
                    self._forward(body)

            def _reply(self, code: str, message: str) -> None:
                aws_error(self, 403, code, message, kind="User")

            def _forward(self, body: bytes) -> None:
                forward(self, proxy.target, body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> IamProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
