"""The address guard of outgoing requests (notify/outgoing.py), attacked for real: servers
run by the test on 127.0.0.1, 127.0.0.2 and ::1 (when the machine has IPv6 loopback), the
console's own client and resolver, and Python's audit hook to see every socket the code
under test connects and every name it resolves. Nothing between our code and the sockets
is replaced; the one stand-in is a resolver callable in the DNS-rebinding tests, which is
how a rebinding name behaves and what a test cannot get from real DNS."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from access.roles import OPERATOR_GROUP
from notify import channels, outgoing
from notify.forms import RuleForm
from notify.models import Channel, Rule
from tests.conftest import REPO

UNREACHABLE = (
    "Could not connect to the webhook's host, or it gave no HTTP answer "
    "(the console's log has the reason)."
)
HINT = "the console sends only to public addresses unless OUTGOING_ALLOWED_NETWORKS names it"
SECRET = "s3cr3t-9f1c"  # what a far end answers that must never reach a message or a log


# ---- seeing what the code under test does with sockets ---------------------------------

_watching: dict[int, Observed] = {}


@dataclass
class Observed:
    connects: list[tuple[str, int]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    observed = _watching.get(threading.get_ident())
    if observed is None:
        return
    if event == "socket.connect":
        observed.connects.append(tuple(args[1][:2]))
    elif event == "socket.getaddrinfo":
        observed.lookups.append(args[0])


# Audit hooks cannot be removed; this one records only in a thread inside `observe()`.
sys.addaudithook(_audit)


@contextmanager
def observe() -> Iterator[Observed]:
    """Every socket.connect and getaddrinfo this thread makes inside the block."""
    observed = Observed()
    _watching[threading.get_ident()] = observed
    try:
        yield observed
    finally:
        del _watching[threading.get_ident()]


# ---- real listeners --------------------------------------------------------------------


class Listener(socketserver.ThreadingTCPServer):
    """A server on one address that counts every connection it accepts and records every
    HTTP request. `mode`: "http" answers `status` (with `reason`, `headers`, `body`),
    "close" hangs up at once, "banner" greets like SSH and hangs up, "silent" says nothing.
    With `tls` it speaks HTTPS and records the SNI names it is asked for."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str,
        port: int = 0,
        *,
        mode: str = "http",
        status: int = 200,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"ok",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.mode = mode
        self.status, self.reason, self.body = status, reason, body
        self.answer_headers = headers or {}
        self.tls = tls
        self.clients: list[tuple[Any, ...]] = []
        self.requests: list[dict[str, Any]] = []
        self.sni: list[str | None] = []
        self.probes: set[tuple[Any, ...]] = set()
        self.seen = threading.Condition()
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        super().__init__((host, port), _Handler)
        self.port = self.server_address[1]

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.seen:
            self.clients.append(tuple(client_address[:2]))
            self.seen.notify_all()
        return True

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up, or refuses our certificate, is part of the test

    def accepted(self) -> int:
        """How many connections anyone but this method made. A probe connects after them:
        the server accepts in order, so once it has seen the probe it has seen them all."""
        with socket.create_connection((self.host, self.port), timeout=10) as probe:
            mine = tuple(probe.getsockname()[:2])
            self.probes.add(mine)
            with self.seen:
                assert self.seen.wait_for(lambda: mine in self.clients, timeout=10)
        return sum(1 for client in self.clients if client not in self.probes)

    def __enter__(self) -> Listener:
        # A short poll: shutdown() waits for the loop to notice, at every test's end.
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Listener

    def handle(self) -> None:
        mode = self.server.mode
        if mode == "http":
            super().handle()
        elif mode == "banner":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        elif mode == "silent":
            with suppress(OSError):
                while self.request.recv(4096):  # reads, never answers, until the client
                    pass  # gives up and hangs up
        # "close": return, and socketserver hangs up.

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers),
             "body": body}
        )  # fmt: skip
        self.send_response(self.server.status, self.server.reason)
        for name, value in self.server.answer_headers.items():
            self.send_header(name, value.replace("{port}", str(self.server.port)))
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    do_POST = do_GET = do_PUT = _answer  # http.server's names for each method

    def log_message(self, *args: Any) -> None:
        pass


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _ipv6_loopback()


@dataclass
class Loopback:
    """Listeners on 127.0.0.1, 127.0.0.2 and ::1 (if any), all on one port, so that every
    spelling of a loopback address with that port would reach one of them."""

    port: int
    v4: Listener  # 127.0.0.1
    other: Listener  # 127.0.0.2
    v6: Listener | None  # ::1

    @property
    def all(self) -> list[Listener]:
        return [x for x in (self.v4, self.other, self.v6) if x is not None]


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    for _ in range(50):
        started: list[Listener] = []
        try:
            started.append(Listener("127.0.0.1"))
            port = started[0].port
            started.append(Listener("127.0.0.2", port))
            if HAS_IPV6:
                started.append(Listener("::1", port))
        except OSError:  # the port is taken on another address: try another one
            for listener in started:
                listener.server_close()
            continue
        for listener in started:
            listener.__enter__()
        try:
            yield Loopback(port, started[0], started[1], started[2] if HAS_IPV6 else None)
        finally:
            for listener in started:
                listener.__exit__()
        return
    pytest.fail("found no port free on 127.0.0.1, 127.0.0.2 and ::1 at once")


def _post(url: str, **kwargs: Any) -> outgoing.Answer:
    headers = {"Content-Type": "application/json"}
    return outgoing.post(url, b'{"event": "test"}', headers, 2, **kwargs)


def _rule(url: str) -> Rule:
    return Rule(name="hook", webhook_url=url)


def _send(url: str) -> None:
    channels.send(Channel.WEBHOOK, _rule(url), channels.Message("test", "s", "t", "l"))


# ---- refused: loopback and its spellings -----------------------------------------------


def test_a_webhook_to_a_listener_on_127_0_0_1_is_refused_and_the_listener_receives_nothing(
    loopback, settings
):
    url = f"http://127.0.0.1:{loopback.port}/hook"
    with observe() as seen, pytest.raises(channels.SendFailed) as refused:
        _send(url)

    assert str(refused.value) == (
        f"The webhook URL points at 127.0.0.1, a loopback address; {HINT}."
    )
    assert seen.connects == []
    assert [listener.accepted() for listener in loopback.all] == [0] * len(loopback.all)
    # The same send once the company allows it arrives: the listener would have seen one.
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    _send(url)
    assert loopback.v4.accepted() == 1
    assert len(loopback.v4.requests) == 1


SPELLINGS = [
    # (host as written in the URL, the address and reason the refusal names)
    ("2130706433", "127.0.0.1, a loopback address"),
    ("0x7f000001", "127.0.0.1, a loopback address"),
    ("0177.0.0.1", "127.0.0.1, a loopback address"),
    ("127.1", "127.0.0.1, a loopback address"),
    ("127.0.0.2", "127.0.0.2, a loopback address"),
    ("[::1]", "::1, a loopback address"),
    ("[0:0:0:0:0:0:0:1]", "::1, a loopback address"),
    ("[::ffff:127.0.0.1]", "which embeds 127.0.0.1, a loopback address"),
    ("[::ffff:7f00:2]", "which embeds 127.0.0.2, a loopback address"),
    ("[64:ff9b::127.0.0.1]", "64:ff9b::7f00:1, which embeds 127.0.0.1, a loopback address"),
    ("[2002:7f00:1::1]", "2002:7f00:1::1, which embeds 127.0.0.1, a loopback address"),
    # Teredo: the client's address is stored inverted; 80ff:fffe is 127.0.0.1.
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "which embeds 127.0.0.1, a loopback address"),
    ("[::127.0.0.1]", "::7f00:1, which embeds 127.0.0.1, a loopback address"),
    ("0.0.0.0", "0.0.0.0, the unspecified address (it reaches this machine)"),
    ("0", "0.0.0.0, the unspecified address (it reaches this machine)"),
    ("[::]", "::, the unspecified address (it reaches this machine)"),
    ("localhost", "a loopback address"),
    ("LocalHost", "a loopback address"),
]


@pytest.mark.parametrize(("host", "named"), SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_every_spelling_of_a_loopback_address_is_refused_without_a_connection(
    loopback, host, named
):
    url = f"http://{host}:{loopback.port}/hook"
    with observe() as seen, pytest.raises(outgoing.Refused) as refused:
        _post(url)

    assert named in str(refused.value)
    assert str(refused.value).endswith(f"; {HINT}.")
    assert seen.connects == []
    assert [listener.accepted() for listener in loopback.all] == [0] * len(loopback.all)


def test_a_name_is_resolved_to_the_address_that_is_judged(loopback):
    # localhost is a name (the machine's resolver answers it), not a literal: the message
    # names what it resolved to.
    with observe() as seen, pytest.raises(outgoing.Refused) as refused:
        _post(f"http://localhost:{loopback.port}/")
    assert str(refused.value).startswith("The webhook's host localhost resolves to ")
    assert seen.lookups == ["localhost"]
    assert seen.connects == []


METADATA = "(the instance metadata service's)"
BLOCKED = [
    ("169.254.169.254", f"169.254.169.254, a link-local address {METADATA}"),
    ("[fd00:ec2::254]", f"fd00:ec2::254, a private address {METADATA}"),
    ("[fe80::1]", "fe80::1, a link-local address"),
    ("[fd00::1]", "fd00::1, a private address"),
    ("100.64.0.1", "100.64.0.1, a shared address (100.64.0.0/10, carrier-grade NAT)"),
    ("100.127.255.254", "100.127.255.254, a shared address (100.64.0.0/10, carrier-grade NAT)"),
    ("10.0.0.1", "10.0.0.1, a private address"),
    ("172.16.0.1", "172.16.0.1, a private address"),
    ("192.168.1.1", "192.168.1.1, a private address"),
    ("[::ffff:10.0.0.1]", "::ffff:a00:1, which embeds 10.0.0.1, a private address"),
    (
        "[64:ff9b::169.254.169.254]",
        f"64:ff9b::a9fe:a9fe, which embeds 169.254.169.254, a link-local address {METADATA}",
    ),
    ("224.0.0.1", "224.0.0.1, a multicast address"),
    ("[ff02::1]", "ff02::1, a multicast address"),
    ("240.0.0.1", "240.0.0.1, a reserved address"),
    ("255.255.255.255", "255.255.255.255, a reserved address"),
    ("[fec0::1]", "fec0::1, a site-local address"),
    ("[64:ff9b:1::1]", "64:ff9b:1::1, a local-use NAT64 address"),
    ("192.0.2.1", "192.0.2.1, a special-purpose address, not a public one"),
    ("198.18.0.1", "198.18.0.1, a special-purpose address, not a public one"),
]


@pytest.mark.parametrize(("host", "named"), BLOCKED, ids=[b[0] for b in BLOCKED])
def test_metadata_private_shared_multicast_and_reserved_addresses_are_refused_before_connecting(
    host, named
):
    with observe() as seen, pytest.raises(outgoing.Refused) as refused:
        _post(f"http://{host}/latest/meta-data/")

    assert str(refused.value) == f"The webhook URL points at {named}; {HINT}."
    assert seen.connects == []


def test_public_addresses_and_their_ipv6_forms_pass_the_guard():
    public = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8",
              "2002:808:808::1"]  # fmt: skip
    for text in public:
        assert outgoing.blocked_because(ipaddress.ip_address(text)) == "", text


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "The webhook URL must start with http:// or https://."),
        ("file:///etc/passwd", "The webhook URL must start with http:// or https://."),
        ("gopher://127.0.0.1:6379/_INFO", "The webhook URL must start with http:// or https://."),
        ("http://hooks.example.com@127.0.0.1/", "has a user name or password in it"),
        ("https://user:pw@hooks.example.com/x", "has a user name or password in it"),
        ("http://127.0.0.1:8000/\r\nX-Injected: 1", "has spaces or control characters"),
        ("http:///no-host", "The webhook URL has no host."),
        ("http://[::1/", "The webhook URL is not a valid URL."),
    ],
)
def test_other_schemes_user_names_and_malformed_urls_are_refused_before_connecting(url, reason):
    with observe() as seen, pytest.raises(outgoing.Refused) as refused:
        _post(url)
    assert reason in str(refused.value)
    assert seen.connects == [] and seen.lookups == []


# ---- what an allowed far end can do ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "location"),
    [
        (302, "http://127.0.0.1:{port}/stolen"),
        (301, "http://127.0.0.2:{port}/again"),
        (303, "http://169.254.169.254/latest/meta-data/"),
        (307, "file:///etc/passwd"),
        (308, "gopher://127.0.0.1:{port}/_x"),
    ],
)
def test_a_redirect_is_not_followed_and_its_target_receives_nothing(
    loopback, settings, status, location
):
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.2"]
    loopback.other.status = status
    loopback.other.answer_headers = {"Location": location}
    with observe() as seen, pytest.raises(channels.SendFailed) as failed:
        _send(f"http://127.0.0.2:{loopback.port}/hook")

    phrase = http.client.responses[status]
    assert str(failed.value) == (
        f"The webhook answered HTTP {status} {phrase} "
        "(redirects are not followed: give the URL it redirects to)"
    )
    assert seen.connects == [("127.0.0.2", loopback.port)]
    assert [r["path"] for r in loopback.other.requests] == ["/hook"]
    assert loopback.other.accepted() == 1
    assert loopback.v4.accepted() == 0


def test_an_error_answer_shows_its_status_never_its_body_or_its_own_words(
    loopback, settings, caplog
):
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    loopback.other.status = 500
    loopback.other.reason = f"Oops {SECRET}"
    loopback.other.answer_headers = {"X-Debug": SECRET}
    loopback.other.body = f"Traceback: password={SECRET}\n".encode() * 50
    caplog.set_level("DEBUG")
    with pytest.raises(channels.SendFailed) as failed:
        _send(f"http://127.0.0.2:{loopback.port}/hook")

    assert str(failed.value) == "The webhook answered HTTP 500 Internal Server Error"
    assert SECRET not in caplog.text
    assert len(loopback.other.requests) == 1
    # An unknown status is shown without a phrase, still never the far end's.
    loopback.other.status = 599
    assert _post(f"http://127.0.0.2:{loopback.port}/") == outgoing.Answer(599, "")
    assert outgoing.Answer(599, "").failure() == "The webhook answered HTTP 599"


def test_a_successful_answer_is_its_status_and_the_body_is_not_read(loopback, settings):
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.2"]
    loopback.other.body = SECRET.encode()
    answer = _post(f"http://127.0.0.2:{loopback.port}/hook?x=1")

    assert answer == outgoing.Answer(200, "OK")
    assert answer.ok and answer.failure() == ""
    (request,) = loopback.other.requests
    assert request["method"] == "POST"
    assert request["path"] == "/hook?x=1"
    assert request["headers"]["Host"] == f"127.0.0.2:{loopback.port}"
    assert request["body"] == b'{"event": "test"}'


@contextmanager
def _closed_port(host: str) -> Iterator[int]:
    """A port on `host` that is bound (so nobody else takes it) but not listening."""
    with socket.socket() as held:
        held.bind((host, 0))
        yield held.getsockname()[1]


def test_a_closed_port_and_open_ports_that_do_not_answer_http_read_the_same(settings, caplog):
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    caplog.set_level("WARNING")
    messages: dict[str, str] = {}

    def failure(name: str, url: str) -> None:
        with pytest.raises(outgoing.Unreachable) as failed:
            outgoing.post(url, b"{}", {}, 1)
        messages[name] = str(failed.value)

    with _closed_port("127.0.0.2") as port:
        failure("closed", f"http://127.0.0.2:{port}/")
    for mode in ("close", "banner", "silent"):
        with Listener("127.0.0.2", mode=mode) as listener:
            failure(mode, f"http://127.0.0.2:{listener.port}/")
            assert listener.accepted() == 1
    with Listener("127.0.0.2") as plain:
        failure("https to plain http", f"https://127.0.0.2:{plain.port}/")

    assert messages == dict.fromkeys(messages, UNREACHABLE)
    for word in ("refused", "timed out", "reset", "closed", "ssl", "certificate"):
        assert word not in UNREACHABLE.lower()
    # The precise reason is the log's, for whoever runs the console.
    assert "Connection refused" in caplog.text or "ConnectionRefused" in caplog.text
    assert "timed out" in caplog.text


# ---- DNS rebinding ---------------------------------------------------------------------


class Rebinding:
    """A name whose answers change: each call gives the next list of addresses (the last
    one repeating), as a rebinding DNS server with a zero TTL does."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple]:
        self.calls.append((host, port))
        addresses = self.answers[min(len(self.calls), len(self.answers)) - 1]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
             (a, port))
            for a in addresses
        ]  # fmt: skip


def test_a_name_that_rebinds_to_loopback_after_the_check_is_resolved_once_and_the_connection_goes_to_the_judged_address(  # noqa: E501
    loopback, settings
):
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.2/32"]  # stands for a public address
    resolver = Rebinding(["127.0.0.2"], ["127.0.0.1"])
    with observe() as seen:
        answer = _post(f"http://rebind.example.test:{loopback.port}/hook", resolver=resolver)

    assert answer.status == 200
    assert resolver.calls == [("rebind.example.test", loopback.port)]
    assert seen.lookups == []  # and no resolution of our own beside it
    assert seen.connects == [("127.0.0.2", loopback.port)]
    (request,) = loopback.other.requests
    assert request["headers"]["Host"] == f"rebind.example.test:{loopback.port}"
    assert loopback.v4.accepted() == 0
    # The rebinding name's next answer is loopback: the next send is refused, unconnected.
    with observe() as seen, pytest.raises(outgoing.Refused) as refused:
        _post(f"http://rebind.example.test:{loopback.port}/hook", resolver=resolver)
    assert str(refused.value) == (
        f"The webhook's host rebind.example.test resolves to 127.0.0.1, a loopback address; {HINT}."
    )
    assert seen.connects == []
    assert loopback.v4.accepted() == 0


def test_a_name_answering_an_allowed_and_a_loopback_address_at_once_is_refused_whole(
    loopback, settings
):
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    resolver = Rebinding(["127.0.0.2", "127.0.0.1"])
    with observe() as seen, pytest.raises(outgoing.Refused):
        _post(f"http://both.example.test:{loopback.port}/", resolver=resolver)
    assert len(resolver.calls) == 1
    assert seen.connects == []
    assert [listener.accepted() for listener in loopback.all] == [0] * len(loopback.all)


# ---- the allow-list --------------------------------------------------------------------


def test_the_allow_list_by_network_lets_in_its_addresses_only(loopback, settings):
    settings.OUTGOING_ALLOWED_NETWORKS = ["10.20.0.0/16", "127.0.0.2/31"]
    assert _post(f"http://127.0.0.2:{loopback.port}/").status == 200
    with pytest.raises(outgoing.Refused):
        _post(f"http://127.0.0.1:{loopback.port}/")
    with pytest.raises(outgoing.Refused):
        _post(f"http://10.21.0.1:{loopback.port}/")
    assert outgoing.blocked_because(ipaddress.ip_address("10.20.255.1")) == ""
    assert outgoing.blocked_because(ipaddress.ip_address("::ffff:10.20.0.1")) == ""
    assert outgoing.blocked_because(ipaddress.ip_address("10.21.0.1")) == "a private address"
    assert len(loopback.other.requests) == 1
    assert loopback.v4.accepted() == 0


@pytest.mark.skipif(not HAS_IPV6, reason="this machine has no IPv6 loopback")
def test_the_allow_list_takes_ipv6_networks_and_an_allowed_ipv4_address_mapped_in_ipv6(
    loopback, settings
):
    settings.OUTGOING_ALLOWED_NETWORKS = ["::1/128", "127.0.0.2/32"]
    assert _post(f"http://[::1]:{loopback.port}/v6").status == 200
    assert _post(f"http://[::ffff:127.0.0.2]:{loopback.port}/mapped").status == 200
    assert [r["path"] for r in loopback.v6.requests] == ["/v6"]
    assert [r["path"] for r in loopback.other.requests] == ["/mapped"]
    for host in ("127.0.0.1", "[::ffff:127.0.0.1]"):
        with pytest.raises(outgoing.Refused):
            _post(f"http://{host}:{loopback.port}/")
    assert loopback.v4.accepted() == 0


def test_the_allow_list_by_name_lets_in_that_name_whatever_it_resolves_to(loopback, settings):
    settings.OUTGOING_ALLOWED_NETWORKS = ["LocalHost."]  # as a fully qualified name
    with observe() as seen:
        assert _post(f"http://LOCALHOST:{loopback.port}/by-name").status == 200
    assert seen.lookups == ["localhost"]  # host names are not case-sensitive: lowered
    reached = [r["headers"]["Host"] for x in loopback.all for r in x.requests]
    assert reached == [f"localhost:{loopback.port}"]
    # The name is allowed, not its address, nor another name for it.
    for host in ("127.0.0.1", "127.1", "localhost.localdomain"):
        with pytest.raises(outgoing.OutgoingError):
            _post(f"http://{host}:{loopback.port}/")
    assert sum(listener.accepted() for listener in loopback.all) == 1


# ---- HTTPS: connected to the judged address, verified against the URL's name ------------


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate it signed for the name `localhost` (not for 127.0.0.1):
    CA file, certificate file, key file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outgoing test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def test_https_goes_to_the_judged_address_with_the_urls_name_for_sni_and_the_certificate(
    tmp_path, settings
):
    ca_file, cert_file, key_file = _certificates(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(ca_file))
    settings.OUTGOING_ALLOWED_NETWORKS = ["localhost", "127.0.0.1"]
    with Listener("127.0.0.1", tls=server_tls) as listener:
        with observe() as seen:
            answer = _post(f"https://localhost:{listener.port}/tls", tls=trusting)
        # The certificate names localhost, not 127.0.0.1: by address it does not verify.
        with pytest.raises(outgoing.Unreachable) as unverified:
            _post(f"https://127.0.0.1:{listener.port}/tls", tls=trusting)
        # Nor does it without the test CA (the system's trusted certificates, the default).
        with pytest.raises(outgoing.Unreachable) as untrusted:
            _post(f"https://localhost:{listener.port}/tls")

    assert answer == outgoing.Answer(200, "OK")
    assert ("127.0.0.1", listener.port) in seen.connects
    assert listener.sni[0] == "localhost"
    assert [r["headers"]["Host"] for r in listener.requests] == [f"localhost:{listener.port}"]
    assert str(unverified.value) == str(untrusted.value) == UNREACHABLE


# ---- the rule form and the setting -----------------------------------------------------


@pytest.mark.django_db
def test_the_rule_form_refuses_a_loopback_url_with_the_reason(client, settings):
    user = User.objects.create_user("stella", password="pw-12345-x", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=OPERATOR_GROUP)[0])  # may change rules
    client.force_login(user)
    fields = {"name": "local", "enabled": "on", "on_callback": "on", "deadline_minutes": "30",
              "webhook_format": "json", "webhook_url": "http://127.0.0.1:8000/hook"}  # fmt: skip
    response = client.post("/notifications/new", fields)

    assert response.status_code == 400
    assert (
        f"The webhook URL points at 127.0.0.1, a loopback address; {HINT}."
        in response.content.decode()
    )
    assert Rule.objects.count() == 0
    # Named in the allow-list, the same URL is saved.
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert client.post("/notifications/new", fields).status_code == 302
    assert Rule.objects.get().webhook_url == "http://127.0.0.1:8000/hook"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://localhost/hook", "The webhook's host localhost resolves to"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://[::ffff:10.0.0.1]/", "which embeds 10.0.0.1, a private address"),
        ("ftps://hooks.example.com/x", "must start with http:// or https://"),
        ("https://user:pw@hooks.example.com/x", "has a user name or password in it"),
    ],
)
def test_the_rule_form_says_why_it_refuses_a_webhook_url(url, error):
    form = RuleForm(
        {"name": "r", "enabled": "on", "on_callback": "on", "deadline_minutes": "30",
         "webhook_format": "json", "webhook_url": url}
    )  # fmt: skip
    assert not form.is_valid()
    assert error in " ".join(form.errors["webhook_url"])


@pytest.mark.django_db
def test_the_rule_form_takes_a_public_url_and_one_whose_name_does_not_resolve_yet():
    for url in ("https://93.184.215.14/hook", "https://hooks.example.invalid/hook"):
        form = RuleForm(
            {"name": f"r{len(url)}", "enabled": "on", "on_callback": "on",
             "deadline_minutes": "30", "webhook_format": "json", "webhook_url": url}
        )  # fmt: skip
        assert form.is_valid(), form.errors
    # The send judges again, and says the name does not resolve.
    with pytest.raises(outgoing.Unreachable, match="hooks.example.invalid: it does not resolve"):
        _post("https://hooks.example.invalid/hook")


def _settings_in_a_new_process(value: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings",
           "OUTGOING_ALLOWED_NETWORKS": value}  # fmt: skip
    code = (
        "import django; django.setup(); from django.conf import settings;"
        "print(settings.OUTGOING_ALLOWED_NETWORKS)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_the_setting_is_read_from_the_environment_and_a_bad_entry_stops_the_console():
    good = _settings_in_a_new_process(" 10.20.0.5/16, Hooks.Internal.Example.com. ,fd00:1::/64,")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == ("['10.20.0.0/16', 'hooks.internal.example.com', 'fd00:1::/64']")
    bad = _settings_in_a_new_process("10.20.0.0/16,127.1")
    assert bad.returncode != 0
    assert "OUTGOING_ALLOWED_NETWORKS: '127.1' is neither a network" in bad.stderr
