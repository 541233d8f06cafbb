"""The console's one HTTP client for addresses people type (webhooks, Slack, any later
channel), with the address guard.

A rule's URL is written by a person, the console POSTs to it from inside the company's
network, and its Test button shows what came back. Unguarded, that reads the instance
metadata service (169.254.169.254), loopback and private services for whoever may write a
rule, and "refused" against "closed" maps their ports. So:

- Only http:// and https:// URLs, and none with a user name or password (user:pass@host):
  http.client would not send them anyway, and `https://hooks.example.com@10.0.0.5/` is an
  old disguise.
- The host is resolved once, and every address it resolves to must be public: not
  loopback, link-local, private, shared (100.64.0.0/10), multicast, reserved or otherwise
  special (Python's `ipaddress` registry). IPv6 addresses that carry an IPv4 address
  (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo, IPv4-compatible
  ::a.b.c.d) are judged by that IPv4 address too. A name with one blocked address among
  its answers is refused whole. Odd spellings (2130706433, 0x7f000001, 0177.0.0.1, 127.1)
  need no rule of their own: the resolver turns them into the address that is judged.
- The socket is opened to exactly the address judged, never resolving the name again, so
  a name whose answer changes between the check and the connect (DNS rebinding) has
  nothing to change. The Host header, TLS SNI and the certificate check use the URL's host.
- Redirects are never followed: a 3xx answer is a failure.
- The answer's body is not read, and the far end's own reason phrase is not repeated: a
  person sees the status and its standard phrase. (The one exception: a caller that talks
  to a known API, Slack's Web API in notify/slack.py, asks for up to `read_body` bytes of
  it, parses them itself and shows none of it.) Every failure to get an HTTP answer
  (refused, timed out, reset, TLS, not HTTP) reads the same, so the messages cannot tell an
  open port from a closed one; the precise reason goes to the log.

OUTGOING_ALLOWED_NETWORKS (console/settings.py) names the internal networks and host
names a company does want to reach: an address in a listed network passes, and so does
every address of a listed host name (which trusts whoever runs that name's DNS).

Proxies (HTTP_PROXY, HTTPS_PROXY) are not used: the guard judges the address the console
itself connects to, and a proxy would connect somewhere else.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# socket.getaddrinfo's shape: (host, port, family=0, type=0, proto=0, flags=0) -> entries.
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

HINT = "the console sends only to public addresses unless OUTGOING_ALLOWED_NETWORKS names it"

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_PRIVATE = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
) + (ipaddress.ip_network("fc00::/7"),)  # RFC 1918 and IPv6 unique local addresses
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix, RFC 6052
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use, RFC 8215: any embedding
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d, RFC 4291
# Named in the reason, because it is the address these attacks are usually after.
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class OutgoingError(Exception):
    """Nothing was delivered; the message is fit to show to the person who wrote the URL."""


class Refused(OutgoingError):
    """The guard refused the URL or its addresses: no connection was made."""


class Unreachable(OutgoingError):
    """The host's name did not resolve, or no HTTP answer came from its addresses."""


@dataclass(frozen=True)
class Answer:
    """What the far end answered: its status and the status's standard phrase. Never its
    body, and never its own words: the reason phrase is the far end's to choose."""

    status: int
    reason: str
    # Only when the caller asked for it (`read_body`): at most that many bytes.
    body: bytes = field(default=b"", repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def failure(self, label: str = "webhook") -> str:
        """'' for a 2xx, else what a person reads, e.g. 'The webhook answered HTTP 500
        Internal Server Error'."""
        if self.ok:
            return ""
        text = f"The {label} answered HTTP {self.status}"
        if self.reason:
            text += f" {self.reason}"
        if 300 <= self.status < 400:
            text += " (redirects are not followed: give the URL it redirects to)"
        return text


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA), without brackets: what Host, SNI and the certificate use
    port: int
    path: str  # path and query, ASCII
    literal: bool  # the host is an IP address written as one


@dataclass(frozen=True)
class _Candidate:
    family: int
    sockaddr: tuple[Any, ...]
    address: IPAddress


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    *,
    label: str = "webhook",
    resolver: Resolver = socket.getaddrinfo,
    tls: ssl.SSLContext | None = None,
    read_body: int = 0,
) -> Answer:
    """POST `body` to `url` if the guard lets it, and return the far end's status (any
    status: a 3xx or an error is an Answer too, whose `failure` says so). Raises Refused
    before any connection, or Unreachable. `label` names the channel in the messages;
    `resolver` is called once; `tls` defaults to the system's trusted certificates;
    `read_body` > 0 reads up to that many bytes of the answer into `Answer.body`."""
    target = _parse(url, label)
    candidates = _vet(target, label, resolver)
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(
            target.host, target.port, timeout, candidates, tls or ssl.create_default_context()
        )
    else:
        connection = _PinnedHTTPConnection(target.host, target.port, timeout, candidates)
    try:
        connection.request("POST", target.path, body=body, headers=dict(headers))
        # The status line and headers only: the body is not read, so it can reach
        # neither a message nor the log, and a slow or endless body costs nothing; a
        # caller that needs it (a known API's JSON) bounds it with `read_body`.
        response = connection.getresponse()
        status = response.status
        data = response.read(read_body) if read_body > 0 else b""
    except (OSError, http.client.HTTPException) as exc:
        logger.warning(
            "Outgoing %s to %s port %s (%s): no HTTP answer: %r",
            label,
            target.host,
            target.port,
            ", ".join(str(c.address) for c in candidates),
            exc,
        )
        raise Unreachable(
            f"Could not connect to the {label}'s host, or it gave no HTTP answer "
            "(the console's log has the reason)."
        ) from exc
    finally:
        connection.close()
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return Answer(status, reason, data)


def check(url: str, *, label: str = "webhook", resolver: Resolver = socket.getaddrinfo) -> None:
    """Raise Refused if `post` would refuse `url` now, with the reason; for forms, where
    the message helps. A name that does not resolve passes: it may resolve where and when
    the message is sent, and `post` judges again then (DNS can change; that is the guard)."""
    target = _parse(url, label)
    try:
        _vet(target, label, resolver)
    except Unreachable:
        pass


def _parse(url: str, label: str) -> _Target:
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise Refused(f"The {label} URL has spaces or control characters in it.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"The {label} URL is not a valid URL.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"The {label} URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise Refused(
            f"The {label} URL has a user name or password in it (user:password@host), which "
            "the console does not send: put a token in the URL's path or query instead."
        )
    host = parts.hostname or ""
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise Refused(f"The {label} URL's host is not a valid host name.") from exc
    if not host:
        raise Refused(f"The {label} URL has no host.")
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        literal = False
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # http.client sends ASCII only: percent-encode anything else (the URL's own %xx and
    # every other printable ASCII character stay as written).
    path = quote(path, safe="".join(chr(c) for c in range(0x21, 0x7F)))
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path, literal)


def _vet(target: _Target, label: str, resolver: Resolver) -> list[_Candidate]:
    """Resolve the host once and judge every address; the addresses to connect to."""
    if target.literal:
        # Judged as written too, so that a blocked literal is refused even where the
        # resolver cannot use it (a link-local address with an unknown zone, say).
        _judge(ipaddress.ip_address(target.host), target, label)
    try:
        entries = resolver(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        logger.warning("Outgoing %s to %s: does not resolve: %r", label, target.host, exc)
        entries = []
    candidates: list[_Candidate] = []
    for family, _type, _proto, _canonname, sockaddr in entries:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        # The port is the URL's, whatever the resolver put in its answer.
        candidate = _Candidate(family, (sockaddr[0], target.port, *sockaddr[2:]), address)
        if candidate not in candidates:
            candidates.append(candidate)
    if not candidates:
        raise Unreachable(f"Could not find the {label}'s host {target.host}: it does not resolve.")
    for candidate in candidates:
        _judge(candidate.address, target, label)
    return candidates


def _judge(address: IPAddress, target: _Target, label: str) -> None:
    why = blocked_because(address, target.host)
    if why:
        logger.warning(
            "Outgoing %s to %s port %s refused: %s is %s",
            label,
            target.host,
            target.port,
            address,
            why,
        )
        where = (
            f"The {label} URL points at"
            if target.literal
            else f"The {label}'s host {target.host} resolves to"
        )
        raise Refused(f"{where} {address}, {why}; {HINT}.")


def blocked_because(address: IPAddress, host: str = "") -> str:
    """'' when the console may connect to `address` (for a URL naming `host`), else why
    not, e.g. 'a loopback address'."""
    if _allowed(address, host):
        return ""
    return _not_public(address)


def _not_public(address: IPAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            why = _not_public(inner)
            if why:
                return f"which embeds {inner}, {why}"
            if address.ipv4_mapped is not None or address in _NAT64:
                # The connection reaches that IPv4 address itself (the kernel's mapping, a
                # NAT64 gateway): the IPv6 form's own registry entry says nothing more.
                return ""
    if address.is_unspecified:
        return "the unspecified address (it reaches this machine)"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        metadata = " (the instance metadata service's)" if address in _METADATA else ""
        return f"a link-local address{metadata}"
    if address in _SHARED:
        return "a shared address (100.64.0.0/10, carrier-grade NAT)"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE):
        metadata = " (the instance metadata service's)" if address in _METADATA else ""
        return f"a private address{metadata}"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address in _NAT64_LOCAL:
        return "a local-use NAT64 address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or not address.is_global:
        return "a special-purpose address, not a public one"
    return ""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (and would deliver to), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address, where the relay delivers
    return None


def _allowed(address: IPAddress, host: str) -> bool:
    entries = settings.OUTGOING_ALLOWED_NETWORKS
    if isinstance(entries, str):  # a test or a settings file may give the raw text
        entries = entries.split(",")
    networks, names = _allow_list(tuple(e.strip() for e in entries if e.strip()))
    if host.lower().rstrip(".") in names:
        return True
    seen_as = [address]
    if isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped is not None or address in _NAT64
    ):
        seen_as.append(_embedded_ipv4(address))  # the same destination as that IPv4 address
    return any(a in network for a in seen_as for network in networks)


@lru_cache(maxsize=8)
def _allow_list(entries: tuple[str, ...]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    """Networks and host names of OUTGOING_ALLOWED_NETWORKS (checked at start-up by
    console/settings.py): an entry that is not a network is a host name."""
    networks: list[IPNetwork] = []
    names: set[str] = set()
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return tuple(networks), frozenset(names)


def _open(candidates: list[_Candidate], timeout: float) -> socket.socket:
    """A TCP socket connected to the first judged address that answers."""
    failure: OSError = OSError("no address to connect to")
    for candidate in candidates:
        sock = socket.socket(candidate.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(candidate.sockaddr)
            # As http.client does: the request goes out in a few small writes.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        return sock
    raise failure


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to `host`, its socket opened to one of the judged addresses: no resolving."""

    def __init__(self, host: str, port: int, timeout: float, candidates: list[_Candidate]):
        super().__init__(host, port, timeout=timeout)
        self.candidates = candidates

    def connect(self) -> None:
        self.sock = _open(self.candidates, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS likewise; SNI and the certificate check use `host`, not the address."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        candidates: list[_Candidate],
        context: ssl.SSLContext,
    ):
        super().__init__(host, port, timeout=timeout, context=context)
        self.candidates = candidates
        self.tls = context

    def connect(self) -> None:
        sock = _open(self.candidates, self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
