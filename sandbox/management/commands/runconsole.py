"""`python manage.py runconsole` (what `make run` runs): the whole console on one machine.

Starts the sandbox (and its demo executions the first time), registers it as a source,
makes sure an admin user exists, then runs a Celery worker with beat and the web server.
When both answer it prints one block: the address to open, the user, the password and
how to stop; that block is the last thing the start-up prints. What the worker says while
it starts (Celery's warning about running as root, for one) goes to its log, named in one
line before the block; what it says later is shown as it comes. Ctrl-C stops everything
it started.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from console.celery import WORKER_FLAGS
from executions.models import Credentials, Source
from sandbox import demo, sqs
from sandbox.client import lambda_client
from sandbox.runner import Sandbox, stop_process_groups

REPO = Path(settings.BASE_DIR)
ADMIN = "admin"
# A generated admin password is kept here (mode 600, like var/secret_key) so that every
# `make run` can show it, not only the first.
ADMIN_PASSWORD_FILE = Path(settings.VAR_DIR) / "admin-password"
READY_SECONDS = 60
# Everything the worker prints, from the start of each run.
WORKER_LOG = Path(settings.VAR_DIR) / "worker.log"


def console_url(addr: str) -> str:
    """The address to open for runserver's `addr` ("8000", "0.0.0.0:8000", "[::]:8000")."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def _answers(url: str) -> bool:
    """Does a web server answer at `url`, whatever it says?"""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the sandbox, a Celery worker with beat, and the web server. Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("CONSOLE_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--no-sandbox", action="store_true", help="do not start the sandbox")
        parser.add_argument("--no-demo", action="store_true", help="no demo executions")
        parser.add_argument(
            "--worker-log",
            default=str(WORKER_LOG),
            help="where the worker's output is written (its start-up messages only there)",
        )

    def handle(self, *args, **options):
        # Ctrl-C and a plain `kill` both stop everything, even when this process was
        # started in the background (where SIGINT arrives ignored).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        password = self._ensure_admin()
        sandbox = None
        children: list[subprocess.Popen[bytes]] = []
        url = console_url(options["addr"])
        worker = f"runconsole-{os.getpid()}@{socket.gethostname()}"
        stopping = threading.Event()
        try:
            if not options["no_sandbox"]:
                sandbox = self._start_sandbox(seed=not options["no_demo"])
            python = sys.executable
            celery = ["-m", "celery", "-A", "console", "--quiet", "worker", "--beat", *WORKER_FLAGS]
            flags = ["--hostname", worker, "--loglevel", "WARNING", "--concurrency", "2"]
            children.append(
                subprocess.Popen(
                    [python, *celery, *flags],
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            worker_output = WorkerOutput(Path(options["worker_log"]), stopping)
            threading.Thread(
                target=worker_output.forward, args=(children[-1].stdout,), daemon=True
            ).start()
            # runserver's banner is left out (the block below says what to open); its
            # errors and failed requests still show, and every request with
            # ACCESS_LOG_LEVEL=INFO.
            children.append(
                subprocess.Popen(
                    [python, "manage.py", "runserver", options["addr"], "--noreload"],
                    cwd=REPO,
                    env={"ACCESS_LOG_LEVEL": "WARNING", **os.environ},
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            if self._wait_until_ready(children, url, worker):
                # Under the output's lock: nothing the worker says can come between the
                # note of its start-up messages and the block, which ends the start-up.
                with worker_output.lock:
                    if worker_output.held:
                        self.stdout.write(self.style.WARNING(worker_output.summary()))
                    self._print_ready(url, password)
                    worker_output.live = True
            else:
                # It did not start: what it said is the reason, shown whole.
                with worker_output.lock:
                    sys.stderr.write("".join(worker_output.held))
                    worker_output.live = True
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            self.stderr.write("A console process exited; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            stopping.set()
            # Whatever is left in their process groups goes too.
            stop_process_groups(children, timeout=15)
            if sandbox:
                sandbox.stop()

    def _ensure_admin(self) -> str:
        """Make sure the admin user exists; returns its password as the block shows it."""
        User = get_user_model()
        password = os.environ.get("DURABLE_CONSOLE_ADMIN_PASSWORD", "")
        user = User.objects.filter(username=ADMIN).first()
        if user is None:
            if password:
                User.objects.create_superuser(ADMIN, "", password)
                return password
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(ADMIN, "", password)
            _keep_private(ADMIN_PASSWORD_FILE, password)
            return f"{password}  (kept in {_shown(ADMIN_PASSWORD_FILE)})"
        if password:
            if not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            return password
        try:
            kept = ADMIN_PASSWORD_FILE.read_text().strip()
        except FileNotFoundError:
            kept = ""
        if kept and user.check_password(kept):
            return f"{kept}  (kept in {_shown(ADMIN_PASSWORD_FILE)})"
        return (
            "the one chosen for it before (not kept here); "
            "DURABLE_CONSOLE_ADMIN_PASSWORD=... make run sets a new one"
        )

    def _wait_until_ready(
        self, children: list[subprocess.Popen[bytes]], url: str, worker: str
    ) -> bool:
        """Wait until the web server and the worker answer; False if one of them exited."""
        from console.celery import app

        web_up = worker_up = False
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if any(child.poll() is not None for child in children):
                return False
            web_up = web_up or _answers(f"{url}healthz")
            worker_up = worker_up or _pong(app, worker)
            if web_up and worker_up:
                return True
            time.sleep(0.3)
        waiting = [name for name, up in (("web server", web_up), ("worker", worker_up)) if not up]
        self.stderr.write(
            f"The {' and the '.join(waiting)} did not answer within {READY_SECONDS} s; "
            "still waiting for them."
        )
        return True

    def _print_ready(self, url: str, password: str) -> None:
        rule = "=" * 64
        lines = [
            "",
            rule,
            "  Durable Console is running.",
            "",
            f"  Open:      {url}",
            f"  User:      {ADMIN}",
            f"  Password:  {password}",
            "  Stop:      press Ctrl+C",
            rule,
            "",
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
        self.stdout.flush()

    def _start_sandbox(self, seed: bool) -> Sandbox:
        # Status events go to a queue of the local SQS server (make run starts one).
        queue_url = ""
        if sqs.answers(settings.SQS_ENDPOINT_URL):
            # Named after the console, so that another console's sandbox on the same SQS
            # server does not read this one's events.
            queue_url = sqs.ensure_queue(
                settings.SQS_ENDPOINT_URL, f"durable-console-sandbox-{settings.CONSOLE_ID}"
            )
        else:
            self.stderr.write(
                f"No SQS server answers at {settings.SQS_ENDPOINT_URL}: the sandbox's status "
                "events are off, and executions are found by listing every few seconds."
            )
        # The sample functions' telemetry records (the SDK's telemetry plugin, on-change and
        # full tree) go to a second queue, unless SANDBOX_TELEMETRY=off runs them without it.
        telemetry_queue_url = ""
        telemetry = os.environ.get("SANDBOX_TELEMETRY", "on").strip().lower()
        if queue_url and telemetry not in ("0", "off", "no", "false"):
            telemetry_queue_url = sqs.ensure_queue(
                settings.SQS_ENDPOINT_URL,
                f"durable-console-sandbox-telemetry-{settings.CONSOLE_ID}",
            )
        sandbox = Sandbox(
            port=settings.SANDBOX_PORT,
            data_dir=settings.SANDBOX_DATA_DIR,
            events_queue_url=queue_url,
            sqs_endpoint_url=settings.SQS_ENDPOINT_URL if queue_url else "",
            telemetry_queue_url=telemetry_queue_url,
        )
        sandbox.start()
        self.stdout.write(
            f"Sandbox endpoint: {sandbox.endpoint_url} (throttles like AWS"
            f"{'; status events to ' + queue_url if queue_url else ''}"
            f"{'; telemetry records to ' + telemetry_queue_url if telemetry_queue_url else ''})"
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
                "telemetry_queue_url": telemetry_queue_url,
                "events_endpoint_url": settings.SQS_ENDPOINT_URL if queue_url else "",
            },
        )
        client = lambda_client(sandbox.endpoint_url)
        listed = client.list_durable_executions_by_function(FunctionName="order-processor")
        if seed and not listed.get("DurableExecutions"):
            arns = demo.seed(sandbox.endpoint_url)
            self.stdout.write(f"Started {sum(map(len, arns.values()))} demo executions.")
        return sandbox


class WorkerOutput:
    """The worker's output, read line by line from its pipe. All of it goes to its log;
    until the console is ready (`live`) it is held there, so that the ready block ends the
    start-up, and afterwards it is shown as it comes, until the console is stopping (then
    the worker's complaints about its pool being stopped under running tasks stay unseen).
    """

    def __init__(self, log_path: Path, stopping: threading.Event) -> None:
        self.log_path = log_path
        self.stopping = stopping
        self.lock = threading.Lock()
        self.held: list[str] = []
        self.live = False

    def forward(self, stream) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w", encoding="utf-8") as log:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace")
                with self.lock:
                    log.write(line)
                    log.flush()
                    if not self.live:
                        self.held.append(line)
                    elif not self.stopping.is_set():
                        sys.stderr.write(line)
                        sys.stderr.flush()

    def summary(self, limit: int = 160) -> str:
        """One line about the held start-up messages: their gist and where they are."""
        text = " ".join(line.strip() for line in self.held if line.strip())
        # A Python warning starts with the file and line that raised it.
        text = re.sub(r"^\S+\.py:\d+: ", "", text)
        if len(text) > limit:
            text = text[:limit].rsplit(" ", 1)[0] + " …"
        lines = sum(1 for line in self.held if line.strip())
        return (
            f"The worker's start-up messages ({lines} line{'s' if lines != 1 else ''}) are "
            f"in {_shown(self.log_path)}: {text}"
        )


def _pong(app, worker: str) -> bool:
    """Does the worker answer a ping (it is connected and consuming)?"""
    try:
        return bool(app.control.ping(destination=[worker], timeout=0.5))
    except Exception:  # the broker is not there yet; the worker cannot be either
        return False


def _keep_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)


def _shown(path: Path) -> str:
    """`path` relative to the checkout where it is inside it."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)
