"""`python manage.py token`: API tokens on the server (access/api_tokens.py).

    token create USERNAME NAME [--scope read|act] [--days N] [--service-account]
    token list [USERNAME]
    token revoke USERNAME NAME

`create` prints the secret once, on stdout and alone, so a script can capture it
(`SECRET=$(python manage.py token create ci-bot deploy --service-account)`); everything
else goes to stderr. With --service-account the user is made when missing, with no
password and no identity: it signs in nowhere and acts only through its tokens. Give it a
role with `python manage.py grant USERNAME viewer|operator`. Every token made or revoked
is in the audit log."""

from __future__ import annotations

import socket
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import F
from django.utils import timezone

from access import api_tokens, roles
from access.models import ApiToken, TokenScope
from access.signin import audit_entry

DEFAULT_DAYS = 90


class Command(BaseCommand):
    help = (
        "Make, list and revoke API tokens. `create` prints only the secret on stdout. "
        "A service account (--service-account) gets its role with "
        "`manage.py grant USERNAME viewer|operator`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
        create = commands.add_parser(
            "create",
            help="make a token and print its secret (only it) on stdout",
            description=(
                "Make a token for USERNAME and print its secret, once, alone on stdout. "
                "With --service-account, USERNAME is made when missing as a service "
                "account (no password, signs in nowhere); give it a role with "
                "`manage.py grant USERNAME viewer|operator`."
            ),
        )
        create.add_argument("username")
        create.add_argument("name", help="the token's name: what uses it")
        create.add_argument(
            "--scope",
            choices=TokenScope.values,
            default=TokenScope.READ,
            help="read (default), or act: read and act, as the user's roles allow",
        )
        create.add_argument(
            "--days",
            type=int,
            default=DEFAULT_DAYS,
            help=f"valid for this many days (default {DEFAULT_DAYS}; at most API_TOKEN_MAX_DAYS)",
        )
        create.add_argument(
            "--service-account",
            action="store_true",
            help="make USERNAME as a service account when it does not exist",
        )
        listing = commands.add_parser("list", help="list tokens (of USERNAME, or everyone's)")
        listing.add_argument("username", nargs="?", default="")
        revoke = commands.add_parser("revoke", help="revoke a token at once")
        revoke.add_argument("username")
        revoke.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['subcommand']}")(options)

    def _user(self, username: str) -> Any:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No user named {username}. For a script, make a service account: "
                f"manage.py token create {username} NAME --service-account."
            )
        return user

    def _create(self, options: dict[str, Any]) -> None:
        username = options["username"]
        try:
            if options["service_account"]:
                user = api_tokens.service_account(username)
            else:
                user = self._user(username)
            issued = api_tokens.issue(user, options["name"], options["scope"], options["days"])
        except api_tokens.TokenRefused as refused:
            raise CommandError(str(refused)) from None
        token = issued.token
        audit_entry(
            "token_created",
            user.get_username(),
            None,
            user,
            f"{api_tokens.described(token)}, scope {token.scope}, expires "
            f"{token.expires_at:%Y-%m-%d} UTC, by manage.py token on {socket.gethostname()}",
        )
        self.stdout.write(issued.secret)
        self.stderr.write(
            f"Made the token “{token.name}” of {username} ({token.get_scope_display()}), "
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC. Its secret is above; it is not "
            "shown again."
        )
        if token.scope == TokenScope.ACT and not roles.can_act(user):
            self.stderr.write(
                f"{username} cannot act yet, so the token only reads until it can: "
                f"manage.py grant {username} operator."
            )
        elif options["service_account"] and not roles.effective_roles(user):
            self.stderr.write(
                f"{username} has no role yet (it reads as anyone without one may); give it "
                f"one with manage.py grant {username} viewer|operator."
            )

    def _list(self, options: dict[str, Any]) -> None:
        tokens = ApiToken.objects.select_related("user").order_by(
            F("revoked_at").desc(nulls_first=True), "-created_at"
        )
        if options["username"]:
            tokens = tokens.filter(user=self._user(options["username"]))
        now = timezone.now()
        rows = [("USER", "NAME", "PREFIX", "SCOPE", "CREATED", "EXPIRES", "LAST USED", "STATE")]
        for token in tokens:
            if token.revoked_at is not None:
                state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"
            elif token.expires_at <= now:
                state = "expired"
            else:
                state = "active"
            rows.append(
                (
                    token.user.get_username(),
                    token.name,
                    f"{token.prefix}…",
                    token.scope,
                    f"{token.created_at:%Y-%m-%d %H:%M}",
                    f"{token.expires_at:%Y-%m-%d %H:%M}",
                    f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never",
                    state,
                )
            )
        if len(rows) == 1:
            self.stderr.write("No API tokens.")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
        self.stderr.write("Times are UTC.")

    def _revoke(self, options: dict[str, Any]) -> None:
        user = self._user(options["username"])
        token = ApiToken.objects.select_related("user").filter(user=user, name=options["name"])
        token = token.first()
        if token is None:
            raise CommandError(
                f"{user.get_username()} has no token named “{options['name']}” "
                f"(manage.py token list {user.get_username()})."
            )
        if not api_tokens.revoke(token):
            self.stderr.write(
                f"The token “{token.name}” was already revoked on "
                f"{token.revoked_at:%Y-%m-%d %H:%M} UTC."
            )
            return
        audit_entry(
            "token_revoked",
            user.get_username(),
            None,
            user,
            f"{api_tokens.described(token)}, by manage.py token on {socket.gethostname()}",
        )
        self.stderr.write(f"Revoked the token “{token.name}” of {user.get_username()}.")
