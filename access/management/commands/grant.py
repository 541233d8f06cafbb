"""`python manage.py grant USER viewer|operator|admin|none`: give a user a role by hand
(for scripts, and for consoles without an identity provider). A role by hand replaces the
user's previous one by hand; roles from the identity provider's groups are kept beside it
(access/roles.py). `none` takes the role by hand away. Every change is in the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from access import roles
from access.models import RoleSource


class Command(BaseCommand):
    help = "Give USER a role by hand: viewer (reads), operator (also acts), admin, or none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("role", choices=[*roles.ROLES, "none"])

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(
                f"No user named {options['username']}; create it first "
                "(manage.py createsuperuser, or the admin)."
            )
        role = options["role"]
        granted = {} if role == "none" else {role: ["manage.py grant"]}
        roles.sync_roles(user, RoleSource.MANUAL, granted, by="manage.py grant")
        now = ", ".join(sorted(roles.effective_roles(user))) or "no role"
        self.stdout.write(f"{user.username} now has: {now}.")
