"""`python manage.py grant USER viewer|operator`: give a user a role (for scripts)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from access.roles import OPERATOR_GROUP, VIEWER_GROUP


class Command(BaseCommand):
    help = "Make USER a viewer (reads everything) or an operator (also acts)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=[VIEWER_GROUP, OPERATOR_GROUP])

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(
                f"No user named {options['username']}; create it first "
                "(manage.py createsuperuser, or the admin)."
            )
        groups = {
            name: Group.objects.get_or_create(name=name)[0]
            for name in (VIEWER_GROUP, OPERATOR_GROUP)
        }
        # One role at a time: granting viewer takes operator away, and the reverse.
        user.groups.remove(*groups.values())
        user.groups.add(groups[options["role"]])
        self.stdout.write(f"{user.username} is now a {options['role']}.")
