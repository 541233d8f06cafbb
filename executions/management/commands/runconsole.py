"""`python manage.py runconsole` (what `make run` runs): the whole console on one machine.

Starts the sandbox (and its demo executions the first time), registers it as a source,
makes sure an admin user exists, then runs a Celery worker with beat and the web server.
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from executions.models import Credentials, Source
from sandbox import demo, sqs
from sandbox.client import lambda_client
from sandbox.runner import Sandbox, stop_process_groups

REPO = Path(settings.BASE_DIR)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the sandbox, a Celery worker with beat, and the web server. Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("CONSOLE_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--no-sandbox", action="store_true", help="do not start the sandbox")
        parser.add_argument("--no-demo", action="store_true", help="no demo executions")

    def handle(self, *args, **options):
        # Ctrl-C and a plain `kill` both stop everything, even when this process was
        # started in the background (where SIGINT arrives ignored).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        self._ensure_admin()
        sandbox = None
        children: list[subprocess.Popen[bytes]] = []
        try:
            if not options["no_sandbox"]:
                sandbox = self._start_sandbox(seed=not options["no_demo"])
            python = sys.executable
            children.append(
                subprocess.Popen(
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "console",
                        "worker",
                        "--beat",
                        "--loglevel",
                        "WARNING",
                        "--concurrency",
                        "2",
                    ],  # fmt: skip
                    cwd=REPO,
                    start_new_session=True,
                )
            )
            children.append(
                subprocess.Popen(
                    [python, "manage.py", "runserver", options["addr"], "--noreload"],
                    cwd=REPO,
                    start_new_session=True,
                )
            )
            self.stdout.write(
                self.style.SUCCESS(f"Durable Console: http://{options['addr']}/ (Ctrl-C stops)")
            )
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            self.stderr.write("A console process exited; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            # Whatever is left in their process groups goes too.
            stop_process_groups(children, timeout=15)
            if sandbox:
                sandbox.stop()

    def _ensure_admin(self) -> None:
        User = get_user_model()
        password = os.environ.get("DURABLE_CONSOLE_ADMIN_PASSWORD", "")
        user = User.objects.filter(username="admin").first()
        if user is None:
            generated = not password
            password = password or secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "", password)
            if generated:
                self.stdout.write(
                    self.style.WARNING(
                        f"Created user 'admin' with password {password} (shown only now; "
                        "set DURABLE_CONSOLE_ADMIN_PASSWORD to choose it)."
                    )
                )
            else:
                self.stdout.write("Created user 'admin' (password from the environment).")
        elif password and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write("Reset the 'admin' password from DURABLE_CONSOLE_ADMIN_PASSWORD.")

    def _start_sandbox(self, seed: bool) -> Sandbox:
        # Status events go to a queue of the local SQS server (make run starts one).
        queue_url = ""
        if sqs.answers(settings.SQS_ENDPOINT_URL):
            queue_url = sqs.ensure_queue(settings.SQS_ENDPOINT_URL, "durable-console-sandbox")
        else:
            self.stderr.write(
                f"No SQS server answers at {settings.SQS_ENDPOINT_URL}: the sandbox's status "
                "events are off, and executions are found by listing every few seconds."
            )
        sandbox = Sandbox(
            port=settings.SANDBOX_PORT,
            data_dir=settings.SANDBOX_DATA_DIR,
            events_queue_url=queue_url,
            sqs_endpoint_url=settings.SQS_ENDPOINT_URL if queue_url else "",
        )
        sandbox.start()
        self.stdout.write(
            f"Sandbox endpoint: {sandbox.endpoint_url} (throttles like AWS"
            f"{'; status events to ' + queue_url if queue_url else ''})"
        )
        Source.objects.update_or_create(
            name="sandbox",
            defaults={
                "region": sandbox.region,
                "endpoint_url": sandbox.endpoint_url,
                "credentials": Credentials.NONE,
                "discover": True,
                "enabled": True,
                "events_queue_url": queue_url,
                "events_endpoint_url": settings.SQS_ENDPOINT_URL if queue_url else "",
            },
        )
        client = lambda_client(sandbox.endpoint_url)
        listed = client.list_durable_executions_by_function(FunctionName="order-processor")
        if seed and not listed.get("DurableExecutions"):
            arns = demo.seed(sandbox.endpoint_url)
            self.stdout.write(f"Started {sum(map(len, arns.values()))} demo executions.")
        return sandbox
