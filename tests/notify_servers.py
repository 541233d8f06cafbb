"""Real servers for the notification tests: an SMTP server (aiosmtpd) and an HTTP receiver
(http.server) run by the test in threads. The recorded histories mirrored as if synced
are made in tests/factories.py; they are named here too for the tests that import them
from here."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

# Named here for the tests that import them from here (test_fuzz_input, test_replay,
# test_redis_safety); they are made in tests/factories.py.
from tests.factories import HISTORIES, mirror_events, mirror_recorded

__all__ = [
    "HISTORIES",
    "RECEIVER_NETWORK",
    "Receiver",
    "SmtpSink",
    "mirror_events",
    "mirror_recorded",
]


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        # aiosmtpd's controller checks its port by connecting to it, so it needs a real one.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# Where every Receiver listens. Webhooks go only to public addresses unless
# OUTGOING_ALLOWED_NETWORKS names them (notify/outgoing.py), so a test that sends to a
# Receiver allows this network, as a company allows its internal hosts.
RECEIVER_NETWORK = "127.0.0.1/32"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with the statuses it
    is given in turn (then 200). Allow RECEIVER_NETWORK to send to it."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = b"ok" if status < 400 else b"receiver is down for a moment"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
