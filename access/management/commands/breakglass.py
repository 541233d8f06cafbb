"""`python manage.py breakglass USERNAME [--minutes 15]`: a one-time sign-in link for a
local account, for when the identity provider is down or local sign-in is off. Run on the
server (whoever can run it can already change the database); the link is printed once,
only its digest is kept, and both its making and its use are in the audit log."""

from __future__ import annotations

import secrets
import socket
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone

from access.models import BreakGlassLink
from executions.models import AuditEntry, AuditOutcome


class Command(BaseCommand):
    help = "Print a one-time sign-in link for USERNAME (break-glass access)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--minutes", type=int, default=15, help="valid for (1-60)")

    def handle(self, *args: Any, **options: Any) -> None:
        minutes = options["minutes"]
        if not 1 <= minutes <= 60:
            raise CommandError("--minutes must be from 1 to 60.")
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user named {options['username']}.")
        token = secrets.token_urlsafe(32)
        BreakGlassLink.objects.create(
            user=user,
            digest=BreakGlassLink.digest_of(token),
            expires_at=timezone.now() + timedelta(minutes=minutes),
        )
        AuditEntry.objects.create(
            user=user,
            username=user.get_username(),
            action="break_glass_created",
            payload=f"manage.py breakglass on {socket.gethostname()}, valid {minutes} min",
            outcome=AuditOutcome.SUCCEEDED,
            completed_at=timezone.now(),
        )
        url = settings.CONSOLE_BASE_URL + reverse("access:break_glass", args=[token])
        self.stdout.write(
            f"One-time sign-in link for {user.get_username()}, valid {minutes} minutes:\n{url}"
        )
