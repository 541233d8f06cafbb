"""Delete (DeleteDurableExecution, on backends that have it) and Start again (the start
form filled in from an execution), with the Django test client against the live sandbox,
which has no DeleteDurableExecution (AWS's local runner answers UnknownOperationException)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.test import Client

from actions import tokens
from executions import sync
from executions.models import AuditEntry, AuditOutcome, Execution, Source
from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories

pytestmark = pytest.mark.django_db
DELETE = "DeleteDurableExecution"


def _stale_form_token(client: Client) -> str:
    """A token as a form opened earlier (before the page stopped offering it) carries."""
    return tokens.one_time_token(User.objects.get(pk=client.session[SESSION_KEY]))


def _token(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


@pytest.fixture
def failed(sandbox_source, lambda_sandbox) -> Execution:
    name = f"del-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "order-processor", {"note": "kept as sent"}, name)
    wait_for_status(lambda_sandbox, arn)
    return sync.sync_arn(sandbox_source, arn)


def test_the_backend_is_asked_whether_it_can_delete(sandbox_source):
    learned = sync.learn_capabilities(sandbox_source)

    assert learned[DELETE] is False  # the sandbox answers UnknownOperationException


def test_delete_on_the_sandbox_is_refused_as_not_supported_and_then_no_longer_offered(
    client, failed, api_calls
):
    operator = factories.signed_in(client, "otto", "operator")
    # Believed to have it (say, an older answer): the page offers Delete, the backend decides.
    Source.objects.filter(pk=failed.source_id).update(capabilities={DELETE: True})
    detail = operator.get(f"/executions/{failed.pk}/").content.decode()
    assert 'data-testid="delete-open"' in detail
    confirm = operator.get(f"/executions/{failed.pk}/delete")
    assert confirm.status_code == 200 and "removed from this console" in confirm.content.decode()

    api_calls.clear()
    refused = operator.post(
        f"/executions/{failed.pk}/delete", {"token": _token(confirm.content.decode())}
    )

    html = refused.content.decode()
    assert refused.status_code == 502
    assert "Nothing was deleted" in html and f"{DELETE} is not supported by this backend." in html
    assert [op for op, _, _ in api_calls.calls] == [DELETE]
    assert Execution.objects.filter(pk=failed.pk).exists()  # the mirror keeps it
    entry = AuditEntry.objects.get(action="delete")
    assert (entry.outcome, entry.execution_arn) == (AuditOutcome.FAILED, failed.arn)
    assert Source.objects.get(pk=failed.source_id).capabilities[DELETE] is False
    assert 'data-testid="delete-confirm"' not in html  # nothing left to confirm
    detail = operator.get(f"/executions/{failed.pk}/").content.decode()
    assert 'data-testid="delete-open"' not in detail
    assert 'data-testid="start-again"' in detail


def test_once_known_unsupported_a_delete_sends_nothing(client, failed, api_calls):
    operator = factories.signed_in(client, "otto", "operator")
    Source.objects.filter(pk=failed.source_id).update(capabilities={DELETE: False})
    page = operator.get(f"/executions/{failed.pk}/delete")
    assert "not supported by this backend" in page.content.decode()
    api_calls.clear()

    refused = operator.post(
        f"/executions/{failed.pk}/delete", {"token": _stale_form_token(operator)}
    )

    assert (
        refused.status_code == 400 and "not supported by this backend" in refused.content.decode()
    )
    assert api_calls.calls == [] and not AuditEntry.objects.exists()


def test_a_running_execution_cannot_be_deleted(client, sandbox_source, lambda_sandbox, api_calls):
    operator = factories.signed_in(client, "otto", "operator")
    arn = start(lambda_sandbox, "coffee-order", {}, f"del-run-{uuid.uuid4().hex[:6]}")
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, arn)
    page = operator.get(f"/executions/{execution.pk}/delete").content.decode()
    assert "Only an execution that has ended" in page and 'data-testid="delete-confirm"' not in page
    api_calls.clear()

    refused = operator.post(
        f"/executions/{execution.pk}/delete", {"token": _stale_form_token(operator)}
    )

    assert (
        refused.status_code == 400
        and "Only an execution that has ended" in refused.content.decode()
    )
    assert api_calls.calls == [] and not AuditEntry.objects.exists()


def test_a_viewer_can_neither_delete_nor_start_again(client, failed, api_calls):
    viewer = factories.signed_in(client, "vera", "viewer")
    api_calls.clear()

    assert viewer.get(f"/executions/{failed.pk}/delete").status_code == 403
    assert viewer.post(f"/executions/{failed.pk}/delete", {"token": "x"}).status_code == 403
    detail = viewer.get(f"/executions/{failed.pk}/").content.decode()
    again = viewer.get(f"/executions/start/?from={failed.pk}").content.decode()
    assert 'data-testid="start-again"' not in detail and 'data-testid="delete-open"' not in detail
    assert "Only operators can start executions" in again and "kept as sent" not in again
    assert api_calls.calls == []


def test_start_again_fills_in_the_function_a_new_name_and_the_input(client, failed):
    operator = factories.signed_in(client, "otto", "operator")

    html = operator.get(f"/executions/start/?from={failed.pk}").content.decode()

    assert 'data-testid="start-again-note"' in html and failed.name in html
    assert f'<option value="{failed.function_id}" selected' in html
    name = re.search(r'name="name" id="name" value="([^"]*)"', html).group(1)
    assert re.fullmatch(rf"{failed.name}-again-[0-9a-f]{{6}}", name)
    textarea = re.search(r"data-example-target[^>]*>([^<]*)</textarea>", html, re.S).group(1)
    assert json.loads(textarea.replace("&quot;", '"')) == {"note": "kept as sent"}


def test_start_again_refuses_to_fill_in_an_input_that_was_cut_short(client, failed):
    operator = factories.signed_in(client, "otto", "operator")
    Execution.objects.filter(pk=failed.pk).update(input_truncated=True)

    html = operator.get(f"/executions/start/?from={failed.pk}").content.decode()

    assert 'data-testid="start-warning"' in html and "cut short" in html
    assert "kept as sent" not in html


def test_start_again_from_an_unknown_execution_says_so(client, sandbox_source):
    operator = factories.signed_in(client, "otto", "operator")

    response = operator.get("/executions/start/?from=987654")

    assert response.status_code == 404
    assert "no execution #987654 in the mirror" in response.content.decode()


def test_the_audit_log_says_a_delete_was_tried_and_refused(client, failed):
    operator = factories.signed_in(client, "otto", "operator")
    Source.objects.filter(pk=failed.source_id).update(capabilities={DELETE: True})
    operator.post(f"/executions/{failed.pk}/delete", {"token": _stale_form_token(operator)})

    html = operator.get("/audit/?action=delete").content.decode()

    assert 'data-testid="audit-action" title="delete">Delete execution<' in html  # not done
    assert failed.name in html


def test_a_deleting_status_event_does_not_bring_a_deleted_execution_back(db):
    # After a delete the row is gone; AWS then announces DELETING for it: ignored, where an
    # execution first seen running is inserted as usual.
    from datetime import UTC, datetime

    from executions import events
    from executions.models import Function

    source = factories.aws_source("aws-us")
    Function.objects.create(source=source, name="orders")
    base = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution"
    now = datetime.now(UTC)

    def event(arn: str, status: str) -> events.StatusEvent:
        return events.StatusEvent(
            arn=arn,
            name=arn.rsplit("/", 2)[-2],
            function_arn="arn:aws:lambda:us-east-1:123456789012:function:orders",
            status=status,
            started_at=now,
            ended_at=None,
            time=now,
        )

    assert events.apply(source, event(f"{base}/gone/2", "DELETING")) == "ignored"
    assert events.apply(source, event(f"{base}/new/3", "RUNNING")) == "inserted"
    assert list(Execution.objects.values_list("name", flat=True)) == ["new"]
