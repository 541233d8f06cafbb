"""Behind an AWS Application Load Balancer that authenticates (ALB_SIGNER_ARN set): the
load balancer signs in with the identity provider and passes who the person is in the
`x-amzn-oidc-data` header, a JWT signed ES256 with a key of its own.

The header is trusted only when all of these hold, and any request that carries it
otherwise is refused (401) and logged, never passed on as anonymous:
- it came from the load balancer (REMOTE_ADDR within ALB_NETWORKS): a client that reaches
  the console directly cannot present a header it captured (a replay) or made;
- its `signer` is the configured load balancer's ARN, and its `alg` ES256;
- its signature verifies with the public key its `kid` names, fetched from ALB_KEY_URL
  (the Region's endpoint by default) and kept in memory;
- it has not expired (allowing OIDC_LEEWAY_SECONDS of clock skew).
Its segments may carry base64 `=` padding, which strict JWT libraries refuse; it is read
here with the standard library and `cryptography`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)

HEADER = "HTTP_X_AMZN_OIDC_DATA"
# Key ids are UUIDs; anything else must not reach the key URL.
KID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
KEY_CACHE_SECONDS = 3600
FETCH_TIMEOUT_SECONDS = 5

_keys: dict[str, tuple[ec.EllipticCurvePublicKey, float]] = {}
_keys_lock = threading.Lock()


class Refused(Exception):
    """The header is not to be trusted; the message says why (for the log)."""


def enabled() -> bool:
    return bool(settings.ALB_SIGNER_ARN)


def _b64(segment: str) -> bytes:
    text = segment.rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Refused(f"a segment is not base64: {exc}") from None


def _from_load_balancer(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.ALB_NETWORKS:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def public_key(kid: str) -> ec.EllipticCurvePublicKey:
    """The load balancer's public key `kid`, from ALB_KEY_URL, kept for an hour."""
    if not KID.match(kid):
        raise Refused(f"the key id {kid[:40]!r} is not one")
    now = time.time()
    with _keys_lock:
        cached = _keys.get(kid)
        if cached and cached[1] > now:
            return cached[0]
    url = settings.ALB_KEY_URL.format(region=settings.ALB_REGION, kid=kid)
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            pem = response.read(10_000)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Refused(f"the key {kid} could not be fetched from {url}: {exc}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise Refused(f"the key {kid} at {url} is not a PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Refused(f"the key {kid} is not an elliptic-curve key")
    with _keys_lock:
        _keys[kid] = (key, now + KEY_CACHE_SECONDS)
    return key


def verified_claims(token: str, remote_address: str) -> dict[str, Any]:
    """The person's claims, when the header is the load balancer's; else Refused."""
    if not _from_load_balancer(remote_address):
        raise Refused(f"it came from {remote_address}, which is not in ALB_NETWORKS")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise Refused("it is not a JWT (three segments)")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
    except ValueError as exc:
        raise Refused(f"a segment is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Refused("its header or claims are not JSON objects")
    if header.get("alg") != "ES256":
        raise Refused(f"its algorithm is {header.get('alg')!r}, not ES256")
    if header.get("signer") != settings.ALB_SIGNER_ARN:
        raise Refused(f"its signer {str(header.get('signer'))[:300]!r} is not ALB_SIGNER_ARN")
    signature = _b64(parts[2])
    if len(signature) != 64:
        raise Refused("its signature is not an ES256 signature")
    key = public_key(str(header.get("kid", "")))
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    # What is signed is the two first segments as they came, padding and all.
    try:
        key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused("its signature does not verify with the load balancer's key") from None
    expires = claims.get("exp", header.get("exp"))
    try:
        expired = float(expires) + settings.OIDC_LEEWAY_SECONDS < time.time()
    except (TypeError, ValueError):
        raise Refused("it has no expiry") from None
    if expired:
        raise Refused(f"it expired at {expires}")
    return {**claims, "iss": claims.get("iss") or header.get("iss") or settings.ALB_SIGNER_ARN}


def header_of(request: HttpRequest) -> str:
    return request.META.get(HEADER, "")
