"""`python manage.py sandbox`: run the embedded sandbox backend in the foreground."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from sandbox import demo
from sandbox.runner import Sandbox


class Command(BaseCommand):
    help = (
        "Run the sandbox: AWS's local durable execution runner plus the sample functions, "
        "behind one Lambda-compatible endpoint. Ctrl-C stops it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.SANDBOX_PORT)
        parser.add_argument("--bind", default="127.0.0.1")
        parser.add_argument("--data-dir", default=str(settings.SANDBOX_DATA_DIR))
        parser.add_argument(
            "--demo", action="store_true", help="also start a realistic mix of executions"
        )
        parser.add_argument(
            "--no-throttle",
            action="store_true",
            help="serve every call: do not enforce Lambda's API quotas (on by default)",
        )

    def handle(self, *args, **options):
        sandbox = Sandbox(
            port=options["port"],
            data_dir=Path(options["data_dir"]),
            bind=options["bind"],
            throttle=not options["no_throttle"],
        )
        sandbox.start()
        try:
            self.stdout.write(
                f"Sandbox endpoint: {sandbox.endpoint_url} (region {sandbox.region}; "
                f"{'throttles like AWS' if sandbox.throttle else 'no API quotas'})"
            )
            if options["demo"]:
                arns = demo.seed(sandbox.endpoint_url)
                count = sum(len(v) for v in arns.values())
                self.stdout.write(f"Started {count} demo executions.")
            while all(p.poll() is None for p in sandbox.processes):
                time.sleep(0.5)
            self.stderr.write("A sandbox process exited; see the logs in the data folder.")
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
