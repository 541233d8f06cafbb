"""Behind an AWS Application Load Balancer that authenticates: the x-amzn-oidc-data header
is believed only when it is the load balancer's (its address, its signer, its key, not
expired), and every other request that carries it is refused, not served anonymously.

The load balancer's key endpoint is a local HTTP server serving a PEM public key per key
id, as https://public-keys.auth.elb.REGION.amazonaws.com/KID does; the headers are signed
with ES256 exactly as the ALB signs them (its base64 `=` padding included)."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.contrib.auth.models import User

from access import alb
from executions.models import AuditEntry

pytestmark = pytest.mark.django_db

SIGNER = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/console/50dc6c495c0c9188"
)
ISSUER = "https://idp.example.com"


class KeyServer:
    """Serves the PEM public key of each key id it holds, as the ALB key endpoint does."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                key = server.keys.get(self.path.strip("/"))
                if key is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                pem = key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                self.send_response(200)
                self.send_header("Content-Length", str(len(pem)))
                self.end_headers()
                self.wfile.write(pem)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{{kid}}"

    def new_key(self) -> str:
        kid = str(uuid.uuid4())
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        return kid

    def __enter__(self) -> KeyServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _segment(data: dict[str, Any]) -> str:
    # The ALB writes standard base64 with its `=` padding.
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def alb_header(
    key: ec.EllipticCurvePrivateKey,
    kid: str,
    claims: dict[str, Any],
    *,
    signer: str = SIGNER,
    expires_in: float = 120,
) -> str:
    header = {"alg": "ES256", "kid": kid, "signer": signer, "iss": ISSUER, "client": "abc",
              "exp": int(time.time() + expires_in)}  # fmt: skip
    body = {"exp": int(time.time() + expires_in), "iss": ISSUER, **claims}
    signing_input = f"{_segment(header)}.{_segment(body)}"
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    return f"{signing_input}.{signature}"


@pytest.fixture
def keys(settings) -> Iterator[KeyServer]:
    with KeyServer() as server:
        settings.ALB_SIGNER_ARN = SIGNER
        settings.ALB_REGION = "eu-west-1"
        settings.ALB_KEY_URL = server.url
        settings.ALB_NETWORKS = ["127.0.0.0/8"]  # the test client's address: the "ALB"
        settings.SSO_GROUP_ROLES = {"payments-ops": "operator", "auditors": "viewer"}
        alb._keys.clear()
        yield server
        alb._keys.clear()


def _claims(groups: list[str], sub: str = "") -> dict[str, Any]:
    sub = sub or str(uuid.uuid4())
    return {"sub": sub, "email": f"{sub[:8]}@example.com", "groups": groups}


def _get(client, header: str, **extra: Any):
    return client.get("/executions/", HTTP_X_AMZN_OIDC_DATA=header, **extra)


def test_the_load_balancers_header_signs_the_person_in_with_their_groups_role(client, keys):
    kid = keys.new_key()
    claims = _claims(["payments-ops"])
    answer = _get(client, alb_header(keys.keys[kid], kid, claims))
    assert answer.status_code == 200
    user = User.objects.get(username=claims["email"])
    assert user.groups.filter(name="operator").exists()
    entry = AuditEntry.objects.get(action="sign_in", username=claims["email"])
    assert f"ALB: issuer {ISSUER}, subject {claims['sub']}" in entry.payload
    # The key was fetched once and kept.
    _get(client, alb_header(keys.keys[kid], kid, claims))
    assert keys.requests == 1


def test_a_new_header_with_other_groups_changes_the_role(client, keys):
    kid = keys.new_key()
    sub = str(uuid.uuid4())
    _get(client, alb_header(keys.keys[kid], kid, _claims(["payments-ops"], sub)))
    _get(client, alb_header(keys.keys[kid], kid, _claims(["auditors"], sub), expires_in=119))
    user = User.objects.get(identities__subject=sub)
    assert not user.groups.filter(name="operator").exists()
    assert user.groups.filter(name="viewer").exists()


@pytest.mark.parametrize("attack", ["forged", "expired", "wrong-signer", "replayed", "not-a-jwt"])
def test_a_header_that_is_not_the_load_balancers_is_refused(client, keys, caplog, attack):
    kid = keys.new_key()
    claims = _claims(["payments-ops"])
    extra: dict[str, Any] = {}
    if attack == "forged":  # signed by someone else, naming the load balancer's key
        header = alb_header(ec.generate_private_key(ec.SECP256R1()), kid, claims)
    elif attack == "expired":
        header = alb_header(keys.keys[kid], kid, claims, expires_in=-600)
    elif attack == "wrong-signer":
        header = alb_header(keys.keys[kid], kid, claims, signer=SIGNER.replace("console", "other"))
    elif attack == "replayed":  # a real header, sent straight to the console from elsewhere
        header = alb_header(keys.keys[kid], kid, claims)
        extra["REMOTE_ADDR"] = "203.0.113.9"
    else:
        header = "not.a-jwt"
    answer = _get(client, header, **extra)
    assert answer.status_code == 401
    assert "sign-in header is not to be trusted" in answer.content.decode()
    assert not User.objects.filter(username=claims["email"]).exists()
    assert "refused a request with an x-amzn-oidc-data header" in caplog.text


def test_a_forged_header_does_not_ride_on_a_signed_in_session(client, keys):
    kid = keys.new_key()
    claims = _claims(["payments-ops"])
    assert _get(client, alb_header(keys.keys[kid], kid, claims)).status_code == 200
    forged = alb_header(ec.generate_private_key(ec.SECP256R1()), kid, _claims(["payments-ops"]))
    assert _get(client, forged).status_code == 401


def test_an_unknown_key_id_is_refused(client, keys):
    kid = keys.new_key()
    header = alb_header(keys.keys[kid], "a1b2c3", _claims(["payments-ops"]))
    assert _get(client, header).status_code == 401
