"""`make run`'s command brings up the whole console: sandbox with demo data, worker, web."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sandbox.client import lambda_client, wait_for
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


def test_runconsole_serves_the_login_page_and_a_sandbox_with_demo_executions(tmp_path):
    web, sandbox_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'console.sqlite3'}",
        "SANDBOX_PORT": str(sandbox_port),
        "SANDBOX_DATA_DIR": str(tmp_path / "sandbox"),
        "CONSOLE_ADDR": f"127.0.0.1:{web}",
        "DURABLE_CONSOLE_ADMIN_PASSWORD": "a-long-test-password",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runconsole"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{web}/login/") == 200, 60, what="login page")
        client = lambda_client(f"http://127.0.0.1:{sandbox_port}")
        for function, names in DEMO_NAMES.items():
            listed = client.list_durable_executions_by_function(FunctionName=function)
            assert names <= {e["DurableExecutionName"] for e in listed["DurableExecutions"]}
        # The demo source reads the sandbox's status events from the local SQS server,
        # and the worker mirrors the demo within the sandbox's API quotas.
        database = tmp_path / "console.sqlite3"
        (queue,) = _rows(database, "SELECT events_queue_url FROM executions_source")[0]
        assert queue.endswith("/durable-console-sandbox")
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
    # Ctrl-C stopped everything it started: nothing answers on its ports any more.
    time.sleep(0.5)
    assert _get(f"http://127.0.0.1:{web}/login/") == 0
    assert _get(f"http://127.0.0.1:{sandbox_port}/health") == 0, (tmp_path / "run.log").read_text()
