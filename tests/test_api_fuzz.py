"""The API never answers a 500, and every answer is the one its schema says.

Schemathesis reads the schema from the running app (/api/v1/openapi.json, through the
console's own WSGI handler, in this process and on the test database) and fuzzes every
operation in it, GET and POST: its examples, its coverage cases (each parameter at its
bounds, missing, of the wrong type) and hypothesis's random cases, valid ones and ones
the schema forbids. Each answer is checked with:

- not_a_server_error: no 5xx, ever;
- status_code_conformance: the status is one the operation documents;
- content_type_conformance: the Content-Type is one documented for that status;
- response_schema_conformance: the body is what the schema says (an error in the one
  shape {"error": {"code", "message", "field"}});
- negative_data_rejection: what the schema forbids (a wrong type, a number out of range,
  a value not in an enum, a missing body field) is refused with a 4xx;

and by hand (`_one_shape`): every 4xx body has exactly `error` with exactly `code`,
`message` (not blank) and `field`, which the schema alone does not insist on.

Left out: positive_data_acceptance (a valid request may rightly be refused: the
execution is not the token's to act on, the callback no longer waits), ignored_auth and
the other stateful checks (the token is chosen here, per case, below).

Who asks is drawn per case: most cases carry an operator's act token, the others a
viewer's read token, a staff act token, no token at all or a token that is not one, so
the refusals are fuzzed too. The data is real: executions of an offline source
(running, ended, with an input), recorded histories stored by the sync's own code
(callbacks that wait, one under a two-person policy, failures), audit entries and a bulk
job; a path's id is drawn from those rows half the time, a callback's id from the
callbacks that wait. The actions do reach a backend: the offline source's address, where
nothing answers, so each refuses at once (502, backend_refused); the retries' backoff is
shortened so that a fuzz of a few hundred actions takes seconds, not minutes (the
retries still happen).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from access import api_tokens
from actions.models import ApprovalPolicy
from executions import lambda_api
from executions.models import AuditEntry, AuditOutcome, BulkJob, Operation
from tests import factories
from web import params

CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# Who asks: an operator's act token most of the time (so the actions run their course),
# the rest split between the refusals.
WHO = ["operator"] * 6 + ["viewer", "staff", "nobody", "not-a-token"]


@dataclass
class World:
    tokens: dict[str, str]
    executions: list[int]
    callbacks: list[tuple[int, str]]
    sources: list[int]
    jobs: list[int]
    seen: dict[str, int] = field(default_factory=dict)


def _world() -> World:
    offline = factories.offline_source("offline")
    running = [
        factories.running_execution(
            offline, f"run-{i}", input_payload=json.dumps({"orderId": f"A-{i}"})
        )
        for i in range(3)
    ]
    ended = factories.running_execution(
        offline, "ended", status="SUCCEEDED", ended_at=timezone.now()
    )
    truncated = factories.running_execution(
        offline, "truncated", input_payload='{"order', input_truncated=True
    )
    recorded = [
        factories.mirror_history(name)
        for name in (
            "coffee-order-waiting-timeout",
            "durable-function-example-waiting",
            "fraud-high-failed",
            "order-processor-succeeded",
        )
    ]
    # The coffee order's callback waits under a two-person rule: an approval is held.
    ApprovalPolicy.objects.create(
        name="two people", function_pattern="coffee-order", approvals_required=2
    )
    operator = factories.user("otto", "operator")
    viewer = factories.user("vera", "viewer")
    staff = factories.user("stan", "operator", staff=True)
    for person in (operator, staff):
        AuditEntry.objects.create(
            user=person,
            username=person.username,
            action="stop",
            source=offline,
            source_name=offline.name,
            execution_arn=running[0].arn,
            outcome=AuditOutcome.FAILED,
            error="The backend refused it.",
            via="API token “ci”",
        )
    job = BulkJob.objects.create(
        user=operator, action="stop", total=2, execution_ids=[running[1].pk, running[2].pk]
    )
    executions = [e.pk for e in [*running, ended, truncated, *recorded]]
    callbacks = list(
        Operation.objects.filter(execution_id__in=executions)
        .exclude(callback_id="")
        .values_list("execution_id", "callback_id")
    )
    assert callbacks, "the recorded histories have callbacks that wait"
    return World(
        tokens={
            "operator": api_tokens.issue(operator, "fuzz", "act").secret,
            "viewer": api_tokens.issue(viewer, "fuzz", "read").secret,
            "staff": api_tokens.issue(staff, "fuzz", "act").secret,
            "not-a-token": "dcon_" + "x" * 43,
        },
        executions=executions,
        callbacks=callbacks,
        sources=[offline.pk, recorded[0].source_id],
        jobs=[job.pk],
    )


@pytest.fixture
def world(db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # A fuzzer asks far more often than API_RATE_PER_MINUTE allows a person's script.
    settings.API_RATE_PER_MINUTE = 1_000_000
    # The offline source refuses every connection; its retries need not wait seconds.
    monkeypatch.setattr(lambda_api.calls, "BACKOFF_BASE_SECONDS", 0.001)
    monkeypatch.setattr(lambda_api.calls, "BACKOFF_CAP_SECONDS", 0.01)
    # A bulk job runs here and now, not in a worker this test does not start.
    with factories.tasks_run_here():
        yield _world()


class _OnTheTestConnection:
    """While a test runs, a request's end must not close the database connection the
    test's transaction is on (Django's test client does the same)."""

    def __enter__(self) -> None:
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)

    def __exit__(self, *exc: object) -> None:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _schema(**phases: bool) -> Any:
    """The schema as the running app serves it, read through its own WSGI handler (in this
    process, on the test database), with these of schemathesis's phases."""
    config = schemathesis.Config.from_dict(
        {"phases": {name: {"enabled": on} for name, on in phases.items()}}
    )
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler(), config=config)


# The examples and the coverage cases, then hypothesis's own cases: schemathesis runs no
# coverage cases for a test that draws more than the case (@schema.given), so two tests.
coverage = _schema(examples=True, coverage=True, fuzzing=False)
fuzzing = _schema(examples=False, coverage=False, fuzzing=True)


def _whole(value: Any) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if str(number) == str(value) and 1 <= number <= params.MAX_INTEGER else None


def _real_ids(case: Any, world: World, data: Any) -> None:
    """Half the time, the path names a row that exists (an execution, its waiting
    callback, the source, the job), when the case's own id is a valid one."""
    path = case.path_parameters or {}
    if "pk" not in path or _whole(path["pk"]) is None:
        return
    if not data.draw(st.booleans(), label="a real row"):
        return
    if "callback_id" in path:
        pk, callback_id = data.draw(st.sampled_from(world.callbacks), label="callback")
        path["pk"] = pk
        if data.draw(st.booleans(), label="its callback"):
            path["callback_id"] = callback_id
        return
    if case.path.startswith("/api/v1/bulk-jobs/"):
        rows = world.jobs
    elif case.path.startswith("/api/v1/sources/"):
        rows = world.sources
    else:
        rows = world.executions
    path["pk"] = data.draw(st.sampled_from(rows), label="row")


def _no_server_error(response: Any) -> None:
    """No 5xx, but the one that says the backend could not be reached: every execution
    here is on a source where nothing answers, and 502 backend_refused is what the API
    answers then (not a failure of the console's own)."""
    if response.status_code < 500:
        return
    error = response.json().get("error", {})
    assert response.status_code == 502, (response.status_code, response.text)
    assert error.get("code") == "backend_refused", response.text
    assert "cannot reach http://127.0.0.1:9" in error.get("message", ""), response.text


def _one_shape(response: Any) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["code"] and body["error"]["message"], body


HYPOTHESIS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _exchange(case: Any, headers: dict[str, str], world: World) -> None:
    """Send the case and check the answer."""
    with _OnTheTestConnection():
        response = case.call(headers=headers)
    key = f"{case.method} {case.path} {response.status_code}"
    world.seen[key] = world.seen.get(key, 0) + 1
    _no_server_error(response)
    case.validate_response(response, checks=CHECKS, headers=headers)
    _one_shape(response)


@coverage.parametrize()
@HYPOTHESIS
def test_every_endpoint_answers_its_coverage_cases_as_its_schema_says(
    case: Any, world: World
) -> None:
    _exchange(case, {"Authorization": f"Bearer {world.tokens['operator']}"}, world)


@fuzzing.parametrize()
@fuzzing.given(data=st.data())
@HYPOTHESIS
def test_every_endpoint_answers_fuzzed_requests_as_its_schema_says(
    case: Any, data: Any, world: World
) -> None:
    who = data.draw(st.sampled_from(WHO), label="who")
    headers = {}
    # The token goes on the case itself, not only on the call: schemathesis then knows a
    # case generated without its required Authorization header now has one, and does not
    # expect the request refused for lacking it.
    sent = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if who != "nobody":
        sent["Authorization"] = f"Bearer {world.tokens[who]}"
    case.headers = sent
    _real_ids(case, world, data)
    if case.method == "POST" and data.draw(st.booleans(), label="idempotency key"):
        headers["Idempotency-Key"] = data.draw(
            st.sampled_from(["retry-1", "retry-2"])
            # Any Latin-1 text a client can send (none sends leading blanks).
            | st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300).map(
                str.lstrip
            ),
            label="key",
        )
    _exchange(case, headers, world)


# ---- by hand ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_schema_and_the_docs_page_need_no_sign_in_and_load_nothing_from_elsewhere(
    client: Client,
) -> None:
    reply = client.get("/api/v1/openapi.json")
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("application/json")
    assert "/api/v1/executions" in reply.json()["paths"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/" in html
    assert "//cdn" not in html and "unpkg" not in html and "jsdelivr" not in html
