"""Real servers for the notification tests: an SMTP server (aiosmtpd) and an HTTP receiver
(http.server) run by the test in threads, and a recorded history mirrored as if synced."""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from django.utils import timezone

from executions import history
from executions.models import Credentials, Execution, Function, Source

HISTORIES = Path(__file__).parent / "fixtures" / "histories"


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


def recorded_source() -> Source:
    """A source for recorded histories; turned off, so no sync ever reads it."""
    source, _ = Source.objects.get_or_create(
        name="recorded",
        defaults={
            "endpoint_url": "http://127.0.0.1:9",
            "credentials": Credentials.NONE,
            "enabled": False,
        },
    )
    return source


def mirror_events(
    name: str, function_name: str, events: list[dict[str, Any]], arn: str
) -> Execution:
    """A running execution of the recorded source, its history these recorded events
    (stored by the sync's own store_events)."""
    function, _ = Function.objects.get_or_create(source=recorded_source(), name=function_name)
    execution = Execution.objects.create(
        arn=arn,
        name=name,
        source=function.source,
        function=function,
        status="RUNNING",
        started_at=events[0]["EventTimestamp"],
        last_synced_at=timezone.now(),
    )
    history.store_events(execution, events)
    execution.refresh_from_db()
    return execution


def mirror_recorded(name: str, fixture: str, callback_started_ago: float) -> Execution:
    """Mirror a recorded history as a running execution named `name`, its events moved in
    time so that its first CallbackStarted happened `callback_started_ago` seconds ago."""
    data = json.loads((HISTORIES / f"{fixture}.json").read_text())
    events = data["events"]
    anchor = next(
        datetime.fromisoformat(e["EventTimestamp"])
        for e in events
        if e["EventType"] == "CallbackStarted"
    )
    shift = timezone.now() - timedelta(seconds=callback_started_ago) - anchor
    for event in events:
        event["EventTimestamp"] = datetime.fromisoformat(event["EventTimestamp"]) + shift
    return mirror_events(name, "coffee-order", events, f"recorded/{name}")
