"""Sign-in with the company's identity provider, against a real OpenID provider the tests
run (tests/oidc_provider.py: panva's certified oidc-provider on Node): the authorization
code flow with PKCE and discovery, groups to roles at sign-in and at session refresh, and
every way it can go wrong, each answered by a page that says what happened and what the
administrator should check, never a 500, never a signed-in user without their role.

The browser here is Django's test client on the console's side and `requests` on the
provider's (its login form filled in as a person would); tests/browser/test_sso.py goes
through the same flow in chromium."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from joserfc import jwt
from joserfc.jwk import RSAKey

from access import oidc
from access.models import BreakGlassLink, Identity, ProviderSession, RoleGrant
from executions.models import AuditEntry
from tests.oidc_provider import OidcProvider

pytestmark = pytest.mark.django_db

CLIENT_ID = "durable-console"
CLIENT_SECRET = "console-secret"
REDIRECT_URI = "http://testserver/sso/callback/"
GROUP_ROLES = {"payments-ops": "operator", "auditors": "viewer", "console-admins": "admin"}


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    clients = [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]}
    ]
    with OidcProvider(clients=clients) as provider:
        yield provider


@pytest.fixture
def sso(settings, idp):
    """The console configured for the provider, as docs/DEPLOYMENT.md sets it up."""
    settings.OIDC_ISSUER = idp.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_SCOPES = "openid profile email groups offline_access"
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.SSO_GROUP_ROLES = dict(GROUP_ROLES)
    settings.SSO_ENABLED = True
    oidc._clients.clear()
    yield settings
    oidc._clients.clear()


_counter = iter(range(10_000))


def _person(idp: OidcProvider, groups: list[str], **fields: Any) -> str:
    login = f"person{next(_counter)}-{int(time.time() * 1000) % 100000}"
    idp.set_account(login, password="their-password", groups=groups, **fields)
    return login


def _sign_in(client: Client, idp: OidcProvider, login: str, password: str = "their-password"):
    """The whole flow as a browser walks it; the console's last answer."""
    start = client.get("/sso/login/?next=/executions/")
    assert start.status_code == 302, start.content[:500]
    browser = requests.Session()
    at_provider = browser.get(start["Location"], allow_redirects=True, timeout=10)
    action = re.search(r'<form method="post" action="([^"]+)"', at_provider.text).group(1)
    back = browser.post(
        urllib.parse.urljoin(at_provider.url, action),
        data={"username": login, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    # The provider redirects (maybe through its own resume step) to the console's callback.
    while back.status_code in (302, 303) and not back.headers["Location"].startswith(
        "http://testserver/"
    ):
        back = browser.get(
            urllib.parse.urljoin(back.url, back.headers["Location"]), allow_redirects=False
        )
    callback = urllib.parse.urlsplit(back.headers["Location"])
    assert callback.path == "/sso/callback/", back.headers["Location"]
    return client.get(f"{callback.path}?{callback.query}")


def _signed_in_as(client: Client) -> str:
    page = client.get("/account/")
    if page.status_code != 200:
        return ""
    return re.search(r'id="account-heading">([^<]+)<', page.content.decode()).group(1)


def test_a_person_signs_in_with_the_provider_and_gets_the_role_of_their_group(client, sso, idp):
    login = _person(idp, ["payments-ops", "unrelated"], email="ana@example.com")

    answer = _sign_in(client, idp, login)

    assert answer.status_code == 302 and answer["Location"] == "/executions/"
    assert _signed_in_as(client) == login
    user = User.objects.get(username=login)
    assert user.groups.filter(name="operator").exists() and not user.is_superuser
    grant = RoleGrant.objects.get(user=user)
    assert (grant.role, grant.source, grant.detail) == ("operator", "provider", "payments-ops")
    identity = Identity.objects.get(user=user)
    assert identity.issuer == idp.issuer and identity.subject != login
    account = client.get("/account/").content.decode()
    assert "operator</strong>, from the identity provider&#x27;s groups (payments-ops)" in account
    entry = AuditEntry.objects.filter(action="sign_in", username=login).get()
    assert f"issuer {idp.issuer}, subject {identity.subject}" in entry.payload
    roles = AuditEntry.objects.get(action="role_changed", username=login)
    assert "no role -> operator (provider: OpenID Connect groups)" in roles.payload


def test_the_login_page_offers_the_provider_and_admins_come_from_their_group(client, sso, idp):
    page = client.get("/login/").content.decode()
    assert 'data-testid="sso-sign-in"' in page and "Sign in with Test IdP" in page
    login = _person(idp, ["console-admins"])
    _sign_in(client, idp, login)
    user = User.objects.get(username=login)
    assert user.is_superuser and user.is_staff and user.groups.filter(name="operator").exists()


def test_leaving_the_group_takes_the_role_away_at_the_next_refresh(client, sso, idp, settings):
    login = _person(idp, ["payments-ops"])
    _sign_in(client, idp, login)
    user = User.objects.get(username=login)
    assert user.groups.filter(name="operator").exists()

    idp.set_account(login, groups=["auditors"])
    settings.OIDC_REFRESH_SECONDS = 0  # the refresh is due at the next request
    assert client.get("/executions/").status_code == 200

    user.refresh_from_db()
    assert not user.groups.filter(name="operator").exists()
    assert user.groups.filter(name="viewer").exists()
    assert [(g.role, g.source) for g in RoleGrant.objects.filter(user=user)] == [
        ("viewer", "provider")
    ]
    change = AuditEntry.objects.filter(action="role_changed", username=login).order_by("id").last()
    assert "operator -> viewer (provider: OpenID Connect refresh)" in change.payload


def test_a_person_removed_at_the_provider_is_signed_out_at_the_next_refresh(
    client, sso, idp, settings
):
    login = _person(idp, ["payments-ops"])
    _sign_in(client, idp, login)
    idp.remove_account(login)
    settings.OIDC_REFRESH_SECONDS = 0

    answer = client.get("/executions/")

    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    page = client.get(answer["Location"]).content.decode()
    assert "Your sign-in with the identity provider has ended" in page
    assert _signed_in_as(client) == ""


def test_a_grant_by_hand_stays_when_the_providers_groups_change(client, sso, idp, settings):
    login = _person(idp, ["auditors"])
    _sign_in(client, idp, login)
    call_command("grant", login, "operator")
    idp.set_account(login, groups=[])
    settings.OIDC_REFRESH_SECONDS = 0
    client.get("/executions/")
    user = User.objects.get(username=login)
    assert [(g.role, g.source) for g in RoleGrant.objects.filter(user=user)] == [
        ("operator", "manual")
    ]
    assert user.groups.filter(name="operator").exists()


def test_someone_in_no_group_of_the_console_is_refused_not_let_in_as_a_reader(client, sso, idp):
    login = _person(idp, ["marketing"])
    answer = _sign_in(client, idp, login)
    page = answer.content.decode()
    assert answer.status_code == 403
    assert "You have no role in this console" in page
    assert "payments-ops" in page  # the administrator is told which groups give a role
    assert _signed_in_as(client) == ""
    assert AuditEntry.objects.filter(action="sign_in_failed").exists()


def test_a_missing_groups_claim_is_refused_with_what_to_check(client, sso, idp, settings):
    settings.OIDC_GROUPS_CLAIM = "roles"  # a claim this provider does not send
    answer = _sign_in(client, idp, _person(idp, ["payments-ops"]))
    page = answer.content.decode()
    assert answer.status_code == 403 and "The identity provider sent no groups" in page
    assert "OIDC_GROUPS_CLAIM" in page
    assert _signed_in_as(client) == ""


def test_a_local_account_of_the_same_name_is_not_taken_over(client, sso, idp):
    User.objects.create_superuser("boss", password="the-local-admins-password")
    idp.set_account("boss", password="their-password", groups=["auditors"])
    answer = _sign_in(client, idp, "boss")
    assert answer.status_code == 403
    assert "An account with your name already exists" in answer.content.decode()
    assert not Identity.objects.exists() and _signed_in_as(client) == ""


def test_a_provider_that_is_down_gives_a_page_that_says_so(client, sso, idp, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # nothing listens there
    oidc._clients.clear()
    answer = client.get("/sso/login/")
    page = answer.content.decode()
    assert answer.status_code == 502
    assert "The identity provider cannot be reached" in page and "127.0.0.1:9" in page


def test_a_wrong_client_secret_says_which_settings_to_check(client, sso, idp, settings):
    settings.OIDC_CLIENT_SECRET = "not-the-secret"
    oidc._clients.clear()
    answer = _sign_in(client, idp, _person(idp, ["payments-ops"]))
    page = answer.content.decode()
    assert answer.status_code == 502
    assert "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET" in page
    assert _signed_in_as(client) == ""


def test_a_replayed_callback_signs_nobody_in(client, sso, idp):
    login = _person(idp, ["payments-ops"])
    start = client.get("/sso/login/")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(start["Location"]).query)["state"][0]
    stranger = Client()
    answer = stranger.get(f"/sso/callback/?code=stolen&state={state}")
    assert answer.status_code == 400
    assert "state" in answer.content.decode()
    assert _signed_in_as(stranger) == "" and not User.objects.filter(username=login).exists()


# ---- tokens that must not be believed: a proxy in front of the provider's token endpoint --


class TokenTamperer:
    """An HTTP proxy for the provider that hands out what it is told instead of the real
    ID token: re-signed with another key, for another audience, expired, from a clock far
    ahead. Discovery is passed on with its token endpoint pointing here."""

    def __init__(self, idp: OidcProvider) -> None:
        self.idp = idp
        self.change: Any = None  # claims -> (claims, key or None for the provider's)
        tamperer = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream = requests.request(
                    method, idp.issuer + self.path, data=body, headers=headers, timeout=10
                )
                content = upstream.content
                if self.path.startswith("/.well-known/openid-configuration"):
                    metadata = upstream.json()
                    metadata["token_endpoint"] = tamperer.url + "/token"
                    content = json.dumps(metadata).encode()
                elif self.path.startswith("/token") and upstream.ok and tamperer.change:
                    token = upstream.json()
                    claims = jwt.decode(token["id_token"], idp_key(idp)).claims
                    new_claims, key = tamperer.change(dict(claims))
                    token["id_token"] = (
                        idp.sign_jwt(new_claims) if key is None else _sign(new_claims, key, idp.kid)
                    )
                    content = json.dumps(token).encode()
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._forward("POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TokenTamperer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def idp_key(idp: OidcProvider) -> Any:
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(idp.public_jwks)


def _sign(claims: dict[str, Any], key: Any, kid: str) -> str:
    # The provider's algorithm and key id, another key: only the signature can tell.
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


@pytest.fixture
def tamperer(sso, idp, settings):
    with TokenTamperer(idp) as proxy:
        # Discovery through the proxy (the issuer it names is still the provider's, which
        # the tokens must match); authorization and keys at the provider itself.
        settings.OIDC_ISSUER = proxy.url
        oidc._clients.clear()
        yield proxy


@pytest.mark.parametrize(
    "change, hint",
    [
        (lambda c: (c, RSAKey.generate_key(2048)), "signature"),
        (lambda c: ({**c, "aud": "another-client"}, None), "aud"),
        (
            lambda c: ({**c, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, None),
            "exp",
        ),
        (
            lambda c: ({**c, "iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, None),
            "issued in the future",
        ),
        (lambda c: ({**c, "nonce": "another"}, None), "nonce"),
    ],
    ids=["another-key", "wrong-audience", "expired", "clock-far-ahead", "wrong-nonce"],
)
def test_an_id_token_that_does_not_verify_signs_nobody_in(client, idp, tamperer, change, hint):
    login = _person(idp, ["payments-ops"])
    tamperer.change = change
    answer = _sign_in(client, idp, login)
    page = answer.content.decode()
    assert answer.status_code == 400, page[:2000]
    assert "The identity provider&#x27;s token is not valid" in page
    assert hint in page.lower()
    assert _signed_in_as(client) == "" and not User.objects.filter(username=login).exists()


def test_a_little_clock_skew_is_allowed(client, idp, tamperer):
    login = _person(idp, ["payments-ops"])
    # The provider's clock 60 s ahead of ours: within OIDC_LEEWAY_SECONDS (120).
    tamperer.change = lambda c: ({**c, "iat": c["iat"] + 60}, None)
    assert _sign_in(client, idp, login).status_code == 302
    assert _signed_in_as(client) == login


# ---- local sign-in, break glass, sessions ---------------------------------------------


def test_with_local_sign_in_off_a_password_is_not_even_checked(client, sso, settings):
    settings.LOCAL_SIGNIN = False
    User.objects.create_user("ada", password="the-right-password")
    page = client.get("/login/").content.decode()
    assert "Sign in with Test IdP" in page and 'name="password"' not in page
    answer = client.post("/login/", {"username": "ada", "password": "the-right-password"})
    assert answer.status_code == 403
    assert "Sign-in with a password is switched off" in answer.content.decode()
    assert _signed_in_as(client) == ""


def test_a_break_glass_link_signs_in_once_and_is_audited(client, sso, settings, capsys):
    settings.LOCAL_SIGNIN = False
    settings.CONSOLE_BASE_URL = "http://testserver"
    User.objects.create_superuser("root", password=None)
    call_command("breakglass", "root", "--minutes", "5")
    url = capsys.readouterr().out.strip().splitlines()[-1]
    path = urllib.parse.urlsplit(url).path
    assert BreakGlassLink.objects.get().digest not in url  # only a digest is kept

    preview = client.get(path)  # a link preview spends nothing
    assert preview.status_code == 200 and "Sign in as root" in preview.content.decode()
    assert client.post(path).status_code == 302
    assert _signed_in_as(client) == "root"
    again = Client().post(path)
    assert again.status_code == 404
    actions = list(AuditEntry.objects.values_list("action", flat=True).order_by("id"))
    assert actions == ["break_glass_created", "sign_in"]
    assert "break-glass link" in AuditEntry.objects.get(action="sign_in").payload


def _local(client: Client, name: str) -> User:
    user = User.objects.create_user(name, password="a-local-password-1")
    assert (
        client.post("/login/", {"username": name, "password": "a-local-password-1"}).status_code
        == 302
    )
    return user


def test_a_session_ends_after_its_idle_time_and_its_lifetime(client, settings):
    _local(client, "ida")
    session = client.session
    session["last_seen"] = time.time() - settings.SESSION_IDLE_SECONDS - 5
    session.save()
    answer = client.get("/executions/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    assert "hours without activity" in client.get(answer["Location"]).content.decode()

    _local(client, "liv")
    session = client.session
    session["signed_in_at"] = time.time() - settings.SESSION_MAX_SECONDS - 5
    session.save()
    answer = client.get("/executions/")
    assert answer.status_code == 302
    assert "reached its limit" in client.get(answer["Location"]).content.decode()


def test_sign_out_everywhere_ends_the_sessions_in_every_browser(client):
    user = _local(client, "eve")
    other = Client()
    assert (
        other.post("/login/", {"username": "eve", "password": "a-local-password-1"}).status_code
        == 302
    )
    assert other.get("/executions/").status_code == 200

    assert client.post("/account/sign-out-everywhere").status_code == 302

    answer = other.get("/executions/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    assert "signed out everywhere" in other.get(answer["Location"]).content.decode()
    assert AuditEntry.objects.filter(action="sign_out", username=user.username).exists()


def test_a_deactivated_users_sessions_end(client):
    user = _local(client, "dee")
    User.objects.filter(pk=user.pk).update(is_active=False)
    answer = client.get("/executions/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_provider_sessions_keep_their_refresh_token_out_of_the_session(client, sso, idp):
    _sign_in(client, idp, _person(idp, ["payments-ops"]))
    row = ProviderSession.objects.get()
    assert row.refresh_token and row.refresh_token not in json.dumps(dict(client.session))


def test_answering_a_callback_asks_for_a_recent_sign_in_when_step_up_is_on(client, settings):
    from django.contrib.auth.models import Group

    from executions.models import Operation
    from tests.notify_servers import mirror_recorded

    settings.STEP_UP_SECONDS = 300
    user = _local(client, "stepper")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    execution = mirror_recorded("step-up", "coffee-order-waiting-timeout", 30)
    callback = Operation.objects.awaiting_answer().get(execution=execution).callback_id
    session = client.session
    session["signed_in_at"] = time.time() - 600  # signed in ten minutes ago
    session.save()

    answer = client.post(
        f"/executions/{execution.pk}/callbacks/{callback}/succeed",
        {"result": "{}"},
        HTTP_REFERER=f"http://testserver/executions/{execution.pk}/",
    )

    assert answer.status_code == 302
    assert answer["Location"] == f"/login/?next=%2Fexecutions%2F{execution.pk}%2F&again=1"
    assert not AuditEntry.objects.filter(action="callback_success").exists()
    page = client.get(answer["Location"]).content.decode()
    # The sign-in page shows (not a bounce back to the page), saying why.
    assert 'name="password"' in page and "Sign in again to answer callbacks" in page
    assert (
        client.post(
            answer["Location"], {"username": "stepper", "password": "a-local-password-1"}
        ).status_code
        == 302
    )
    assert time.time() - client.session["signed_in_at"] < 60
