"""The test OpenID provider (tests/oidc_provider.py) works end to end without the console: a
client of authlib's does discovery and the authorization code flow with PKCE, a person signs in
on the provider's own login page, and the tokens come back signed with the provider's key and
carrying the person's groups, which the test-control API can change or take away."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests import oidc_provider
from tests.oidc_provider import OidcProvider, OidcProviderError

CLIENT_ID = "durable-console"
CLIENT_SECRET = "console-secret"
# Nothing listens here: the code is read from the Location header that points at it. (Port 9
# is one a browser refuses to open: a browser test needs a redirect URI with a real server.)
REDIRECT_URI = "http://127.0.0.1:9/oidc/callback/"
SCOPE = "openid profile email groups offline_access"
CLIENT = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]}


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    # One provider for the module (Node takes about a second to start); each test signs in
    # with accounts of its own.
    with OidcProvider(clients=[CLIENT]) as provider:
        yield provider


class LoginPage(HTMLParser):
    """What a person sees of the provider's login page: each label with the name of the
    input it labels, the inputs' values, the buttons, the alert, and where the form goes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.labels: dict[str, str] = {}  # label text -> the id it is for
        self.inputs: dict[str, dict[str, str]] = {}  # id -> attributes
        self.buttons: list[str] = []
        self.alert = ""
        self.text = ""
        self._open: tuple[str, str] | None = None  # (what, label's for) whose text is read
        self._buffer = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = attributes.get("action", "")
        elif tag == "input":
            self.inputs[attributes.get("id", "")] = attributes
        elif tag in ("label", "button") or attributes.get("role") == "alert":
            self._open, self._buffer = (tag, attributes.get("for", "")), ""

    def handle_endtag(self, tag: str) -> None:
        if self._open is None or tag not in ("label", "button", "p"):
            return
        text = " ".join(self._buffer.split())
        what, target = self._open
        if what == "label":
            self.labels[text] = target
        elif what == "button":
            self.buttons.append(text)
        else:
            self.alert = text
        self._open = None

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._open is not None:
            self._buffer += data

    def field(self, label: str) -> dict[str, str]:
        """The input that the label names, as a screen reader finds it."""
        return self.inputs[self.labels[label]]


@dataclass
class Authorization:
    """An authorization request under way: the client's side (authlib's OAuth2 session, its
    PKCE verifier, state and nonce) and the person's browser (a cookie jar)."""

    client: OAuth2Session
    browser: requests.Session
    metadata: dict[str, Any]
    verifier: str
    state: str
    nonce: str
    page: requests.Response  # where the browser is now


def discover(idp: OidcProvider) -> dict[str, Any]:
    response = requests.get(idp.discovery_url, timeout=5)
    response.raise_for_status()
    return response.json()


def follow(browser: requests.Session, response: requests.Response) -> requests.Response:
    """Follow the provider's redirects as a browser does, but stop at the client's redirect
    URI, where nothing listens: the response that points there carries the code."""
    for _ in range(10):
        location = response.headers.get("Location")
        if not response.is_redirect or location is None or location.startswith(REDIRECT_URI):
            return response
        response = browser.get(urllib.parse.urljoin(response.url, location), allow_redirects=False)
    raise AssertionError(f"too many redirects, last at {response.url}")


def authorize(
    idp: OidcProvider,
    *,
    client_id: str = CLIENT_ID,
    secret: str = CLIENT_SECRET,
    scope: str = SCOPE,
    browser: requests.Session | None = None,
    **params: str,
) -> Authorization:
    """Send the browser to the authorization endpoint found by discovery, with PKCE."""
    metadata = discover(idp)
    client = OAuth2Session(
        client_id,
        secret,
        scope=scope,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier, nonce = generate_token(48), generate_token(20)
    # prompt=consent: OpenID Connect grants offline_access (a refresh token) only with it.
    params.setdefault("prompt", "consent")
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
    )
    browser = browser or requests.Session()
    page = follow(browser, browser.get(url, allow_redirects=False))
    return Authorization(client, browser, metadata, verifier, state, nonce, page)


def submit_login(authorization: Authorization, username: str, password: str) -> requests.Response:
    """Fill in the login page's form as a person does: by its labels, then its button."""
    page = LoginPage(authorization.page.text)
    assert page.buttons == ["Sign in"]
    response = authorization.browser.post(
        urllib.parse.urljoin(authorization.page.url, page.action),
        data={page.field("Username")["name"]: username, page.field("Password")["name"]: password},
        allow_redirects=False,
    )
    authorization.page = follow(authorization.browser, response)
    return authorization.page


def exchange(authorization: Authorization) -> dict[str, Any]:
    """Take the code from the redirect to the client and exchange it for tokens."""
    location = authorization.page.headers.get("Location", "")
    assert location.startswith(REDIRECT_URI), authorization.page.text
    token = authorization.client.fetch_token(
        authorization.metadata["token_endpoint"],
        authorization_response=location,
        state=authorization.state,
        code_verifier=authorization.verifier,
    )
    return dict(token)


def sign_in(
    idp: OidcProvider, login: str, password: str, **params: str
) -> tuple[dict[str, Any], Authorization]:
    authorization = authorize(idp, **params)
    submit_login(authorization, login, password)
    return exchange(authorization), authorization


def verified_claims(
    idp: OidcProvider, id_token: str, nonce: str, audience: str = CLIENT_ID
) -> dict[str, Any]:
    """The ID token's claims, after checking its signature against the keys the provider
    publishes (not the harness's copy of them) and its issuer, audience, expiry and nonce."""
    jwks = requests.get(discover(idp)["jwks_uri"], timeout=5).json()
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=[idp.signing_alg])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": idp.issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(token.claims)
    assert token.header["kid"] == idp.kid
    return token.claims


def refresh(authorization: Authorization, refresh_token: str) -> dict[str, Any]:
    token_endpoint = authorization.metadata["token_endpoint"]
    return dict(authorization.client.refresh_token(token_endpoint, refresh_token=refresh_token))


def alert(page: requests.Response) -> str:
    return LoginPage(page.text).alert


def test_the_discovery_document_offers_the_code_flow_with_pkce_and_the_groups_scope(
    idp: OidcProvider,
) -> None:
    metadata = discover(idp)
    assert metadata["issuer"] == idp.issuer
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "profile", "email", "groups", "offline_access"} <= set(
        metadata["scopes_supported"]
    )
    assert "groups" in metadata["claims_supported"]
    assert "refresh_token" in metadata["grant_types_supported"]


def test_a_person_signs_in_and_the_signed_id_token_carries_their_groups(idp: OidcProvider) -> None:
    idp.set_account("alice", password="alice-pw", groups=["operators", "approvers"])
    authorization = authorize(idp)
    assert authorization.page.status_code == 200
    page = LoginPage(authorization.page.text)
    assert list(page.labels) == ["Username", "Password"]
    assert page.field("Password")["type"] == "password"

    submit_login(authorization, "alice", "alice-pw")
    query = urllib.parse.parse_qs(
        urllib.parse.urlsplit(authorization.page.headers["Location"]).query
    )
    assert query["state"] == [authorization.state]
    assert query["iss"] == [idp.issuer]
    token = exchange(authorization)

    claims = verified_claims(idp, token["id_token"], authorization.nonce)
    assert claims["sub"] == idp.accounts["alice"]["sub"] != "alice"
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["groups"] == ["operators", "approvers"]
    assert token["refresh_token"]
    userinfo = authorization.client.get(authorization.metadata["userinfo_endpoint"]).json()
    assert userinfo["groups"] == ["operators", "approvers"]


def test_a_wrong_password_shows_the_form_again_with_an_error(idp: OidcProvider) -> None:
    idp.set_account("bob", password="bob-pw")
    authorization = authorize(idp)

    page = submit_login(authorization, "bob", "not-bob-pw")

    assert page.status_code == 200
    assert alert(page) == "Wrong username or password"
    assert LoginPage(page.text).field("Username")["value"] == "bob"
    # The same form still works: the failed attempt did not use up the interaction.
    submit_login(authorization, "bob", "bob-pw")
    assert exchange(authorization)["id_token"]


def test_an_unknown_username_gets_the_same_error_as_a_wrong_password(idp: OidcProvider) -> None:
    page = submit_login(authorize(idp), "nobody", "whatever")
    assert alert(page) == "Wrong username or password"


def test_a_refresh_sees_the_groups_changed_at_the_provider(idp: OidcProvider) -> None:
    idp.set_account("carol", password="carol-pw", groups=["viewers"])
    token, authorization = sign_in(idp, "carol", "carol-pw")
    assert verified_claims(idp, token["id_token"], authorization.nonce)["groups"] == ["viewers"]

    idp.set_account("carol", groups=["viewers", "operators"])
    refreshed = refresh(authorization, token["refresh_token"])

    claims = verified_claims(idp, refreshed["id_token"], authorization.nonce)
    assert claims["groups"] == ["viewers", "operators"]
    assert claims["sub"] == idp.accounts["carol"]["sub"]


def test_a_refresh_fails_with_invalid_grant_once_the_account_is_removed(idp: OidcProvider) -> None:
    idp.set_account("dave", password="dave-pw", groups=["operators"])
    token, authorization = sign_in(idp, "dave", "dave-pw")

    idp.remove_account("dave")

    with pytest.raises(OAuthError) as refused:
        refresh(authorization, token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert "dave" not in idp.accounts
    # Their session at the provider ended too: the same browser gets the login page again,
    # where they can no longer sign in.
    again = authorize(idp, browser=authorization.browser)
    assert again.page.status_code == 200
    assert alert(submit_login(again, "dave", "dave-pw")) == "Wrong username or password"


def test_a_disabled_account_can_neither_refresh_nor_sign_in(idp: OidcProvider) -> None:
    idp.set_account("erin", password="erin-pw")
    token, authorization = sign_in(idp, "erin", "erin-pw")

    idp.disable_account("erin")

    with pytest.raises(OAuthError) as refused:
        refresh(authorization, token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert alert(submit_login(authorize(idp), "erin", "erin-pw")) == "This account is disabled"


def test_a_person_still_signed_in_at_the_provider_comes_straight_back_with_a_code(
    idp: OidcProvider,
) -> None:
    idp.set_account("ivan", password="ivan-pw", groups=["operators"])
    _, first = sign_in(idp, "ivan", "ivan-pw")

    again = authorize(idp, browser=first.browser)

    # No login page and no consent page: a redirect to the client with a fresh code.
    token = exchange(again)
    assert verified_claims(idp, token["id_token"], again.nonce)["groups"] == ["operators"]
    assert token["refresh_token"]


def test_without_prompt_consent_there_is_no_refresh_token(idp: OidcProvider) -> None:
    # As OpenID Connect says: offline_access is ignored unless the request has prompt=consent.
    idp.set_account("frank", password="frank-pw")
    authorization = authorize(idp, prompt="login")
    submit_login(authorization, "frank", "frank-pw")

    token = exchange(authorization)

    assert "refresh_token" not in token
    assert verified_claims(idp, token["id_token"], authorization.nonce)["groups"] == []


def test_an_authorization_request_without_pkce_is_refused(idp: OidcProvider) -> None:
    query = urllib.parse.urlencode(
        {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT_URI,
            "state": "s",
        }
    )
    url = f"{discover(idp)['authorization_endpoint']}?{query}"
    response = requests.get(url, allow_redirects=False, timeout=5)
    error = urllib.parse.parse_qs(urllib.parse.urlsplit(response.headers["Location"]).query)
    assert error["error"] == ["invalid_request"]
    assert "requires PKCE" in error["error_description"][0]


def test_a_client_added_while_the_provider_runs_can_sign_people_in(idp: OidcProvider) -> None:
    idp.add_client("late-client", "late-secret", ["http://127.0.0.1:9/not-yet/"])
    # Replaced, as a test does once it knows the port its console listens on.
    idp.add_client("late-client", "late-secret", [REDIRECT_URI], client_name="Late console")
    idp.set_account("grace", password="grace-pw")

    authorization = authorize(idp, client_id="late-client", secret="late-secret")
    assert "to continue to Late console" in LoginPage(authorization.page.text).text
    submit_login(authorization, "grace", "grace-pw")
    token = exchange(authorization)

    claims = verified_claims(idp, token["id_token"], authorization.nonce, "late-client")
    assert claims["preferred_username"] == "grace"


def test_a_token_minted_with_the_private_jwk_verifies_against_the_providers_jwks(
    idp: OidcProvider,
) -> None:
    minted = idp.sign_jwt({"iss": idp.issuer, "sub": "someone", "aud": CLIENT_ID})
    jwks = requests.get(discover(idp)["jwks_uri"], timeout=5).json()
    assert jwks == idp.public_jwks
    assert jwt.decode(minted, KeySet.import_key_set(jwks)).claims["sub"] == "someone"


def test_after_a_restart_the_provider_still_honours_its_refresh_tokens() -> None:
    with OidcProvider(clients=[CLIENT], accounts={"heidi": {"password": "heidi-pw"}}) as idp:
        token, authorization = sign_in(idp, "heidi", "heidi-pw")
        issuer = idp.issuer

        idp.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(idp.discovery_url, timeout=5)
        idp.set_account("heidi", groups=["back"])  # kept for the next start
        idp.start()

        assert idp.issuer == issuer
        refreshed = refresh(authorization, token["refresh_token"])
        claims = verified_claims(idp, refreshed["id_token"], authorization.nonce)
        assert claims["groups"] == ["back"]
    assert "SIGTERM: stopping" in idp.log


def test_a_client_the_provider_refuses_stops_it_from_starting_with_the_reason() -> None:
    bad = {**CLIENT, "redirect_uris": ["not-a-url"]}
    with pytest.raises(OidcProviderError, match="redirect_uris"):
        with OidcProvider(clients=[bad]):
            pass


def test_it_says_how_to_install_the_provider_when_its_node_modules_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_provider, "OIDC_DIR", tmp_path)
    with pytest.raises(OidcProviderError, match="run `make oidc-deps`"):
        with OidcProvider():
            pass


def test_an_es256_provider_signs_its_id_tokens_with_es256() -> None:
    with OidcProvider(clients=[CLIENT], key_alg="ES256") as idp:
        idp.set_account("judy", password="judy-pw", groups=["ops"])
        token, authorization = sign_in(idp, "judy", "judy-pw")

        assert discover(idp)["id_token_signing_alg_values_supported"] == ["ES256"]
        # verified_claims accepts only the provider's algorithm, here ES256.
        assert verified_claims(idp, token["id_token"], authorization.nonce)["groups"] == ["ops"]
