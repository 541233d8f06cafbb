"""`python manage.py grant USER viewer|operator|admin|none [--source NAME] [--functions
PATTERN]`: give a user a role by hand, everywhere or on part of the console (`--source
prod --functions 'payments-*'`: what the person sees and acts on is then those functions
only, access/scope.py). A role by hand replaces the user's previous one by hand; roles
from the identity provider's groups are kept beside it (access/roles.py). `none` takes the
role by hand away. Every change is in the audit log."""

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
        parser.add_argument("--source", default="", help="only on this source (its name)")
        parser.add_argument(
            "--functions", default="", help="only on functions matching this pattern"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(
                f"No user named {options['username']}; create it first "
                "(manage.py createsuperuser, or the admin)."
            )
        role = options["role"]
        source_id = None
        if options["source"]:
            from executions.models import Source

            source = Source.objects.filter(name=options["source"]).first()
            if source is None:
                raise CommandError(f"No source named {options['source']}.")
            source_id = source.pk
        if role == "admin" and (source_id or options["functions"]):
            raise CommandError("admin is a role everywhere: give it without --source/--functions.")
        grant = (role, source_id, options["functions"].strip())
        granted = {} if role == "none" else {grant: ["manage.py grant"]}
        roles.sync_roles(user, RoleSource.MANUAL, granted, by="manage.py grant")
        now = ", ".join(sorted(roles.effective_roles(user))) or "no role"
        self.stdout.write(f"{user.username} now has: {now}.")
