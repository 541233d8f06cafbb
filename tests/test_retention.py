"""Retention and the archive, against the real sandbox and a real S3 server (moto's):
executions past their source's retention archived (read back from the bucket) and pruned
with their operations and events, never one that something still needs; a bucket that
stops answering mid-prune stops it with nothing unarchived deleted; a prune racing a sync
of the same execution; the refusals (a retention under a day or over the archive's keep,
a bucket name S3 would refuse); and AWS's own deletion noticed by the sync."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from actions.models import ApprovalRequest, RequestState
from executions import archive, prune, sync
from executions.bucket_names import bucket_name_problem
from executions.models import (
    ArchivedExecution,
    AuditEntry,
    BulkJob,
    Execution,
    HistoryEvent,
    Operation,
    Source,
)
from guardrails.models import Firing, Guardrail, Outcome
from retention import tasks
from sandbox import s3
from sandbox.client import start, wait_for, wait_for_status
from tests import factories
from tests.conftest import REPO

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket(settings, local_s3) -> str:
    name = f"archive-{uuid.uuid4().hex[:10]}"
    s3.ensure_bucket(local_s3, name)
    settings.ARCHIVE_BUCKET = name
    settings.ARCHIVE_ENDPOINT_URL = local_s3
    settings.ARCHIVE_CREDENTIALS = "none"
    settings.ARCHIVE_PREFIX = "tests"
    settings.PRUNE_WITHOUT_ARCHIVE = False
    return name


def _ended(source: Source, lambda_sandbox, function: str = "order-processor") -> Execution:
    """An execution of the sandbox that ran to its end, mirrored whole."""
    name = f"ret-{uuid.uuid4().hex[:8]}"
    arn = start(lambda_sandbox, function, {"note": "kept"}, name)
    wait_for_status(lambda_sandbox, arn)
    execution = wait_for(
        lambda: (e := sync.sync_arn(source, arn)).history_complete and e,
        60,
        what=f"{name} read to its end",
    )
    return execution


def _age(execution: Execution, days: float) -> None:
    """As if it had run `days` earlier (the mirror's row is all the prune reads)."""
    shift = timedelta(days=days)
    Execution.objects.filter(pk=execution.pk).update(
        started_at=F("started_at") - shift, ended_at=F("ended_at") - shift
    )
    execution.refresh_from_db()


def _counts(pk: int) -> tuple[int, int, int]:
    return (
        Execution.objects.filter(pk=pk).count(),
        Operation.objects.filter(execution_id=pk).count(),
        HistoryEvent.objects.filter(execution_id=pk).count(),
    )


# ---- the refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (0, "shorter than a day"),
        (3651, "longer than the archive keeps"),
    ],
)
def test_a_retention_under_a_day_or_over_the_archives_keep_is_refused_with_the_reason(days, words):
    source = factories.offline_source(f"r-{uuid.uuid4().hex[:6]}", retention_days=days)
    with pytest.raises(ValidationError) as refused:
        source.full_clean()
    assert words in " ".join(refused.value.message_dict["retention_days"])

    source.retention_days = None
    source.retention_by_function = {"orders-*": days}
    with pytest.raises(ValidationError) as refused:
        source.full_clean()
    assert "orders-*" in " ".join(refused.value.message_dict["retention_by_function"])

    source.retention_by_function = {"orders-*": 7, "audit-*": None}
    source.retention_days = 30
    source.full_clean()  # a day to the archive's keep, or forever, is fine


def test_the_source_form_refuses_a_retention_under_a_day(client):
    factories.signed_in(client, "ada", superuser=True)
    form = {
        "name": "short-keep",
        "region": "us-east-1",
        "credentials": "none",
        "endpoint_url": "http://127.0.0.1:9",
        "function_names": "orders",
        "list_interval_seconds": "5",
        "execution_interval_seconds": "3",
        "reconcile_interval_seconds": "300",
        "quota_share": "70",
        "retention_days": "0",
    }
    page = client.post("/sources/new", form)
    assert page.status_code == 400
    assert "shorter than a day" in " ".join(page.context["form"].errors["retention_days"])
    assert not Source.objects.filter(name="short-keep").exists()


@pytest.mark.parametrize(
    "name",
    [
        "My_Bucket",
        "ab",
        "a" * 64,
        "bucket..name",
        "192.168.1.1",
        "xn--bucket",
        "bucket-",
        "b-s3alias",
    ],
)
def test_a_bucket_name_s3_would_refuse_is_refused(name):
    assert bucket_name_problem(name)


def test_valid_bucket_names_pass():
    for name in ("durable-console-archive", "a.b-c", "abc"):
        assert bucket_name_problem(name) == ""


def test_the_console_refuses_to_start_with_a_bucket_name_that_is_not_valid():
    env = {
        **os.environ,
        "ARCHIVE_BUCKET": "Archive_Bucket",
        "DJANGO_SETTINGS_MODULE": "console.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "ARCHIVE_BUCKET" in done.stderr and "lower-case letters" in done.stderr


def test_without_a_bucket_the_prune_refuses_and_says_why(settings, sandbox_source, lambda_sandbox):
    settings.ARCHIVE_BUCKET = ""
    settings.PRUNE_WITHOUT_ARCHIVE = False
    execution = _ended(sandbox_source, lambda_sandbox)
    _age(execution, 10)
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=7)

    runs = tasks.prune_now()

    assert _counts(execution.pk)[0] == 1
    assert "ARCHIVE_BUCKET" in runs[0].stopped


# ---- archive, then prune ---------------------------------------------------------------


def test_an_execution_past_its_retention_is_archived_read_back_and_pruned_whole(
    settings, bucket, sandbox_source, lambda_sandbox
):
    old = _ended(sandbox_source, lambda_sandbox)
    recent = _ended(sandbox_source, lambda_sandbox)
    _age(old, 10)
    _age(recent, 2)
    before = _counts(old.pk)
    assert before[1] and before[2]
    factories.user("ada", superuser=True)
    AuditEntry.objects.create(username="ada", action="stop", execution_arn=old.arn)
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=7)

    runs = tasks.prune_now()

    assert _counts(old.pk) == (0, 0, 0)
    assert _counts(recent.pk)[0] == 1  # within its retention
    assert runs[0].pruned >= 1 and old.pk in runs[0].pruned_ids
    assert recent.pk not in runs[0].pruned_ids
    # In the bucket, where the key says: source, function, day, name.
    archived = ArchivedExecution.objects.get(arn=old.arn)
    assert archived.pruned_at is not None
    day = old.ended_at.astimezone(UTC)
    assert archived.key.startswith(f"tests/sandbox/order-processor/{day:%Y/%m/%d}/{old.name}--")
    body = s3.client(settings.ARCHIVE_ENDPOINT_URL).get_object(Bucket=bucket, Key=archived.key)
    doc = json.loads(gzip.decompress(body["Body"].read()))
    assert doc["execution"]["arn"] == old.arn
    assert len(doc["operations"]) == before[1] and len(doc["events"]) == before[2]
    assert [a["action"] for a in doc["audit"]] == ["stop"]
    # The audit log has the counts.
    entry = AuditEntry.objects.filter(action="prune", source_name="sandbox").latest("id")
    counts = json.loads(entry.payload)
    assert counts["executions"] == runs[0].pruned
    assert counts["events"] >= before[2] and counts["operations"] >= before[1]
    # Listed again by its function, it is not mirrored again.
    listed = {"DurableExecutionArn": old.arn, "Status": "SUCCEEDED", "FunctionArn": ""}
    assert sync.upsert_listed(old.function, listed) == (None, False)
    assert not Execution.objects.filter(arn=old.arn).exists()


def test_a_function_pattern_overrides_the_sources_retention(bucket, sandbox_source, lambda_sandbox):
    execution = _ended(sandbox_source, lambda_sandbox)
    _age(execution, 10)
    Source.objects.filter(pk=sandbox_source.pk).update(
        retention_days=7, retention_by_function={"order-*": 30}
    )

    runs = tasks.prune_now()

    assert execution.pk not in runs[0].pruned_ids
    assert _counts(execution.pk)[0] == 1


def test_what_something_still_needs_is_never_pruned(bucket, sandbox_source, lambda_sandbox):
    in_job, approving, held, final, running = (
        _ended(sandbox_source, lambda_sandbox) for _ in range(5)
    )
    for execution in (in_job, approving, held, final):
        _age(execution, 10)
    Execution.objects.filter(pk=running.pk).update(
        status="RUNNING", ended_at=timezone.now() - timedelta(days=10)
    )
    BulkJob.objects.create(action="stop", execution_ids=[in_job.pk], total=1)
    ApprovalRequest.objects.create(
        execution=approving, operation_id="x", callback_id="cb", state=RequestState.COLLECTING
    )
    rule = Guardrail.objects.create(name=f"g-{uuid.uuid4().hex[:6]}", condition="retrying")
    Firing.objects.create(
        guardrail=rule, guardrail_name=rule.name, subject_key=f"e{held.pk}", execution=held,
        action="stop", outcome=Outcome.WAITING_FOR_PEOPLE, reason="waits",
    )  # fmt: skip
    Firing.objects.create(
        guardrail=rule, guardrail_name=rule.name, subject_key=f"e{final.pk}", execution=final,
        action="stop", outcome=Outcome.ACTED, reason="stopped",
    )  # fmt: skip
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=7)

    runs = tasks.prune_now()

    for kept in (in_job, approving, held, running):
        assert _counts(kept.pk)[0] == 1, kept.name
    assert _counts(final.pk)[0] == 0  # a final firing names it no more
    assert runs[0].protected >= 3


def test_a_bucket_that_stops_answering_mid_prune_stops_it_and_nothing_unarchived_is_deleted(
    settings, client, sandbox_source, lambda_sandbox
):
    executions = [_ended(sandbox_source, lambda_sandbox) for _ in range(3)]
    for execution in executions:
        _age(execution, 10)
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=7)
    server = s3.LocalS3().start()
    try:
        name = f"archive-{uuid.uuid4().hex[:10]}"
        s3.ensure_bucket(server.endpoint_url, name)
        settings.ARCHIVE_BUCKET = name
        settings.ARCHIVE_ENDPOINT_URL = server.endpoint_url
        settings.ARCHIVE_CREDENTIALS = "none"
        settings.ARCHIVE_TIMEOUT_SECONDS = 2
        settings.PRUNE_BATCH_SIZE = 1
        batches = []

        def stop_after_the_first_batch(ids: list[int]) -> set[int]:
            # Called as each batch begins: the second one finds the bucket gone.
            batches.append(ids)
            if len(batches) == 2:
                server.stop()
            return set()

        source = Source.objects.get(pk=sandbox_source.pk)
        run = prune.prune_source(source, stop_after_the_first_batch)
        tasks.record(run, source)
        Source.objects.filter(pk=source.pk).update(
            last_prune={
                "at": timezone.now().isoformat(),
                "counts": run.counts(),
                "stopped": run.stopped,
            }
        )
    finally:
        server.stop()

    assert len(batches) == 2
    assert run.pruned == 1 and "does not answer" in run.stopped
    gone = run.pruned_ids[0]
    assert ArchivedExecution.objects.filter(pk__isnull=False, pruned_at__isnull=False).count() >= 1
    for execution in executions:
        if execution.pk == gone:
            assert _counts(execution.pk) == (0, 0, 0)
            assert ArchivedExecution.objects.filter(
                arn=execution.arn, pruned_at__isnull=False
            ).exists()
        else:
            assert _counts(execution.pk)[0] == 1  # not archived: kept
            assert not ArchivedExecution.objects.filter(arn=execution.arn).exists()
    entry = AuditEntry.objects.filter(action="prune", source_name="sandbox").latest("id")
    assert entry.outcome == "FAILED" and "does not answer" in entry.error
    # The sync health page says why.
    factories.signed_in(client, "staffer", staff=True)
    page = client.get("/sync/").content.decode()
    assert "does not answer" in page and 'data-testid="prune-stopped"' in page


def test_a_bucket_that_refuses_stops_the_prune_with_the_reason(
    settings, local_s3, sandbox_source, lambda_sandbox
):
    execution = _ended(sandbox_source, lambda_sandbox)
    _age(execution, 10)
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=7)
    settings.ARCHIVE_BUCKET = f"missing-{uuid.uuid4().hex[:8]}"  # never created
    settings.ARCHIVE_ENDPOINT_URL = local_s3
    settings.ARCHIVE_CREDENTIALS = "none"

    runs = tasks.prune_now()

    assert "does not exist" in runs[0].stopped
    assert _counts(execution.pk)[0] == 1


# ---- the prune and the sync ------------------------------------------------------------


def test_the_prune_does_not_delete_a_state_newer_than_the_one_it_archived(
    bucket, sandbox_source, lambda_sandbox
):
    execution = _ended(sandbox_source, lambda_sandbox)
    run = prune.PruneRun(source="sandbox")
    archived_state = (execution.status, execution.last_event_id - 1, execution.ended_at)

    deleted = prune.delete_archived({execution.pk: archived_state}, run)

    assert deleted == [] and run.changed == 1
    assert _counts(execution.pk)[0] == 1


def test_the_prune_leaves_an_execution_the_sync_holds_for_the_next_run(
    bucket, sandbox_source, lambda_sandbox
):
    from executions.locks import redis_lock

    execution = _ended(sandbox_source, lambda_sandbox)
    _age(execution, 10)
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=7)
    with redis_lock(f"execution:{execution.pk}"):  # as sync_execution holds it
        run = prune.prune_source(Source.objects.get(pk=sandbox_source.pk))
    assert execution.pk not in run.pruned_ids and run.locked >= 1
    assert _counts(execution.pk)[0] == 1
    assert not ArchivedExecution.objects.filter(arn=execution.arn).exists()


@pytest.mark.django_db(transaction=True)
def test_a_prune_racing_syncs_of_the_same_execution_leaves_it_whole_or_gone(
    bucket, sandbox_source, lambda_sandbox
):
    """Both really run, at once, in threads: syncs that re-read the execution from the
    sandbox over and over (force), and the prune. Whatever the interleaving, the sync never
    fails nor writes rows of a deleted execution, and the prune deletes the execution whole,
    as it archived it, or leaves it whole."""
    executions = [_ended(sandbox_source, lambda_sandbox) for _ in range(4)]
    whole = {e.pk: _counts(e.pk) for e in executions}
    for execution in executions:
        _age(execution, 10)
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=7)
    start_together = threading.Barrier(len(executions) + 1)
    errors: list[BaseException] = []
    # Per execution, what each sync did, and whether the prune had begun by then.
    outcomes: dict[int, list[tuple[str, bool]]] = {e.pk: [] for e in executions}
    pruning = threading.Event()

    def keep_syncing(pk: int) -> None:
        from django.db import connection

        try:
            first = sync.sync_execution(pk, force=True)  # a sync under way before the prune
            outcomes[pk].append((first.skipped or "synced", False))
            start_together.wait()
            for _ in range(500):
                result = sync.sync_execution(pk, force=True)
                outcomes[pk].append((result.skipped or "synced", pruning.is_set()))
                if result.error:
                    errors.append(AssertionError(result.error))
                if result.skipped == "missing":
                    break
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=keep_syncing, args=(e.pk,)) for e in executions]
    for thread in threads:
        thread.start()
    start_together.wait()
    pruning.set()
    runs = []
    # Until each is pruned: one the sync holds waits for the next run, and a sync that
    # re-reads its execution back to back can hold it through many runs in a row, so the
    # prune goes on while any sync does (each sync stops once its execution is gone).
    while any(thread.is_alive() for thread in threads):
        runs.append(prune.prune_source(Source.objects.get(pk=sandbox_source.pk)))
        if not Execution.objects.filter(pk__in=whole).exists():
            break
    for thread in threads:
        thread.join(60)

    assert errors == []
    for pk, counts in whole.items():
        now = _counts(pk)
        assert now in ((0, 0, 0), counts), (pk, now, counts)
        if now == (0, 0, 0):
            archived = ArchivedExecution.objects.get(arn=_arn(executions, pk))
            assert archived.event_count == counts[2] and archived.operation_count == counts[1]
    assert sum(r.pruned for r in runs) == len(executions), (
        f"{len(runs)} prune runs found {sum(r.locked for r in runs)} held by a sync"
    )
    # The syncs ran while the prune did (each synced, or found the prune holding the
    # execution), and then found their execution gone, writing nothing of it.
    assert all(seen[0][0] == "synced" and seen[-1][0] == "missing" for seen in outcomes.values())
    assert any(
        what in ("synced", "locked") and during
        for seen in outcomes.values()
        for what, during in seen
    ), outcomes


def _arn(executions: list[Execution], pk: int) -> str:
    return next(e.arn for e in executions if e.pk == pk)


# ---- AWS's own retention ---------------------------------------------------------------


def test_the_mirror_notices_aws_deleted_an_ended_execution_and_keeps_its_copy(
    sandbox_source, lambda_sandbox
):
    execution = _ended(sandbox_source, lambda_sandbox)
    before = _counts(execution.pk)
    # The same execution, as if AWS had deleted its history: an ARN the sandbox no longer
    # knows (the sandbox has no DeleteDurableExecution), its history not read to the end.
    gone_arn = execution.arn.rsplit("/", 1)[0] + "/" + uuid.uuid4().hex
    Execution.objects.filter(pk=execution.pk).update(arn=gone_arn, history_complete=False)

    result = sync.sync_execution(execution.pk)

    execution.refresh_from_db()
    assert result.skipped == "deleted by AWS" and not result.error, result
    assert execution.aws_deleted_at is not None and execution.history_complete
    assert _counts(execution.pk) == before  # its copy kept whole


# ---- the archive's pages ---------------------------------------------------------------


def test_an_archived_execution_is_found_by_name_or_arn_and_opens_read_only_with_each_tab(
    client, bucket, sandbox_source, lambda_sandbox
):
    execution = _ended(sandbox_source, lambda_sandbox)
    labels = set(Operation.objects.filter(execution=execution).values_list("name", flat=True))
    _age(execution, 10)
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=7)
    tasks.prune_now()
    assert not Execution.objects.filter(arn=execution.arn).exists()
    archived = ArchivedExecution.objects.get(arn=execution.arn)
    factories.signed_in(client, "vera", "viewer")

    by_name = client.get("/archive/", {"q": execution.name[:8]}).content.decode()
    by_arn = client.get("/archive/", {"q": execution.arn}).content.decode()
    nothing = client.get("/archive/", {"q": "no-such-execution"}).content.decode()
    assert f"/archive/{archived.pk}/" in by_name and f"/archive/{archived.pk}/" in by_arn
    assert 'data-testid="archive-empty"' in nothing

    graph = client.get(f"/archive/{archived.pk}/").content.decode()
    assert 'data-testid="archived-badge"' in graph and "<svg" in graph
    operations = client.get(f"/archive/{archived.pk}/", {"tab": "operations"}).content.decode()
    assert all(label in operations for label in labels if label)
    events = client.get(f"/archive/{archived.pk}/", {"tab": "events"}).content.decode()
    assert "ExecutionStarted" in events
    assert events.count('class="event-type"') == archived.event_count
    chart = client.get(f"/archive/{archived.pk}/", {"tab": "timeline"}).content.decode()
    assert 'data-testid="archived-timeline"' in chart and "tl-bar" in chart
    assert client.get(f"/archive/{archived.pk}/", {"tab": "nope"}).status_code == 400


def test_an_archived_execution_outside_ones_scope_is_not_found(
    client, bucket, sandbox_source, lambda_sandbox
):
    execution = _ended(sandbox_source, lambda_sandbox)
    archived = archive.write(
        Execution.objects.select_related("source", "function").get(pk=execution.pk)
    )
    factories.signed_in(client, "olga")
    call_command("grant", "olga", "viewer", "--functions", "coffee-*")
    assert client.get(f"/archive/{archived.pk}/").status_code == 404
    assert f"/archive/{archived.pk}/" not in client.get("/archive/").content.decode()


def test_the_execution_page_says_until_when_aws_keeps_the_history_then_that_ours_is_the_only_copy(
    client, sandbox_source, lambda_sandbox
):
    sync.refresh_functions(sandbox_source)  # DurableConfig, as every poll reads it
    execution = _ended(sandbox_source, lambda_sandbox)
    days = execution.function.durable_config["RetentionPeriodInDays"]
    factories.signed_in(client, "vera", "viewer")

    page = client.get(f"/executions/{execution.pk}/").content.decode()
    assert "AWS keeps its history until" in page and f"{days} day" in page
    assert 'data-testid="only-copy"' not in page

    _age(execution, days + 1)
    page = client.get(f"/executions/{execution.pk}/").content.decode()
    assert 'data-testid="only-copy"' in page and "AWS deleted its history" in page

    Execution.objects.filter(pk=execution.pk).update(aws_deleted_at=timezone.now())
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=400)
    page = client.get(f"/executions/{execution.pk}/").content.decode()
    assert (
        "AWS no longer has this execution" in page and "the console's copy is the only one" in page
    )
    assert "The console keeps it until" in page
