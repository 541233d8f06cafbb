"""The console served by gunicorn with several worker processes, as in production
(docs/DEPLOYMENT.md), on the test database: for attacks that need real parallel requests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sandbox.runner import free_port, stop_process_groups
from tests.conftest import REPO, database_url


class Gunicorn:
    def __init__(self, log_path: Path, workers: int = 4, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.workers = workers
        self.env = env
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DATABASE_URL": database_url(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            **self.env,
        }
        command = [
            sys.executable, "-m", "gunicorn", "console.wsgi",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
            "--threads", "4", "--timeout", "60",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._wait_until_it_answers()
        return self

    def _wait_until_it_answers(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"gunicorn did not answer: {self.log_path.read_text()[-2000:]}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            stop_process_groups([self.proc])
