"""`python manage.py notify add-rule|list|test|remove|scan`: notification rules for
scripted set-up.

    manage.py notify add-rule approvers --email ops@example.com --callback '*approval*'
    manage.py notify add-rule slack --webhook https://hooks.slack.com/services/... --slack \\
        --events callback,deadline,failed --deadline-minutes 15
    manage.py notify test approvers
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from executions.models import Source
from notify import deliver, scan
from notify.models import Delivery, Rule, WebhookFormat

EVENTS = {"callback": "on_callback", "deadline": "on_deadline", "failed": "on_failure"}


class Command(BaseCommand):
    help = "Manage notification rules: who is told about waiting callbacks and failures."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add-rule", help="add a rule, or update the one with this name")
        add.add_argument("name")
        add.add_argument("--email", action="append", default=[], help="an address (repeatable)")
        add.add_argument("--webhook", default="", help="a URL to POST each message to")
        add.add_argument(
            "--slack", action="store_true", help='post Slack\'s {"text": ...} body to the webhook'
        )
        add.add_argument("--source", default="", help="only this source (by name)")
        add.add_argument("--function", default="", help="function name pattern, e.g. orders-*")
        add.add_argument("--callback", default="", help="callback name pattern, e.g. *approval*")
        add.add_argument(
            "--events",
            default="callback,deadline",
            help="comma-separated: callback, deadline, failed (default callback,deadline)",
        )
        add.add_argument("--deadline-minutes", type=int, default=30)
        add.add_argument("--disabled", action="store_true")
        sub.add_parser("list", help="list the rules")
        test = sub.add_parser("test", help="send a test message to each of a rule's channels")
        test.add_argument("name")
        remove = sub.add_parser("remove", help="remove a rule and its delivery log")
        remove.add_argument("name")
        sub.add_parser("scan", help="scan the mirror once and send what is due (as beat does)")

    def handle(self, *args, **options):
        getattr(self, "_" + options["action"].replace("-", "_"))(options)

    def _rule(self, name: str) -> Rule:
        rule = Rule.objects.filter(name=name).first()
        if rule is None:
            raise CommandError(f"No rule named {name!r}; `manage.py notify list` shows them.")
        return rule

    def _add_rule(self, options: dict) -> None:
        events = [e.strip() for e in options["events"].split(",") if e.strip()]
        unknown = [e for e in events if e not in EVENTS]
        if unknown:
            raise CommandError(f"Unknown event {unknown[0]!r}: use {', '.join(EVENTS)}.")
        source = None
        if options["source"]:
            source = Source.objects.filter(name=options["source"]).first()
            if source is None:
                raise CommandError(f"No source named {options['source']!r}.")
        rule = Rule.objects.filter(name=options["name"]).first() or Rule(name=options["name"])
        rule.source = source
        rule.function_pattern = options["function"]
        rule.callback_pattern = options["callback"]
        for event, field in EVENTS.items():
            setattr(rule, field, event in events)
        rule.deadline_minutes = options["deadline_minutes"]
        rule.email_to = ", ".join(options["email"])
        rule.webhook_url = options["webhook"]
        rule.webhook_format = WebhookFormat.SLACK if options["slack"] else WebhookFormat.JSON
        rule.enabled = not options["disabled"]
        try:
            rule.full_clean()
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise CommandError(f"Rule not saved: {problems}") from exc
        created = rule.pk is None
        rule.save()
        self.stdout.write(f"{'Added' if created else 'Updated'} rule {rule.name}.")
        if rule.webhook_url:
            self.stdout.write(f"Webhook signing secret: {rule.secret}")

    def _list(self, options: dict) -> None:
        for rule in Rule.objects.select_related("source"):
            where = ", ".join([*rule.recipients, *([rule.webhook_url] if rule.webhook_url else [])])
            self.stdout.write(
                f"{rule.name}\t{'on' if rule.enabled else 'off'}\t{','.join(rule.events)}\t{where}"
            )

    def _test(self, options: dict) -> None:
        rule = self._rule(options["name"])
        ids = scan.promise_test(rule)
        if not ids:
            raise CommandError(f"The rule {rule.name} has nowhere to send.")
        for delivery_id in ids:
            deliver.attempt(delivery_id)
        for delivery in Delivery.objects.filter(pk__in=ids):
            self.stdout.write(
                f"{delivery.channel}: {delivery.status}"
                + (f" ({delivery.last_error})" if delivery.last_error else "")
            )

    def _remove(self, options: dict) -> None:
        self._rule(options["name"]).delete()
        self.stdout.write(f"Removed rule {options['name']}.")

    def _scan(self, options: dict) -> None:
        created = scan.scan()
        counts = deliver.send_due()
        self.stdout.write(f"{len(created)} new deliveries; sent now: {counts or 'none'}")
