"""`python manage.py source add|list|remove`: manage the Lambda endpoints to watch."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from executions.models import Credentials, Source


class Command(BaseCommand):
    help = "Manage sources: the Lambda endpoints (AWS accounts and regions, or a sandbox)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add a source, or update the one with this name")
        add.add_argument("name")
        add.add_argument("--region", default="us-east-1")
        add.add_argument("--endpoint-url", default="", help="blank: AWS itself")
        add.add_argument("--profile", default="", help="credentials from this named profile")
        add.add_argument(
            "--unsigned",
            action="store_true",
            help="send requests unsigned (local endpoints such as the sandbox)",
        )
        add.add_argument("--role-arn", default="", help="assume this role through STS")
        add.add_argument(
            "--function",
            action="append",
            default=[],
            metavar="NAME[:QUALIFIER]",
            help="a function to watch (repeatable)",
        )
        add.add_argument(
            "--discover", action="store_true", help="watch every function with a DurableConfig"
        )
        add.add_argument("--list-interval", type=int, default=5, help="seconds")
        add.add_argument(
            "--execution-interval",
            type=int,
            default=3,
            help="seconds: how soon an execution that changed is checked again",
        )
        add.add_argument(
            "--quota-share",
            type=int,
            default=70,
            metavar="PERCENT",
            help="percent of each Lambda API quota the console may spend (default 70)",
        )
        add.add_argument(
            "--api-quota",
            action="append",
            default=[],
            metavar="API=RATE",
            help="the account's quota of one API in requests/s, where it was raised "
            "(e.g. GetDurableExecutionHistory=50; repeatable)",
        )
        add.add_argument(
            "--events-queue-url",
            default="",
            help="SQS queue of the account's status events (deploy/aws/status-events.yaml)",
        )
        add.add_argument(
            "--events-endpoint-url", default="", help="that queue's SQS endpoint (blank: AWS)"
        )
        add.add_argument(
            "--telemetry-queue-url",
            default="",
            help="SQS queue of the functions' DurableExecutionTelemetry records (at the same "
            "SQS endpoint; docs/DEPLOYMENT.md)",
        )
        add.add_argument(
            "--reconcile-interval",
            type=int,
            default=300,
            help="seconds: with a queue, how often executions are listed anyway",
        )
        add.add_argument("--disabled", action="store_true")
        sub.add_parser("list", help="list sources")
        remove = sub.add_parser("remove", help="remove a source and its mirrored executions")
        remove.add_argument("name")

    def handle(self, *args, **options):
        getattr(self, f"_{options['action']}")(options)

    def _add(self, options):
        if options["profile"] and options["unsigned"]:
            raise CommandError("--profile and --unsigned exclude each other.")
        if not options["function"] and not options["discover"]:
            raise CommandError("Name at least one --function, or pass --discover.")
        if options["unsigned"]:
            credentials = Credentials.NONE
        elif options["profile"]:
            credentials = Credentials.PROFILE
        else:
            credentials = Credentials.DEFAULT
        source = Source.objects.filter(name=options["name"]).first() or Source(name=options["name"])
        source.region = options["region"]
        source.endpoint_url = options["endpoint_url"]
        source.credentials = credentials
        source.profile = options["profile"]
        source.role_arn = options["role_arn"]
        source.function_names = options["function"]
        source.discover = options["discover"]
        source.list_interval_seconds = options["list_interval"]
        source.execution_interval_seconds = options["execution_interval"]
        source.quota_share = options["quota_share"]
        source.api_quotas = self._api_quotas(options["api_quota"])
        source.events_queue_url = options["events_queue_url"]
        source.events_endpoint_url = options["events_endpoint_url"]
        source.telemetry_queue_url = options["telemetry_queue_url"]
        source.reconcile_interval_seconds = options["reconcile_interval"]
        source.enabled = not options["disabled"]
        created = source.pk is None
        try:
            source.full_clean()
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise CommandError(f"Invalid source: {problems}") from exc
        source.save()
        self.stdout.write(f"{'Added' if created else 'Updated'} source {source.name}.")

    @staticmethod
    def _api_quotas(items: list[str]) -> dict[str, float]:
        quotas = {}
        for item in items:
            api, sep, rate = item.partition("=")
            try:
                quotas[api.strip()] = float(rate)
            except ValueError:
                sep = ""
            if not sep:
                raise CommandError(f"--api-quota {item!r}: write it as API=RATE.")
        return quotas

    def _list(self, options):
        sources = Source.objects.all()
        if not sources:
            self.stdout.write("No sources. Add one with: manage.py source add NAME --discover")
            return
        for s in sources:
            where = s.endpoint_url or f"AWS {s.region}"
            watch = ", ".join(s.function_names) if s.function_names else ""
            if s.discover:
                watch = f"{watch} + discovered" if watch else "discovered"
            state = "enabled" if s.enabled else "disabled"
            self.stdout.write(f"{s.name}\t{where}\t{s.get_credentials_display()}\t{watch}\t{state}")

    def _remove(self, options):
        deleted, _ = Source.objects.filter(name=options["name"]).delete()
        if not deleted:
            raise CommandError(f"No source named {options['name']}.")
        self.stdout.write(f"Removed source {options['name']}.")
