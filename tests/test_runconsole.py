"""`make run`'s command brings up the whole console: sandbox with demo data, worker, web."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from io import BytesIO, StringIO
from pathlib import Path

import pytest

from sandbox.client import lambda_client, wait_for
from sandbox.management.commands import runconsole
from sandbox.runner import free_port

REPO = Path(__file__).resolve().parent.parent
DEMO_NAMES = {
    "order-processor": {"order-101", "order-invalid"},
    "durable-function-example": {"batch-waiting-approval", "batch-sleeping"},
    "fraud-detection": {"txn-2001-low", "txn-2005-high"},
    "coffee-order": {"coffee-1-waiting", "coffee-3-served"},
}


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return 0


def _rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        return db.execute(sql).fetchall()


def _ready_block(output: str) -> list[str]:
    """The lines of the block between the two rules of `=` that runconsole prints."""
    match = re.search(r"^=+\n(.*?)^=+$", output, re.MULTILINE | re.DOTALL)
    assert match, f"no ready block in:\n{output[-3000:]}"
    return [line.strip() for line in match.group(1).splitlines() if line.strip()]


def test_runconsole_serves_the_login_page_and_a_sandbox_with_demo_executions(tmp_path, local_sqs):
    web, sandbox_port = free_port(), free_port()
    console = f"runconsole-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'console.sqlite3'}",
        "SANDBOX_PORT": str(sandbox_port),
        "SANDBOX_DATA_DIR": str(tmp_path / "sandbox"),
        "CONSOLE_ADDR": f"127.0.0.1:{web}",
        "CONSOLE_ID": console,
        "DURABLE_CONSOLE_ADMIN_PASSWORD": "a-long-test-password",
        "SQS_ENDPOINT_URL": local_sqs,
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    worker_log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runconsole", "--worker-log", str(worker_log)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    output = tmp_path / "run.log"
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{web}/login/") == 200, 60, what="login page")
        # Set-up ends with one block: the address to open, the user, the password, and
        # how to stop; everything the set-up printed comes before it.
        wait_for(lambda: "Stop:" in output.read_text(), 60, what="the ready block")
        text = output.read_text()
        assert _ready_block(text) == [
            "Durable Console is running.",
            f"Open:      http://127.0.0.1:{web}/",
            "User:      admin",
            "Password:  a-long-test-password",
            "Stop:      press Ctrl+C",
        ]
        assert text.index("Sandbox endpoint:") < text.index("Durable Console is running.")
        # What the worker says while it starts (as root, Celery's warning about that) is in
        # its log, named in one line before the block; none of it comes after the block.
        before, after = text.split("Durable Console is running.", 1)
        assert "SecurityWarning" not in after and "superuser" not in after
        if os.geteuid() == 0:
            assert "SecurityWarning" in worker_log.read_text()
            (note,) = [line for line in before.splitlines() if "superuser" in line]
            assert note.startswith("The worker's start-up messages (")
            assert f"are in {worker_log}: SecurityWarning: You're running the worker" in note
            assert "platforms.py" not in before and "--uid option" not in before
        # Neither runserver's banner nor Celery's is printed: the block is the news.
        assert "Starting development server" not in text
        assert "[queues]" not in text
        client = lambda_client(f"http://127.0.0.1:{sandbox_port}")
        for function, names in DEMO_NAMES.items():
            listed = client.list_durable_executions_by_function(FunctionName=function)
            assert names <= {e["DurableExecutionName"] for e in listed["DurableExecutions"]}
        # The demo source reads the sandbox's status events from the local SQS server,
        # and the worker mirrors the demo within the sandbox's API quotas.
        database = tmp_path / "console.sqlite3"
        (queue,) = _rows(database, "SELECT events_queue_url FROM executions_source")[0]
        assert queue.endswith(f"/durable-console-sandbox-{console}")
        # The sample functions send their telemetry records to a second queue, which the
        # worker reads (executions/telemetry.py): the demo's operations arrive through it.
        (telemetry_queue,) = _rows(database, "SELECT telemetry_queue_url FROM executions_source")[0]
        assert telemetry_queue.endswith(f"/durable-console-sandbox-telemetry-{console}")
        wait_for(
            lambda: (
                _rows(
                    database,
                    "SELECT count(*) FROM executions_execution WHERE telemetry_at IS NOT NULL",
                )[0][0]
                >= 1
            ),
            90,
            interval=1,
            what="telemetry records applied",
        )
        wait_for(
            lambda: (
                _rows(
                    database,
                    "SELECT count(*) FROM executions_execution WHERE history_complete = 1",
                )[0][0]
                >= 3
            ),
            90,
            interval=1,
            what="demo executions mirrored to their end",
        )
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        log.close()
    # Ctrl-C stopped everything it started: nothing answers on its ports any more (given
    # a moment for the last process's sockets to close; 5 s is a deadline, not a wait).
    console_url = f"http://127.0.0.1:{web}/login/"
    sandbox_url = f"http://127.0.0.1:{sandbox_port}/health"
    deadline = time.monotonic() + 5
    while (_get(console_url) or _get(sandbox_url)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _get(console_url) == 0
    assert _get(sandbox_url) == 0, output.read_text()
    # Stopping the worker under running tasks is expected, not an error to show.
    stopped = output.read_text().split("Stopping…", 1)[1]
    assert "WorkerLostError" not in stopped and "Traceback" not in stopped, stopped


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000/"),
        ("8001", "http://127.0.0.1:8001/"),
        ("0.0.0.0:8002", "http://127.0.0.1:8002/"),
        ("[::]:8003", "http://127.0.0.1:8003/"),
        ("[::1]:8004", "http://[::1]:8004/"),
        ("console.local:8005", "http://console.local:8005/"),
    ],
)
def test_the_ready_block_names_an_address_a_browser_can_open(addr, url):
    assert runconsole.console_url(addr) == url


def _admin_password(monkeypatch, tmp_path, env_password: str | None = None) -> str:
    monkeypatch.setattr(runconsole, "ADMIN_PASSWORD_FILE", tmp_path / "var" / "admin-password")
    if env_password is None:
        monkeypatch.delenv("DURABLE_CONSOLE_ADMIN_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("DURABLE_CONSOLE_ADMIN_PASSWORD", env_password)
    return runconsole.Command(stdout=StringIO())._ensure_admin()


@pytest.mark.django_db
def test_a_generated_admin_password_is_kept_privately_and_shown_at_every_run(
    monkeypatch, tmp_path, django_user_model
):
    first = _admin_password(monkeypatch, tmp_path)

    password, note = first.split(maxsplit=1)
    kept = tmp_path / "var" / "admin-password"
    assert django_user_model.objects.get(username="admin").check_password(password)
    assert kept.read_text().strip() == password
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert note == f"(kept in {kept})"
    # The next run shows the same password again, not a new one.
    assert _admin_password(monkeypatch, tmp_path) == first


@pytest.mark.django_db
def test_an_admin_password_changed_since_is_not_shown_and_the_block_says_how_to_reset_it(
    monkeypatch, tmp_path, django_user_model
):
    _admin_password(monkeypatch, tmp_path)
    admin = django_user_model.objects.get(username="admin")
    admin.set_password("changed in the admin")
    admin.save()

    shown = _admin_password(monkeypatch, tmp_path)

    assert "DURABLE_CONSOLE_ADMIN_PASSWORD" in shown
    assert (tmp_path / "var" / "admin-password").read_text().strip() not in shown


@pytest.mark.django_db
def test_the_admin_password_from_the_environment_is_set_and_shown(
    monkeypatch, tmp_path, django_user_model
):
    _admin_password(monkeypatch, tmp_path)

    shown = _admin_password(monkeypatch, tmp_path, env_password="a-chosen-password-1")

    assert shown == "a-chosen-password-1"
    assert django_user_model.objects.get(username="admin").check_password(shown)


def test_the_worker_s_start_up_messages_are_summed_up_in_one_line_naming_its_log(tmp_path):
    output = runconsole.WorkerOutput(tmp_path / "worker.log", threading.Event())
    warning = (
        "/venv/lib/python3.11/site-packages/celery/platforms.py:893: SecurityWarning: You're "
        "running the worker with superuser privileges: this is\nabsolutely not recommended!\n\n"
        "Please specify a different user using the --uid option.\n\n"
    )
    output.forward(BytesIO(warning.encode()))

    assert (tmp_path / "worker.log").read_text() == warning
    assert output.summary() == (
        f"The worker's start-up messages (3 lines) are in {tmp_path / 'worker.log'}: "
        "SecurityWarning: You're running the worker with superuser privileges: this is "
        "absolutely not recommended! Please specify a different user using the --uid …"
    )


def test_the_ready_block_is_one_block_with_the_address_the_user_and_the_password():
    out = StringIO()
    runconsole.Command(stdout=out)._print_ready("http://127.0.0.1:8000/", "s3cret-pass")

    assert _ready_block(out.getvalue()) == [
        "Durable Console is running.",
        "Open:      http://127.0.0.1:8000/",
        "User:      admin",
        "Password:  s3cret-pass",
        "Stop:      press Ctrl+C",
    ]
