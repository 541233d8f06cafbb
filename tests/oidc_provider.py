"""A real OpenID provider for the sign-in tests: panva's oidc-provider (tests/oidc/provider.mjs,
a certified provider running on Node.js) started on 127.0.0.1 with its own signing key, clients
and accounts.

    with OidcProvider(accounts={"alice": {"password": "pw", "groups": ["ops"]}}) as idp:
        idp.add_client("console", "secret", ["http://127.0.0.1:8000/oidc/callback/"])
        ...  # discovery at idp.discovery_url; the login page has Username, Password, Sign in
        idp.set_account("alice", groups=["viewers"])   # seen by the next refresh
        idp.remove_account("alice")                     # the next refresh fails: invalid_grant

The provider requires PKCE (S256) for the code flow, asks no consent, issues a refresh token
when the client asks for offline_access (with prompt=consent, as OpenID Connect requires) and
puts the claims of the scopes asked for (profile, email, groups) in the ID token as well as in
userinfo. `stop()` and `start()` take it down and bring it back on the same address with the
same key, sessions and tokens, for the tests of a provider that is down for a while.

Its node modules come from `make oidc-deps` (npm ci in tests/oidc), which `make test` runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from sandbox.runner import free_port, stop_process_groups

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
PROVIDER_SCRIPT = OIDC_DIR / "provider.mjs"
MAKE_TARGET = "make oidc-deps"


class OidcProviderError(RuntimeError):
    pass


def _new_key(alg: str) -> RSAKey | ECKey:
    parameters = {"alg": alg, "use": "sig"}
    if alg == "RS256":
        key: RSAKey | ECKey = RSAKey.generate_key(2048, parameters=parameters, private=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=parameters, private=True)
    else:
        raise ValueError(f"key_alg must be RS256 or ES256, not {alg!r}")
    # The thumbprint as kid: unique per key, so a token minted with another key never matches.
    key.ensure_kid()
    return key


class OidcProvider:
    """The provider as a context manager. Clients and accounts given here, or added before
    `start()`, go into its config file; added while it runs, they go through its test-control
    API (tests/oidc/provider.mjs). Either way they are kept here, so a restart has them."""

    def __init__(
        self,
        *,
        clients: Iterable[Mapping[str, Any]] = (),
        accounts: Mapping[str, Mapping[str, Any]] | None = None,
        key_alg: str = "RS256",
        ttl: Mapping[str, int] | None = None,
        port: int | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        """`clients`: oidc-provider client metadata (client_id, client_secret, redirect_uris,
        ...; see add_client for the defaults). `accounts`: login -> fields, as set_account
        takes them. `key_alg`: RS256 or ES256, the ID tokens' signing algorithm. `ttl`:
        lifetimes in seconds by oidc-provider's names (IdToken, AccessToken, RefreshToken,
        Session, Grant, ...)."""
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.ttl = dict(ttl or {})
        self._key = _new_key(key_alg)
        self._clients: dict[str, dict[str, Any]] = {}
        self._accounts: dict[str, dict[str, Any]] = {}
        # Kept for the provider's whole life, so that a restart keeps the browser's cookies
        # valid and the control API's token known.
        self._cookie_key = secrets.token_hex(32)
        self._control_token = secrets.token_urlsafe(32)
        self._dir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        self._log_path = self._dir / "provider.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._final_log = ""
        for client in clients:
            metadata = dict(client)
            self.add_client(
                metadata.pop("client_id"),
                metadata.pop("client_secret"),
                metadata.pop("redirect_uris"),
                **metadata,
            )
        for login, fields in (accounts or {}).items():
            self.set_account(login, **fields)

    # -- addresses ------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- keys -----------------------------------------------------------------------------

    @property
    def signing_alg(self) -> str:
        return str(self._key.alg)

    @property
    def kid(self) -> str:
        return str(self._key.kid)

    @property
    def private_jwk(self) -> dict[str, Any]:
        """The provider's signing key as a private JWK (kid, alg, use included)."""
        return dict(self._key.as_dict(private=True))

    @property
    def public_jwks(self) -> dict[str, Any]:
        """What the provider serves at its jwks_uri."""
        return {"keys": [dict(self._key.as_dict(private=False))]}

    def sign_jwt(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
        """A JWT signed with the provider's own key (alg and kid filled in unless `header`
        says otherwise): an ID token the provider could have issued, or, with other claims, a
        forged one that only the claims give away."""
        full_header = {"alg": self.signing_alg, "kid": self.kid, "typ": "JWT", **(header or {})}
        return jwt.encode(full_header, dict(claims), self._key, algorithms=[full_header["alg"]])

    # -- clients and accounts -------------------------------------------------------------

    def add_client(
        self,
        client_id: str,
        secret: str,
        redirect_uris: Sequence[str],
        *,
        token_endpoint_auth_method: str = "client_secret_basic",
        **metadata: Any,
    ) -> dict[str, Any]:
        """Add or replace (while it runs too) a confidential client with the code and
        refresh-token grants.
        `metadata`: any other oidc-provider client metadata (client_name,
        post_logout_redirect_uris, ...). Returns the metadata."""
        client = {
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uris": list(redirect_uris),
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": token_endpoint_auth_method,
            **metadata,
        }
        if self.running:
            self._control("PUT", f"/_test/clients/{urllib.parse.quote(client_id, safe='')}", client)
        self._clients[client_id] = client
        return dict(client)

    def set_account(self, login: str, **fields: Any) -> dict[str, Any]:
        """Create the account `login`, or change these fields of it (the others stay).
        Fields: password (needed for a new account), sub, email, name, preferred_username,
        groups (list of strings), disabled (True: the provider neither signs it in nor finds
        it, as if removed), and any other claim. A new account's sub is a UUID derived from
        its login, so it differs from the username as a real provider's does. Returns the
        account."""
        account = dict(self._accounts.get(login) or {})
        if not account:
            if not fields.get("password"):
                raise ValueError(f"a new account ({login}) needs a password")
            account = {
                "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"oidc-provider-test-account:{login}")),
                "preferred_username": login,
                "email": f"{login}@example.com",
                "email_verified": True,
                "name": login.replace(".", " ").title(),
                "groups": [],
            }
        account.update(fields)
        if self.running:
            self._control("PUT", f"/_test/accounts/{urllib.parse.quote(login, safe='')}", account)
        self._accounts[login] = account
        return dict(account)

    def disable_account(self, login: str) -> None:
        self.set_account(login, disabled=True)

    def remove_account(self, login: str) -> None:
        """Remove the account: its next sign-in, refresh and userinfo request fail."""
        if login not in self._accounts:
            raise KeyError(login)
        if self.running:
            self._control("DELETE", f"/_test/accounts/{urllib.parse.quote(login, safe='')}")
        del self._accounts[login]

    @property
    def accounts(self) -> dict[str, dict[str, Any]]:
        return {login: dict(account) for login, account in self._accounts.items()}

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.issuer + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self._control_token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise OidcProviderError(
                f"the provider refused {method} {path}: {error.code} {error.read().decode()}"
            ) from error

    # -- life -----------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "port": self.port,
            "clients": list(self._clients.values()),
            "accounts": self._accounts,
            "jwks": {"keys": [self.private_jwk]},
            "ttl": self.ttl,
            "cookie_keys": [self._cookie_key],
            "control_token": self._control_token,
            "state_file": str(self._dir / "state.json"),
        }

    def start(self) -> OidcProvider:
        """Start the provider (again, after stop(): same address, key, clients, accounts,
        sessions and tokens) and return when its discovery document answers."""
        if self.running:
            return self
        node = shutil.which("node")
        if node is None:
            raise OidcProviderError(
                f"Node.js is not installed, and the test OpenID provider runs on it: "
                f"run `{MAKE_TARGET}` (it installs Debian's nodejs and npm, then the provider)."
            )
        if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
            raise OidcProviderError(
                f"{OIDC_DIR / 'node_modules'} is missing: run `{MAKE_TARGET}` "
                f"(npm ci in {OIDC_DIR}) to install the test OpenID provider."
            )
        config_path = self._dir / "config.json"
        config_path.write_text(json.dumps(self._config(), indent=2))
        # Closed in stop(): the provider writes to it for as long as it runs.
        self._log_file = open(self._log_path, "ab")
        self._process = subprocess.Popen(
            [node, str(PROVIDER_SCRIPT), str(config_path)],
            cwd=OIDC_DIR,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Its own process group, so stop() ends it and nothing it started.
            start_new_session=True,
            env={**os.environ, "NODE_ENV": "test"},
        )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error = ""
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                self._close_log()
                raise OidcProviderError(
                    f"the test OpenID provider exited with {self._process.returncode} "
                    f"while starting. Its log:\n{self.log}"
                )
            try:
                with urllib.request.urlopen(self.discovery_url, timeout=2) as response:
                    if json.load(response).get("issuer") == self.issuer:
                        return
            except (OSError, ValueError) as error:
                last_error = str(error)
            # Node takes a few hundred milliseconds to start; ask again shortly.
            time.sleep(0.05)
        self.stop()
        raise OidcProviderError(
            f"the test OpenID provider did not answer at {self.discovery_url} within "
            f"{self.start_timeout:.0f} s ({last_error}). Its log:\n{self.log}"
        )

    def stop(self) -> None:
        """Stop the provider (SIGTERM: it writes its sessions and tokens for the next
        start). Requests to it then fail with connection refused."""
        if self._process is not None:
            stop_process_groups([self._process], timeout=10)
            self._process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def log(self) -> str:
        """Everything the provider printed: a line per request, sign-ins, token errors."""
        if self._log_path.exists():
            return self._log_path.read_text(errors="replace")
        return self._final_log

    def close(self) -> None:
        """Stop the provider and remove its files (the log stays readable in `.log`)."""
        self.stop()
        self._final_log = self.log
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> OidcProvider:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<OidcProvider {self.issuer} {state}>"
