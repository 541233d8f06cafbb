"""`python manage.py slackuser USERNAME SLACK_USER_ID [--team TEAM_ID]`: link a Slack user
to a console user, so that their clicks on a Slack message's Approve and Reject buttons
act as that user (notify/slack.py, docs/SLACK.md). `--unlink` removes the link (every
Slack link of the user without SLACK_USER_ID); USERNAME alone lists the user's links.

Linking is an administrator's act on the server, never a person's own: whoever could
claim another's Slack id would make that person's clicks count as theirs. Every link and
unlink is in the audit log.

    manage.py slackuser alice U012ABCDEF --team T012AB3C4
    manage.py slackuser alice U012ABCDEF --unlink
    manage.py slackuser alice
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from notify import slack

BY = "manage.py slackuser"


class Command(BaseCommand):
    help = "Link a Slack user id (U012ABCDEF) to a console user, list the links, or unlink."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the console user")
        parser.add_argument(
            "slack_user_id",
            nargs="?",
            default="",
            help="the Slack member id (in Slack: profile → ⋮ → Copy member ID)",
        )
        parser.add_argument(
            "--team",
            default="",
            help="the Slack workspace id (T…): the link holds for clicks from it only",
        )
        parser.add_argument(
            "--unlink",
            action="store_true",
            help="remove the link (all of the user's Slack links without SLACK_USER_ID)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username}; create it first (or check the name).")
        user_id = options["slack_user_id"].strip()
        if options["unlink"]:
            if options["team"]:
                raise CommandError("--unlink takes no --team: it removes the links to the id.")
            removed = slack.unlink(user, user_id, by=BY)
            if not removed:
                which = f"to {user_id}" if user_id else "at all"
                raise CommandError(f"{username} has no Slack link {which}.")
            self.stdout.write(f"Unlinked from {username}: {', '.join(removed)}.")
            return
        if not user_id:
            links = slack.links_of(user)
            if not links:
                self.stdout.write(f"{username} has no Slack link.")
            for identity in links:
                self.stdout.write(f"{username}: Slack user {slack.describe(identity)}")
            return
        try:
            identity = slack.link(user, user_id, options["team"].strip(), by=BY)
        except slack.LinkRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Linked Slack user {slack.describe(identity)} to {username}.")
        if not user.is_active:
            self.stderr.write(f"{username} is deactivated: their clicks are refused until active.")
