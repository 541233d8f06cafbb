"""Safe bulk stops: the preview says exactly how many and which, the set is frozen when the
person confirms, what ended or changed meanwhile is skipped with its reason, and the job
can be cancelled by its owner or staff (issue 30.4). Against the live sandbox."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from access import api_tokens
from actions import bulk
from executions import sync
from executions.models import AuditEntry, BulkJob, Execution
from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories, markup

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client: Any) -> Any:
    person = factories.user("otto", "operator")
    client.force_login(person)
    return person


def _coffee(lambda_sandbox: Any, tag: str, count: int) -> list[str]:
    """`count` coffee orders named `tag-N`, each waiting for the barista's callback."""
    arns = [start(lambda_sandbox, "coffee-order", {}, f"{tag}-{i}") for i in range(count)]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    return arns


def _decline(lambda_sandbox: Any, arn: str) -> None:
    """The barista declines: the order ends (SUCCEEDED, rejected) on the backend."""
    callback_id = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=json.dumps({"accepted": False})
    )
    wait_for_status(lambda_sandbox, arn)


def _preview(client: Any, tag: str) -> tuple[Any, dict[str, str]]:
    """The preview of stopping every running execution named `tag`, and its form's fields."""
    response = client.post(
        "/executions/bulk-stop", {"scope": "filter", "filter": f"name={tag}", "confirm": ""}
    )
    page = response.content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    return response, fields


def _confirm(client: Any, fields: dict[str, str]) -> Any:
    with factories.tasks_run_here():
        return client.post("/executions/bulk-stop", fields)


def _statuses_on_backend(lambda_sandbox: Any, arns: list[str]) -> list[str]:
    return [lambda_sandbox.get_durable_execution(DurableExecutionArn=arn)["Status"] for arn in arns]


def test_the_preview_counts_the_set_and_the_functions_and_sources_it_spans(client, owner):
    tag = f"pv-{uuid.uuid4().hex[:6]}"
    east, west = factories.offline_source("east"), factories.offline_source("west")
    for i in range(7):
        factories.running_execution(east, f"{tag}-coffee-{i}", "coffee-order")
    for i in range(4):
        factories.running_execution(west, f"{tag}-orders-{i}", "order-processor")
    factories.running_execution(east, f"{tag}-paid", "payments", status="PAUSED")
    factories.running_execution(east, f"{tag}-done", "coffee-order", status="SUCCEEDED")
    factories.running_execution(east, "someone-else", "coffee-order")

    response, fields = _preview(client, tag)

    doc = markup.parse(response.content)
    assert doc.find(data_testid="bulk-confirm").text == "Stop 12 executions?"
    functions = [" ".join(li.text.split()) for li in doc.find_all(data_testid="bulk-function")]
    assert functions == [
        "7 · coffee-order (east)",
        "4 · order-processor (west)",
        "1 · payments (east)",
    ]
    sources = [" ".join(li.text.split()) for li in doc.find_all(data_testid="bulk-source")]
    assert sources == ["8 · east", "4 · west"]
    # The first ten rows, newest first as in the list, each with its function, source and
    # status; the rest counted.
    rows = doc.find_all("tr", data_testid="bulk-preview-row")
    assert len(rows) == 10
    newest = Execution.objects.get(name=f"{tag}-paid")
    first = {td.attrs["data-label"]: " ".join(td.text.split()) for td in rows[0].find_all("td")}
    assert first["Execution"] == newest.name and first["Function"] == "payments"
    assert first["Source"] == "east" and first["Status"] == "Paused"
    assert "UTC" in first["Started"]
    assert doc.find(data_testid="bulk-more").text.startswith("and 2 more")
    names = {row.find("a").text for row in rows}
    assert f"{tag}-done" not in names and "someone-else" not in names
    # The digest of exactly this set travels with the confirmation.
    ids = bulk.running_matching(f"name={tag}", owner)
    assert fields["digest"] == bulk.digest(bulk.frozen_statuses(ids)) and len(ids) == 12


def test_an_execution_that_starts_matching_after_the_preview_is_not_acted_on(
    client, owner, sandbox_source, lambda_sandbox
):
    tag = f"fz-{uuid.uuid4().hex[:6]}"
    first = _coffee(lambda_sandbox, tag, 2)
    factories.mirrored_all(sandbox_source, first)
    _, previewed = _preview(client, tag)
    late = _coffee(lambda_sandbox, f"{tag}-late", 1)
    factories.mirrored_all(sandbox_source, late)

    refused = _confirm(client, previewed)

    # Nothing was sent: the new set is shown again, saying what changed.
    assert refused.status_code == 409
    doc = markup.parse(refused.content)
    assert "changed since the preview" in doc.find(data_testid="bulk-changed").text
    assert "1 more now matches the filter." in doc.find(data_testid="bulk-changed").text
    assert doc.find(data_testid="bulk-confirm").text == "Stop 3 executions?"
    assert not BulkJob.objects.exists() and not AuditEntry.objects.filter(action="stop").exists()
    assert _statuses_on_backend(lambda_sandbox, [*first, *late]) == ["RUNNING"] * 3

    # Confirmed from the new preview: exactly its set, frozen, and stopped.
    fields = dict(
        re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', refused.content.decode())
    )
    response = _confirm(client, fields)
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    frozen = set(Execution.objects.filter(arn__in=[*first, *late]).values_list("pk", flat=True))
    assert set(job.execution_ids) == frozen and job.finished and job.done == 3
    assert _statuses_on_backend(lambda_sandbox, [*first, *late]) == ["STOPPED"] * 3


def test_an_execution_that_ended_after_the_preview_is_skipped_with_its_reason(
    client, owner, sandbox_source, lambda_sandbox
):
    tag = f"sk-{uuid.uuid4().hex[:6]}"
    arns = _coffee(lambda_sandbox, tag, 3)
    executions = factories.mirrored_all(sandbox_source, arns)
    _, fields = _preview(client, tag)
    ids = [e.pk for e in executions]
    # Confirmed: the job with the set frozen as previewed (the view's own call, without the
    # worker that would run it at once).
    job = bulk.create_stop_job(owner, ids, frozen=bulk.frozen_statuses(ids))
    assert bulk.digest(job.parameters["statuses"]) == fields["digest"]
    # Meanwhile one ends and the mirror sees it; another ends and the mirror does not yet
    # (only the stop call's refusal tells).
    seen, unseen, running = arns
    _decline(lambda_sandbox, seen)
    sync.sync_arn(sandbox_source, seen)
    _decline(lambda_sandbox, unseen)
    assert Execution.objects.get(arn=unseen).status == "RUNNING"

    result = bulk.run_bulk_stop(job.pk)

    job.refresh_from_db()
    assert result["skipped"] == 2 and job.failures == [] and job.done == 3
    reasons = {record["arn"]: record["reason"] for record in job.skipped}
    ended = Execution.objects.get(arn=seen).ended_at
    assert reasons[seen] == f"Ended meanwhile: Succeeded at {ended:%H:%M:%S} UTC. Not stopped."
    # The mirror did not know: the stop went out, and the backend (AWS's local runner)
    # accepted it and changed nothing; the re-read says it had ended before.
    assert reasons[unseen] == (
        f"Ended meanwhile: Succeeded at {Execution.objects.get(arn=unseen).ended_at:%H:%M:%S} "
        "UTC. Not stopped. (It had ended before the stop reached it; nothing changed.)"
    )
    assert _statuses_on_backend(lambda_sandbox, arns) == ["SUCCEEDED", "SUCCEEDED", "STOPPED"]
    # The one the mirror saw end was not acted on at all.
    assert not AuditEntry.objects.filter(action="stop", execution_arn=seen).exists()
    assert AuditEntry.objects.get(action="stop", execution_arn=running).outcome == "SUCCEEDED"
    # The job's page says what was skipped and why.
    doc = markup.parse(client.get(f"/jobs/{job.pk}/").content)
    assert doc.find(data_testid="bulk-count-skipped").text == "2"
    assert doc.find(data_testid="bulk-count-sent").text == "1"
    skipped = [
        r
        for r in doc.find_all("tr", data_testid="bulk-result")
        if r.attrs["data-outcome"] == "skipped"
    ]
    assert {r.find(data_testid="bulk-skip-reason").text for r in skipped} == set(reasons.values())


def test_an_execution_paused_after_the_preview_is_skipped_as_changed(client, owner):
    source = factories.offline_source("offline")
    execution = factories.running_execution(source, "pz-1")
    job = bulk.create_stop_job(owner, [execution.pk])
    Execution.objects.filter(pk=execution.pk).update(status="PAUSED")

    bulk.run_bulk_stop(job.pk)

    job.refresh_from_db()
    assert [s["reason"] for s in job.skipped] == [
        "Changed meanwhile: running → paused. Not stopped."
    ]
    assert job.failures == [] and not AuditEntry.objects.filter(action="stop").exists()


def test_cancel_stops_the_loop_and_what_was_sent_stays_sent(
    client, owner, sandbox_source, lambda_sandbox
):
    arns = _coffee(lambda_sandbox, f"cx-{uuid.uuid4().hex[:6]}", 3)
    ids = [e.pk for e in factories.mirrored_all(sandbox_source, arns)]
    job = bulk.create_stop_job(owner, ids)
    page = markup.parse(client.get(f"/jobs/{job.pk}/").content)
    assert page.find_all(data_testid="bulk-cancel") != []

    cancelled = []

    def cancel_after_the_first(running: BulkJob) -> None:
        if not cancelled:
            cancelled.append(client.post(f"/jobs/{running.pk}/cancel"))

    result = bulk.run_bulk_stop(job.pk, after_each=cancel_after_the_first)

    assert cancelled[0].status_code == 302 and cancelled[0]["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert result["cancelled"] and job.finished and job.done == 1 and job.cancelled_by == "otto"
    assert _statuses_on_backend(lambda_sandbox, arns) == ["STOPPED", "RUNNING", "RUNNING"]
    entry = AuditEntry.objects.get(action="bulk_cancelled")
    assert entry.username == "otto" and f"job {job.pk}: cancelled after 1 of 3" in entry.payload
    doc = markup.parse(client.get(f"/jobs/{job.pk}/").content)
    assert " ".join(doc.find(data_testid="bulk-cancelled").text.split()) == (
        "Cancelled by otto after 1 of 3"
    )
    assert doc.find(data_testid="bulk-count-left").text == "2"
    assert doc.find_all(data_testid="bulk-cancel") == []
    outcomes = [r.attrs["data-outcome"] for r in doc.find_all("tr", data_testid="bulk-result")]
    assert outcomes == ["stopped", "not done", "not done"]
    # The audit log says it in words.
    audit = client.get("/audit/?action=bulk_cancelled").content.decode()
    assert "Cancelled a bulk job" in audit


def test_a_viewer_or_another_operator_cannot_cancel_but_staff_can(client, owner):
    source = factories.offline_source("offline")
    execution = factories.running_execution(source, "vw-1")
    job = bulk.create_stop_job(owner, [execution.pk])

    for name, role, staff in (("vera", "viewer", False), ("oscar", "operator", False)):
        factories.signed_in(client, name, role, staff=staff)
        # Someone without a grant reads everything, so they see the job, with no Cancel.
        page = client.get(f"/jobs/{job.pk}/")
        assert page.status_code == 200
        assert markup.parse(page.content).find_all(data_testid="bulk-cancel") == []
        refused = client.post(f"/jobs/{job.pk}/cancel")
        assert refused.status_code == 403
        assert "Only the person who started this job, or staff" in refused.content.decode()
    job.refresh_from_db()
    assert not job.cancelled and not AuditEntry.objects.filter(action="bulk_cancelled").exists()

    factories.signed_in(client, "stella", "operator", staff=True)
    assert client.post(f"/jobs/{job.pk}/cancel").status_code == 302
    job.refresh_from_db()
    assert job.cancelled and job.cancelled_by == "stella"
    # A second cancel changes nothing and is not audited twice.
    client.post(f"/jobs/{job.pk}/cancel")
    assert AuditEntry.objects.filter(action="bulk_cancelled").count() == 1


def test_the_api_cancels_a_job_for_its_owner_and_says_what_was_skipped(client, owner):
    source = factories.offline_source("offline")
    execution = factories.running_execution(source, "api-1")
    job = bulk.create_stop_job(owner, [execution.pk])
    viewer = api_tokens.issue(factories.user("vic", "viewer"), "read", "read").secret
    mine = api_tokens.issue(owner, "ci", "act").secret

    refused = client.post(
        f"/api/v1/bulk-jobs/{job.pk}/cancel", HTTP_AUTHORIZATION=f"Bearer {viewer}"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"]
    response = client.post(
        f"/api/v1/bulk-jobs/{job.pk}/cancel", HTTP_AUTHORIZATION=f"Bearer {mine}"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["cancelled"] is True and body["cancelled_by"] == "otto" and body["skipped"] == []
    bulk.run_bulk_stop(job.pk)
    got = client.get(f"/api/v1/bulk-jobs/{job.pk}", HTTP_AUTHORIZATION=f"Bearer {mine}").json()
    assert got["finished"] and got["done"] == 0 and got["cancelled"]
