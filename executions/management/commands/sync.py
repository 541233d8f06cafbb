"""`python manage.py sync --once` (one synchronous pass, no Celery) or `--watch`."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from executions import sync
from executions.models import Source


class Command(BaseCommand):
    help = "Mirror executions from the configured sources without Celery."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="only this source")
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--once", action="store_true", help="one full pass, then exit")
        mode.add_argument("--watch", action="store_true", help="keep polling until Ctrl-C")
        parser.add_argument("--interval", type=float, default=3.0, help="seconds, with --watch")

    def handle(self, *args, **options):
        source = None
        if options["source"]:
            source = Source.objects.filter(name=options["source"]).first()
            if source is None:
                raise CommandError(f"No source named {options['source']}.")
        elif not Source.objects.filter(enabled=True).exists():
            raise CommandError("No enabled sources. Add one with: manage.py source add ...")
        try:
            while True:
                summary = sync.sync_once(source)
                self.stdout.write(
                    f"Synced {summary['executions']} executions, {summary['events']} new events."
                )
                for error in summary["errors"]:
                    self.stderr.write(f"error: {error}")
                if options["once"]:
                    if summary["errors"]:
                        raise CommandError(f"{len(summary['errors'])} errors during sync.")
                    return
                time.sleep(options["interval"])
        except KeyboardInterrupt:
            return
