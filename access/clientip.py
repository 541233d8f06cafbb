"""The client's address, for the sign-in limit and the audit log.

Behind proxies, the address the socket sees (REMOTE_ADDR) is the last proxy's. Each proxy
that the console trusts appends the address it received the request from to
X-Forwarded-For (an ALB does, so does nginx with `$proxy_add_x_forwarded_for`), so the
client is the entry TRUSTED_PROXY_HOPS places from the right. Everything to the left of it
was written by the client and is never read: a client that puts a forged address first
only forges an entry nobody looks at.
"""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)


def parse_address(value: str | None) -> str | None:
    """A normalised IP address, or None; "[::1]" and "1.2.3.4:5678" (ports, which some
    proxies add) are read too."""
    text = (value or "").strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def header_meta_key(header: str) -> str:
    """'X-Forwarded-For' -> 'HTTP_X_FORWARDED_FOR', as Django's request.META names it."""
    return "HTTP_" + header.strip().upper().replace("-", "_")


def client_address(request: HttpRequest) -> str:
    """The address of whoever sent the request, as far as the trusted proxies tell it."""
    remote = parse_address(request.META.get("REMOTE_ADDR")) or "unknown"
    hops = settings.TRUSTED_PROXY_HOPS
    if hops <= 0:
        return remote
    raw = request.META.get(header_meta_key(settings.TRUSTED_PROXY_HEADER), "")
    chain = [part.strip() for part in raw.split(",") if part.strip()]
    if len(chain) < hops:
        # Fewer entries than trusted proxies: the request did not come through all of
        # them (or the setting is wrong). The socket's address is the only one known.
        logger.warning(
            "%s holds %d address(es) but TRUSTED_PROXY_HOPS is %d; using the socket's address %s",
            settings.TRUSTED_PROXY_HEADER,
            len(chain),
            hops,
            remote,
        )
        return remote
    return parse_address(chain[-hops]) or remote
