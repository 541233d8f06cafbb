"""`manage.py signin unlock USERNAME [--address ADDRESS]`: lift the sign-in delay of a
user (from one address, or from every address) before it runs out."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access import signin
from access.clientip import parse_address


class Command(BaseCommand):
    help = "Lift a user's sign-in delay (the rate limit on failed sign-ins)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="command", required=True)
        unlock = sub.add_parser("unlock", help="Lift the delay of USERNAME.")
        unlock.add_argument("username")
        unlock.add_argument(
            "--address", help="Only the delay from this client address (and its own)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        address = options.get("address")
        if address is not None and parse_address(address) is None:
            raise CommandError(f"{address!r} is not an IP address.")
        removed = signin.unlock(options["username"], parse_address(address) if address else None)
        where = f" from {address}" if address else ""
        if removed:
            self.stdout.write(f"Lifted the sign-in delay of {options['username']}{where}.")
        else:
            self.stdout.write(f"{options['username']} had no sign-in delay{where}.")
