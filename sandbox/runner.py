"""Start and stop the sandbox: AWS's local durable execution runner plus our host.

    with Sandbox(port=9100, data_dir=Path("var/sandbox")) as sandbox:
        boto3.client("lambda", endpoint_url=sandbox.endpoint_url, ...)

The console sees one endpoint, `sandbox.endpoint_url` (the host); the runner listens on
a second, private port. Both run as child processes in their own process group so that
stopping the sandbox never leaves anything behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sandbox.catalog import REGION
from sandbox.functions import FUNCTIONS, plugins

SANDBOX_CREDENTIALS = {
    # The runner does not check signatures; boto3 in the handlers still wants keys.
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
    "AWS_SESSION_TOKEN": "sandbox",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxError(RuntimeError):
    pass


def stop_process_groups(
    processes: list[subprocess.Popen[bytes]], sig: int = signal.SIGTERM, timeout: float = 20
) -> None:
    """Stop processes started with start_new_session, then kill whatever is left in their
    groups (a Celery pool process forked while its worker was starting, say)."""
    for proc in processes:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in processes:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


class Sandbox:
    def __init__(
        self,
        port: int | None = None,
        runner_port: int | None = None,
        data_dir: Path | str = "var/sandbox",
        skip_time: bool = False,
        log_dir: Path | str | None = None,
        bind: str = "127.0.0.1",
        throttle: bool = True,
        quotas: dict[str, float] | None = None,
        events_queue_url: str = "",
        sqs_endpoint_url: str = "",
        telemetry_queue_url: str = "",
        otlp_traces_url: str = "",
    ) -> None:
        """`throttle`: enforce Lambda's API quotas (sandbox/quotas.py); `quotas` overrides
        the requests per second of some APIs. `events_queue_url`: publish EventBridge
        status events to this SQS queue at `sqs_endpoint_url` (sandbox/events.py).
        `telemetry_queue_url`: the sample functions run with the Durable Execution
        Telemetry plugin sending its records to this queue at `sqs_endpoint_url`
        (sandbox/functions/plugins.py); blank: they run without it. `otlp_traces_url`:
        they also run with the SDK's OpenTelemetry plugin, exporting spans there."""
        self.port = port or free_port()
        self.runner_port = runner_port or free_port()
        self.bind = bind
        self.data_dir = Path(data_dir)
        self.skip_time = skip_time
        self.log_dir = Path(log_dir) if log_dir else self.data_dir
        self.throttle = throttle
        self.quotas = dict(quotas or {})
        self.events_queue_url = events_queue_url
        self.sqs_endpoint_url = sqs_endpoint_url
        self.telemetry_queue_url = telemetry_queue_url
        self.otlp_traces_url = otlp_traces_url
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runner_url(self) -> str:
        return f"http://127.0.0.1:{self.runner_port}"

    @property
    def region(self) -> str:
        return REGION

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(SANDBOX_CREDENTIALS)
        env["AWS_DEFAULT_REGION"] = REGION
        env["AWS_REGION"] = REGION
        # The handlers' SDK checkpoints straight at the runner.
        env["AWS_ENDPOINT_URL_LAMBDA"] = self.runner_url
        env["PYTHONUNBUFFERED"] = "1"
        # The sample functions' telemetry plugin (sandbox/functions/plugins.py): only the
        # host runs handlers, and it reads these when it imports them.
        env.pop(plugins.QUEUE_ENV, None)
        env.pop(plugins.SQS_ENDPOINT_ENV, None)
        env.pop(plugins.OTLP_ENV, None)
        if self.otlp_traces_url:
            env[plugins.OTLP_ENV] = self.otlp_traces_url
        if self.telemetry_queue_url:
            env[plugins.QUEUE_ENV] = self.telemetry_queue_url
            env[plugins.SQS_ENDPOINT_ENV] = self.sqs_endpoint_url
        repo = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
        return env

    def start(self, timeout: float = 30) -> Sandbox:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        function_configs = {
            f.name: (
                {
                    "DurableConfig": {
                        "ExecutionTimeout": f.execution_timeout,
                        "RetentionPeriodInDays": f.retention_days,
                    }
                }
                if f.durable
                else {}
            )
            for f in FUNCTIONS.values()
        }
        runner_cmd = [
            sys.executable,
            "-m",
            "sandbox.runner_main",
            "start-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.runner_port),
            "--lambda-endpoint",
            self.endpoint_url,
            "--local-runner-endpoint",
            self.runner_url,
            "--local-runner-region",
            REGION,
            "--store-type",
            "sqlite",
            "--store-path",
            str(self.data_dir / "executions.sqlite3"),
            "--execution-timeout",
            "3600",
            "--log-level",
            os.environ.get("SANDBOX_RUNNER_LOG_LEVEL", "WARNING"),
            "--function-configs",
            json.dumps(function_configs),
            "--skip-time" if self.skip_time else "--no-skip-time",
        ]
        host_cmd = [
            sys.executable,
            "-m",
            "sandbox.host",
            "--bind",
            self.bind,
            "--port",
            str(self.port),
            "--runner-url",
            self.runner_url,
            *([] if self.throttle else ["--no-throttle"]),
            *[f"--quota={api}={rate}" for api, rate in self.quotas.items()],
            *(
                [
                    "--events-queue-url",
                    self.events_queue_url,
                    "--sqs-endpoint-url",
                    self.sqs_endpoint_url,
                ]
                if self.events_queue_url
                else []
            ),
        ]
        env = self._env()
        try:
            for name, cmd in (("runner", runner_cmd), ("host", host_cmd)):
                log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115
                self.processes.append(
                    subprocess.Popen(
                        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
                log.close()
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = [f"{self.runner_url}/health", f"{self.endpoint_url}/health"]
        while pending:
            for proc in self.processes:
                if proc.poll() is not None:
                    raise SandboxError(
                        f"sandbox process {proc.args[0]} exited with {proc.returncode}; "
                        f"see {self.log_dir}/runner.log and host.log"
                    )
            try:
                with urllib.request.urlopen(pending[0], timeout=1) as response:
                    if response.status == 200:
                        pending.pop(0)
                        continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SandboxError(f"sandbox did not answer at {pending[0]} within {timeout} s")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process_groups(self.processes, timeout=10)
        self.processes.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
