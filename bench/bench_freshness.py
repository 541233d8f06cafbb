"""Freshness within Lambda's API quotas: the polling of a baseline revision against
this checkout's scheduler, on one throttling sandbox, in one run (a benchmark, not a test).

    .venv/bin/python -m bench.bench_freshness [--executions 1000] [--watched 10]
        [--warmup 120] [--seconds 180] [--baseline bc58e99]
        [--modes baseline,current,current-sqs] [--telemetry]

1. Starts a sandbox that throttles like AWS (15 history and 15 list reads/s, 30
   GetDurableExecution/s per account) and N `approval-rounds` executions that wait for
   callback after callback, plus a few that end on their first answer.
2. For each mode, from an empty mirror: a fresh SQLite database and Redis database, the
   mode's code (`baseline` from a git worktree of --baseline, `current` from this
   checkout; `current-sqs` adds the queue of the sandbox's status events to the source,
   so listing becomes a reconciliation; `current-telemetry`, added by --telemetry, also
   reads the sample functions' own telemetry records, which the sandbox's functions then
   send to a second queue, so the history is read only as a reconciliation; its
   measurement starts once the console has caught up with the records queued since the
   fleet started), its
   `migrate` and `source add`, two Celery
   workers (4 processes each, one with beat) and its web server. After --warmup
   seconds, for --seconds:
   - 10 executions are watched: a signed-in HTTP client polls each one's page header
     every 2 s, as an open page does;
   - a driver answers callbacks at random (about 3 a second among the unwatched, one
     every few seconds for each watched one, and the enders' only callback), reading
     the history with its own credentials (its own quota) to find each callback;
   - freshness = time from the answer until the mirror shows that callback answered
     (or the execution ended), read straight from the mode's database every 100 ms.
3. Reports, per mode: calls/s per API against the quota and the throttles the sandbox
   answered (counted at the sandbox for the console's account), freshness p50/p95 for
   watched, unwatched and terminal transitions, and how long ago each running execution
   was last checked (sampled every 10 s).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import git_revision
from bench.freshness_results import READS, Change, ModeResult, _parse_time, report
from console.celery import WORKER_FLAGS
from sandbox.client import lambda_client, pending_callbacks, quotas, start, wait_for
from sandbox.runner import Sandbox, free_port, stop_process_groups
from tests.browserless import Browserless

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-not-secret"
# A telemetry queue with fewer messages waiting than this has caught up.
CAUGHT_UP = 30
# The headers of the page's own header poll (htmx, from the console's own origin).
HTMX_POLL = {"HX-Request": "true", "Sec-Fetch-Site": "same-origin"}


class Mirror:
    """Read-only looks into a mode's SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30) as db:
            return db.execute(sql, args).fetchall()

    def _matching(self, table: str, column: str, values: list[str], where: str) -> set[str]:
        if not values:
            return set()
        marks = ",".join("?" * len(values))
        sql = f"SELECT {column} FROM {table} WHERE {column} IN ({marks}) AND {where}"
        return {row[0] for row in self.query(sql, tuple(values))}

    def answered(self, callbacks: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Of these (execution ARN, operation id) callbacks, those the mirror shows answered."""
        if not callbacks:
            return set()
        arns = sorted({arn for arn, _ in callbacks})
        marks = ",".join("?" * len(arns))
        rows = self.query(
            "SELECT e.arn, o.operation_id FROM executions_operation o "
            "JOIN executions_execution e ON e.id = o.execution_id "
            f"WHERE e.arn IN ({marks}) AND o.type = 'CALLBACK' AND o.status != 'STARTED'",
            tuple(arns),
        )
        return set(rows) & set(callbacks)

    def ended(self, arns: list[str]) -> set[str]:
        return self._matching(
            "executions_execution",
            "arn",
            arns,
            "status IN ('SUCCEEDED','FAILED','TIMED_OUT','STOPPED')",
        )

    def check_ages(self, now: float) -> list[float]:
        rows = self.query(
            "SELECT last_synced_at FROM executions_execution WHERE status = 'RUNNING'"
        )
        return [now - (_parse_time(r[0]) or 0) if r[0] else float("inf") for r in rows]

    def pks(self, arns: list[str]) -> dict[str, int]:
        marks = ",".join("?" * len(arns))
        rows = self.query(
            f"SELECT arn, id FROM executions_execution WHERE arn IN ({marks})", tuple(arns)
        )
        return dict(rows)


class Mode:
    """One console (its code, database, Redis db, workers, web server) against the sandbox."""

    def __init__(
        self,
        name: str,
        code: Path,
        work: Path,
        redis_url: str,
        endpoint: str,
        source_args: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.source_args = source_args
        self.code = code
        self.work = work
        self.db = work / f"{name}.sqlite3"
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "DATABASE_URL": f"sqlite:///{self.db}",
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "PYTHONPATH": str(code),
            "LOG_LEVEL": "WARNING",
        }
        self.endpoint = endpoint
        self.processes: list[subprocess.Popen] = []

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.code,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        import redis

        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        self.manage("migrate", "--noinput")
        self.manage("createsuperuser", "--noinput", "--username", "bench", "--email", "b@x.test")
        self.manage(
            "source",
            "add",
            "bench",
            "--endpoint-url",
            self.endpoint,
            "--region",
            "us-east-1",
            "--unsigned",
            "--function",
            "approval-rounds",
            *self.source_args,
        )
        log = open(self.work / f"{self.name}.log", "ab")  # noqa: SIM115
        for n in range(2):
            command = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "console",
                "worker",
                *WORKER_FLAGS,
                "--loglevel",
                "WARNING",
                "--concurrency",
                "4",
                "--hostname",
                f"{self.name}{n}@%h",
                *(["--beat", "--schedule", str(self.work / f"{self.name}.beat")] if n == 0 else []),
            ]
            self.processes.append(
                subprocess.Popen(
                    command,
                    cwd=self.code,
                    env=self.env,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                cwd=self.code,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        session = Browserless(f"http://127.0.0.1:{self.port}")
        wait_for(lambda: session.get("/healthz")[0] == 200, 60, 0.5, "the web server")

    def stop(self) -> None:
        stop_process_groups(self.processes)
        self.processes.clear()


def start_fleet(client: Any, count: int, enders: int, tag: str) -> tuple[list[str], list[str]]:
    def go(n: int) -> str:
        rounds = 1 if n < enders else 500
        return start(client, "approval-rounds", {"rounds": rounds}, f"{tag}-{n}")

    with ThreadPoolExecutor(8) as pool:
        arns = list(pool.map(go, range(count + enders)))
    return arns[enders:], arns[:enders]


class Driver:
    """Answers callbacks at random and records when each answer was sent."""

    def __init__(self, client: Any, watched: list[str], unwatched: list[str], enders: list[str]):
        self.client = client
        self.watched = watched
        self.unwatched = unwatched
        self.enders = list(enders)
        self.changes: list[Change] = []
        self.stop = threading.Event()
        self.random = random.Random(3)

    def answer(self, arn: str, kind: str) -> None:
        try:
            pending = pending_callbacks(self.client, arn)
        except Exception:
            return
        if not pending:
            return
        callback_id = pending[0]["CallbackStartedDetails"]["CallbackId"]
        sent = time.time()
        self.client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"{}")
        self.changes.append(Change(kind, arn, pending[0]["Id"], sent))

    def run(self, seconds: float, unwatched_rate: float, watched_every: float) -> None:
        end = time.monotonic() + seconds
        next_watched = {
            arn: time.monotonic() + self.random.uniform(0, watched_every) for arn in self.watched
        }
        ender_every = seconds / max(1, len(self.enders))
        next_ender = time.monotonic() + ender_every / 2
        while time.monotonic() < end and not self.stop.is_set():
            now = time.monotonic()
            for arn, due in next_watched.items():
                if now >= due:
                    self.answer(arn, "watched")
                    next_watched[arn] = now + watched_every
            if self.enders and now >= next_ender:
                self.answer(self.enders.pop(), "terminal")
                next_ender = now + ender_every
            self.answer(self.random.choice(self.unwatched), "unwatched")
            time.sleep(max(0.0, 1 / unwatched_rate - (time.monotonic() - now)))


def run_mode(
    mode: Mode,
    sandbox: Sandbox,
    client: Any,
    fleet: dict[str, list[str]],
    args: Any,
    revision: str,
    backlog: Any = None,
) -> ModeResult:
    """`backlog`: how many messages the mode's telemetry queue holds; the measurement
    starts once it has caught up with them (a steady state, not a restart's backlog)."""
    result = ModeResult(mode.name, revision)
    mirror = Mirror(mode.db)
    mode.start()
    try:
        quotas(sandbox.endpoint_url, reset=True)
        time.sleep(args.warmup)
        if backlog is not None:
            started = time.monotonic()
            wait_for(lambda: backlog() < CAUGHT_UP, 1800, 5, "the telemetry queue caught up")
            print(
                f"  its telemetry queue caught up {time.monotonic() - started:.0f} s after the "
                f"warm-up (under {CAUGHT_UP} messages waiting)",
                flush=True,
            )
        pks = mirror.pks(fleet["watched"])
        viewers = []
        for arn in fleet["watched"]:
            viewer = Browserless(f"http://127.0.0.1:{mode.port}")
            viewer.log_in("bench", PASSWORD)
            viewers.append((viewer, pks.get(arn)))
        stop = threading.Event()

        def watch() -> None:  # open pages: each polls its header every 2 s
            while not stop.is_set():
                for viewer, pk in viewers:
                    if pk:
                        # As the page's htmx poll asks: only the page's own requests
                        # mark an execution watched (browser/header.py).
                        viewer.get(f"/executions/{pk}/header?since=0", HTMX_POLL)
                stop.wait(2)

        def sample() -> None:
            while not stop.is_set():
                stop.wait(10)
                result.check_ages.extend(mirror.check_ages(time.time()))

        def observe(changes: list[Change]) -> None:
            while not stop.is_set() or any(c.seen is None for c in changes):
                waiting = [c for c in changes if c.seen is None]
                now = time.time()
                answered = mirror.answered(
                    [(c.arn, c.operation_id) for c in waiting if c.kind != "terminal"]
                )
                ended = mirror.ended([c.arn for c in waiting if c.kind == "terminal"])
                for change in waiting:
                    if (change.arn, change.operation_id) in answered or change.arn in ended:
                        change.seen = now
                if stop.is_set() and time.time() > stop_time + 120:
                    return  # what is still unseen two minutes later is reported as such
                time.sleep(0.1)

        quotas(sandbox.endpoint_url, reset=True)
        measure_start = time.monotonic()
        driver = Driver(client, fleet["watched"], fleet["unwatched"], fleet["enders"][mode.name])
        threads = [threading.Thread(target=f, daemon=True) for f in (watch, sample)]
        for thread in threads:
            thread.start()
        observer = threading.Thread(target=observe, args=(driver.changes,), daemon=True)
        stop_time = float("inf")
        observer.start()
        driver.run(args.seconds, args.change_rate, args.watched_every)
        result.seconds = time.monotonic() - measure_start
        snapshot = quotas(sandbox.endpoint_url)
        stop_time = time.time()
        stop.set()
        observer.join(timeout=150)
        console = snapshot["accounts"].get("unsigned", {})
        result.calls = {api: console.get(api, {}).get("calls", 0) for api in READS}
        result.throttled = {api: console.get(api, {}).get("throttled", 0) for api in READS}
        result.changes = driver.changes
    finally:
        mode.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--watched", type=int, default=10)
    parser.add_argument("--enders", type=int, default=20, help="per mode: end on one answer")
    parser.add_argument("--warmup", type=float, default=120)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--change-rate", type=float, default=3.0, help="unwatched answers/s")
    parser.add_argument("--watched-every", type=float, default=10.0, help="s between answers")
    parser.add_argument("--baseline", default="bc58e99", help="the revision of today's polling")
    parser.add_argument("--modes", default="baseline,current,current-sqs")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument(
        "--telemetry",
        action="store_true",
        help="the functions send telemetry records; adds the mode current-telemetry",
    )
    args = parser.parse_args()
    modes = args.modes.split(",")
    if args.telemetry and "current-telemetry" not in modes:
        modes.append("current-telemetry")

    work = Path(tempfile.mkdtemp(prefix="durable-console-freshness-"))
    worktree = work / "baseline"
    if "baseline" in modes:
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), args.baseline],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    try:
        from sandbox import sqs

        sqs_url = os.environ.get("SQS_ENDPOINT_URL", sqs.DEFAULT_ENDPOINT_URL)
        local_sqs = None
        if not sqs.answers(sqs_url):
            local_sqs = sqs.LocalSqs().start()
            sqs_url = local_sqs.endpoint_url
        queue_url = sqs.ensure_queue(sqs_url, f"bench-status-events-{int(time.time())}")
        telemetry_url = ""
        if "current-telemetry" in modes:
            telemetry_url = sqs.ensure_queue(sqs_url, f"bench-telemetry-{int(time.time())}")
        sandbox = Sandbox(
            data_dir=work / "sandbox",
            throttle=True,
            events_queue_url=queue_url,
            sqs_endpoint_url=sqs_url,
            telemetry_queue_url=telemetry_url,
        )
        with sandbox:
            client = lambda_client(sandbox.endpoint_url)
            tag = f"fresh-{int(time.time())}"
            print(f"starting {args.executions} executions in a throttling sandbox…", flush=True)
            running, enders = start_fleet(client, args.executions, args.enders * len(modes), tag)
            wait_for(lambda: pending_callbacks(client, running[-1]), 300, 1, "the fleet")
            fleet = {
                "watched": running[: args.watched],
                "unwatched": running[args.watched :],
                "enders": {
                    m: enders[i * args.enders : (i + 1) * args.enders] for i, m in enumerate(modes)
                },
            }
            results = []
            for n, name in enumerate(modes):
                code = worktree if name == "baseline" else REPO
                revision = args.baseline if name == "baseline" else git_revision()
                source_args: tuple[str, ...] = ()
                if name in ("current-sqs", "current-telemetry"):
                    sqs.client(sqs_url).purge_queue(QueueUrl=queue_url)  # no backlog
                    source_args = (
                        "--events-queue-url",
                        queue_url,
                        "--events-endpoint-url",
                        sqs_url,
                    )
                if name == "current-telemetry":
                    # The queue keeps the records sent since the fleet started, as it would
                    # for a console that has been reading it: every execution's records
                    # flow from the start of the mode (purged, an execution would be polled
                    # as one without records until its next answer).
                    source_args = (*source_args, "--telemetry-queue-url", telemetry_url)
                mode = Mode(
                    name, code, work, f"{args.redis}/{13 - n}", sandbox.endpoint_url, source_args
                )
                print(f"mode {name} ({revision})…", flush=True)
                backlog = None
                if name == "current-telemetry":

                    def backlog() -> int:
                        attributes = sqs.client(sqs_url).get_queue_attributes(
                            QueueUrl=telemetry_url, AttributeNames=["ApproximateNumberOfMessages"]
                        )["Attributes"]
                        return int(attributes["ApproximateNumberOfMessages"])

                results.append(run_mode(mode, sandbox, client, fleet, args, revision, backlog))
            report(results, args)
        if local_sqs is not None:
            local_sqs.stop()
    finally:
        if worktree.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO)
        print(f"\n(work files, logs and databases under {work})")


if __name__ == "__main__":
    main()
