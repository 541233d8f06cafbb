"""API tokens as people make them: on the account page (shown once, kept as a digest, listed
with their last use, revoked at once), on the staff page of every token, and with
`manage.py token` on the server (for service accounts too); each made or revoked one in
the audit log. The API's /api/v1/me says whether a token works."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from django.utils import timezone

from access import api_tokens
from access.models import ApiToken
from executions.models import AuditEntry
from tests import factories
from tests.factories import signed_in

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"dcon_[A-Za-z0-9_-]{20,}")


def _make(client, name: str = "ci-deploy", scope: str = "read", days: str = "90"):
    return client.post("/account/tokens/new", {"name": name, "scope": scope, "days": days})


def _secret_in(response) -> str:
    found = SECRET.findall(response.content.decode())
    assert found, "the secret is on the page"
    return found[0]


def _me(client, secret: str):
    return client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")


def _page(client, path: str = "/account/") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


# ---- made on the account page -----------------------------------------------------------


def test_a_token_made_on_the_account_page_is_shown_once_and_kept_as_a_digest(client):
    signed_in(client, "ada", "operator")
    assert 'data-testid="token-form"' in _page(client)

    made = _make(client, "ci-deploy", "act", "30")
    assert made.status_code == 200
    assert "no-store" in made["Cache-Control"]
    secret = _secret_in(made)
    page = made.content.decode()
    assert "you will not see it again" in page
    assert f'curl -H "Authorization: Bearer {secret}"' in page and "/api/v1/me" in page
    assert 'data-copy-target="#token-secret"' in page

    token = ApiToken.objects.get()
    assert (token.user.username, token.name, token.scope) == ("ada", "ci-deploy", "act")
    assert token.digest == ApiToken.digest_of(secret)
    assert secret.startswith(token.prefix) and len(token.prefix) < len(secret) // 3
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    # Nowhere in its row, nor in the session.
    assert not any(secret in str(value) for value in model_to_dict(token).values())
    assert secret not in str(dict(client.session))

    # Never again: the account page lists it by name and first characters only.
    listed = _page(client)
    assert secret not in listed and not SECRET.search(listed.replace(token.prefix + "…", ""))
    assert "ci-deploy" in listed and f"{token.prefix}…" in listed and "read and act" in listed

    me = _me(client, secret)
    assert me.status_code == 200
    assert me.json()["username"] == "ada" and me.json()["token_scope"] == "act"


def test_the_list_shows_never_until_the_token_is_used_then_when(client):
    signed_in(client, "ada", "viewer")
    secret = _secret_in(_make(client, "grafana"))
    row = re.search(r'data-testid="token-last-used">(.*?)</td>', _page(client)).group(1)
    assert row == "never"

    assert _me(client, secret).status_code == 200
    row = re.search(r'data-testid="token-last-used">(.*?)</td>', _page(client)).group(1)
    assert row.startswith('<time class="js-ago"')
    assert ApiToken.objects.get().last_used_at is not None


def test_revoking_refuses_the_token_at_once_and_both_are_in_the_audit_log(client):
    signed_in(client, "ada", "operator")
    secret = _secret_in(_make(client, "ci-deploy"))
    token = ApiToken.objects.get()
    assert _me(client, secret).status_code == 200

    confirm = client.get(f"/account/tokens/{token.pk}/revoke")
    assert confirm.status_code == 200 and "Revoke “ci-deploy” now" in confirm.content.decode()
    assert _me(client, secret).status_code == 200  # asking does not revoke

    done = client.post(f"/account/tokens/{token.pk}/revoke", follow=True)
    assert done.redirect_chain[-1][0] == "/account/#api-tokens"
    assert "Revoked the token “ci-deploy”" in done.content.decode()
    refused = _me(client, secret)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_revoked"
    assert 'data-state="revoked"' in done.content.decode()

    entries = AuditEntry.objects.filter(action__startswith="token_").order_by("created_at", "pk")
    assert [(e.action, e.username, e.user.username) for e in entries] == [
        ("token_created", "ada", "ada"),
        ("token_revoked", "ada", "ada"),
    ]
    for entry in entries:
        assert "“ci-deploy”" in entry.payload and token.prefix in entry.payload
        assert secret not in entry.payload and secret[len(token.prefix) :] not in entry.payload
    # Revoking twice changes nothing more.
    again = client.post(f"/account/tokens/{token.pk}/revoke", follow=True)
    assert "was already revoked" in again.content.decode()
    assert AuditEntry.objects.filter(action="token_revoked").count() == 1
    # The audit page says it in words.
    audit = _page(client, "/audit/")
    assert "Made an API token" in audit and "Revoked an API token" in audit


@pytest.mark.parametrize(
    "name, scope, days, reason",
    [
        ("", "read", "90", "Give the token a name"),
        ("   ", "read", "90", "Give the token a name"),
        ("x" * 101, "read", "90", "longer than 100 characters"),
        ("ok", "read", "0", "A token lasts from 1 to 365 days"),
        ("ok", "read", "366", "A token lasts from 1 to 365 days"),
        ("ok", "read", "١٢", "A token lasts from 1 to 365 days"),
        ("ok", "read", "twelve", "A token lasts from 1 to 365 days"),
        ("ok", "admin", "90", "The scope is read, or read and act"),
    ],
)
def test_bad_input_is_refused_beside_the_form_with_what_was_typed_kept(
    client, name, scope, days, reason
):
    signed_in(client, "ada", "operator")
    refused = _make(client, name, scope, days)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "No token was made" in page and reason in page
    assert 'class="form-control is-invalid"' in page or 'class="form-select is-invalid"' in page
    if name.strip() and len(name) <= 100:
        assert f'value="{name}"' in page
    assert f'value="{days}"' in page
    assert not SECRET.search(page)
    assert ApiToken.objects.count() == 0 and not AuditEntry.objects.filter(action="token_created")


def test_a_name_is_used_once_even_after_its_token_is_revoked(client):
    signed_in(client, "ada", "operator")
    _make(client, "ci-deploy")
    refused = _make(client, "ci-deploy")
    assert refused.status_code == 400
    assert "You already have a token named “ci-deploy”" in refused.content.decode()

    api_tokens.revoke(ApiToken.objects.get())
    refused = _make(client, " ci-deploy ")
    assert "A revoked or expired token of yours is named “ci-deploy”" in refused.content.decode()
    # Another person may use the name.
    signed_in(client, "bo", "operator")
    assert _make(client, "ci-deploy").status_code == 200
    assert ApiToken.objects.count() == 2


def test_a_viewer_is_offered_read_only_and_cannot_make_an_act_token(client):
    signed_in(client, "vic", "viewer")
    form = _page(client)
    assert 'value="read"' in form and 'value="act"' not in form
    assert "may read but not act" in form

    refused = _make(client, "sneaky", "act")
    assert refused.status_code == 400
    assert "a token of yours cannot act" in refused.content.decode()
    assert not ApiToken.objects.exists()

    secret = _secret_in(_make(client, "reader", "read"))
    assert _me(client, secret).json()["may_act"] is False


def test_the_expiry_is_offered_at_90_days_with_the_longest_shown(client, settings):
    settings.API_TOKEN_MAX_DAYS = 30
    signed_in(client, "ada")
    form = _page(client)
    days = re.search(r'<input[^>]*name="days"[^>]*>', form).group(0)
    assert 'value="90"' in days
    assert "From 1 to 30 days." in form
    assert "A token lasts from 1 to 30 days" in _make(client, "long", days="90").content.decode()


def test_an_expired_token_says_so_plainly(client):
    signed_in(client, "ada")
    _make(client, "old")
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(days=1))
    page = _page(client)
    assert 'data-state="expired"' in page and ">expired</span>" in page
    assert 'data-testid="revoke-token"' not in page


def test_nobody_sees_or_revokes_another_persons_token_but_staff(client):
    theirs = api_tokens.issue(factories.user("bo", "operator"), "bo-ci")
    signed_in(client, "ada", "operator")
    assert "bo-ci" not in _page(client)
    assert client.get(f"/account/tokens/{theirs.token.pk}/revoke").status_code == 404
    assert client.post(f"/account/tokens/{theirs.token.pk}/revoke").status_code == 404
    assert _me(client, theirs.secret).status_code == 200


def test_the_staff_page_lists_every_token_and_revokes_any(client):
    bo = api_tokens.issue(factories.user("bo", "operator", password="pw of bo"), "bo-ci", "act")
    robot = api_tokens.issue(api_tokens.service_account("deploy-bot"), "nightly")
    assert _me(client, robot.secret).status_code == 200

    signed_in(client, "vic", "operator")
    refused = client.get("/account/tokens/all")
    assert refused.status_code == 403
    assert "is for staff accounts" in refused.content.decode()
    assert "Every person's tokens" not in _page(client)

    signed_in(client, "stella", staff=True)
    assert "Every person's tokens" in _page(client)
    page = _page(client, "/account/tokens/all")
    for who, name in (("bo", "bo-ci"), ("deploy-bot", "nightly")):
        assert f'data-token="{name}" data-user="{who}" data-state="active"' in page
    assert page.count("service account</span>") == 1 and "read and act" in page
    assert bo.secret not in page and robot.secret not in page
    row = page[page.index('data-token="nightly"') :]
    assert re.search(r'data-testid="token-last-used"><time class="js-ago"', row)

    url = f"/account/tokens/{bo.token.pk}/revoke"
    confirm = client.get(url, {"next": "/account/tokens/all"}).content.decode()
    assert 'name="next" value="/account/tokens/all"' in confirm and "Of</dt><dd" in confirm
    done = client.post(url, {"next": "/account/tokens/all"}, follow=True)
    assert done.redirect_chain[-1][0] == "/account/tokens/all"
    assert "Revoked the token “bo-ci” of bo" in done.content.decode()
    assert _me(client, bo.secret).json()["error"]["code"] == "token_revoked"
    entry = AuditEntry.objects.get(action="token_revoked")
    assert entry.username == "stella" and "“bo-ci”" in entry.payload and "of bo" in entry.payload


def test_the_admin_lists_tokens_read_only_and_revokes_them(client):
    made = api_tokens.issue(factories.user("bo"), "bo-ci")
    client.force_login(factories.user("root", superuser=True))
    listing = client.get("/admin/access/apitoken/")
    assert listing.status_code == 200 and "bo-ci" in listing.content.decode()
    assert client.get("/admin/access/apitoken/add/").status_code == 403
    reply = client.post(
        "/admin/access/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [made.token.pk]},
        follow=True,
    )
    assert "Revoked 1 token(s)." in reply.content.decode()
    assert _me(client, made.secret).json()["error"]["code"] == "token_revoked"
    assert AuditEntry.objects.get(action="token_revoked").username == "root"


# ---- manage.py token ----------------------------------------------------------------------


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_prints_only_the_secret_and_it_works(client):
    factories.user("ada", "operator")
    out, err = _run("create", "ada", "ci-deploy", "--scope", "act", "--days", "7")
    secret = out.strip()
    assert out == secret + "\n" and SECRET.fullmatch(secret)
    assert "Made the token “ci-deploy” of ada" in err and secret not in err
    me = _me(client, secret).json()
    assert (me["username"], me["token"], me["token_scope"], me["may_act"]) == (
        "ada",
        "ci-deploy",
        "act",
        True,
    )
    token = ApiToken.objects.get()
    assert token.digest == ApiToken.digest_of(secret)
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    entry = AuditEntry.objects.get(action="token_created")
    assert "manage.py token" in entry.payload and secret not in entry.payload


def test_a_service_account_has_no_password_and_gets_its_role_by_grant(client):
    out, err = _run("create", "deploy-bot", "nightly", "--service-account", "--scope", "act")
    bot = User.objects.get(username="deploy-bot")
    assert not bot.has_usable_password() and not bot.identities.exists()
    assert "cannot act yet" in err and "manage.py grant deploy-bot operator" in err
    secret = out.strip()
    assert _me(client, secret).json()["may_act"] is False

    call_command("grant", "deploy-bot", "operator", stdout=io.StringIO())
    assert _me(client, secret).json()["may_act"] is True
    # A second token for the same service account.
    out, _ = _run("create", "deploy-bot", "weekly", "--service-account")
    assert _me(client, out.strip()).json()["username"] == "deploy-bot"
    # It cannot sign in on the pages.
    assert not client.login(username="deploy-bot", password="")


def test_the_command_lists_and_revokes(client):
    factories.user("ada")
    secret, _ = _run("create", "ada", "one")
    _run("create", "ada", "two")
    out, _ = _run("list", "ada")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["USER", "NAME", "PREFIX", "SCOPE"]
    assert [line.split()[1] for line in lines[1:]] == ["two", "one"]
    assert "never" in lines[1] and "active" in lines[1]
    assert secret.strip() not in out

    out, err = _run("revoke", "ada", "one")
    assert out == "" and "Revoked the token “one” of ada" in err
    assert _me(client, secret.strip()).json()["error"]["code"] == "token_revoked"
    out, _ = _run("list")
    assert "revoked" in [line for line in out.splitlines() if " one " in line][0]
    _, err = _run("revoke", "ada", "one")
    assert "already revoked" in err
    assert AuditEntry.objects.filter(action="token_revoked").count() == 1


@pytest.mark.parametrize(
    "args, reason",
    [
        (("create", "nobody", "x"), "No user named nobody"),
        (("create", "ada", ""), "Give the token a name"),
        (("create", "ada", "x", "--days", "0"), "A token lasts from 1 to 365 days"),
        (("create", "ada", "x", "--days", "9999"), "A token lasts from 1 to 365 days"),
        (("create", "ada", "x", "--service-account"), "is a person's account"),
        (("create", "ada", "x", "--scope", "admin"), "invalid choice"),
        (("revoke", "ada", "missing"), "ada has no token named “missing”"),
        (("list", "nobody"), "No user named nobody"),
    ],
)
def test_the_command_refuses_with_the_reason(args, reason):
    factories.user("ada", password="a password")
    with pytest.raises(CommandError, match=reason):
        _run(*args)
    assert not ApiToken.objects.exists()


def test_a_repeated_name_is_refused_by_the_command_too():
    factories.user("ada")
    _run("create", "ada", "ci")
    with pytest.raises(CommandError, match="already has a token named “ci”"):
        _run("create", "ada", "ci")
