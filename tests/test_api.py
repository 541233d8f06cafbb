"""The HTTP API (/api/v1/) with real tokens, the real sandbox behind the actions, and the
same access rules as the pages: what a token may read and do, what it answers when it may
not, and that a retried action is never sent twice."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone

from access import api_tokens
from access.models import ApiToken
from actions.models import ApprovalPolicy
from actions.validation import MAX_PAYLOAD_BYTES
from api.models import IdempotentRequest
from executions import sync
from executions.models import AuditEntry, BulkJob, Execution, Operation
from sandbox.client import history, start, wait_for_callback, wait_for_status
from tests import factories

SENDS = ("SendDurableExecutionCallbackSuccess", "SendDurableExecutionCallbackFailure")


def _secret(username: str, role: str | None = "operator", scope: str = "act", name: str = "ci"):
    person = factories.user(username, role)
    return api_tokens.issue(person, name, scope).secret


def _auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _get(client, path: str, secret: str, **params):
    return client.get(f"/api/v1{path}", params, **_auth(secret))


def _post(client, path: str, secret: str, body=None, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body or {})
    return client.post(
        f"/api/v1{path}", data, content_type="application/json", **_auth(secret), **headers
    )


def _error(reply) -> dict:
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["message"]
    return body["error"]


def _sends(api_calls) -> int:
    return sum(api_calls.count(op) for op in SENDS)


def _waiting(source, client) -> Operation:
    tag = uuid.uuid4().hex[:8]
    arn = start(client, "coffee-order", {"orderId": tag}, f"api-{tag}")
    wait_for_callback(client, arn, "baristaAccepts")
    execution = sync.sync_arn(source, arn)
    return Operation.objects.select_related("execution").get(execution=execution, type="CALLBACK")


def _callback_url(operation: Operation, verb: str) -> str:
    return f"/executions/{operation.execution_id}/callbacks/{operation.callback_id}/{verb}"


# ---- tokens ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_request_without_a_usable_token_is_refused_and_says_why(client):
    person = factories.user("tess", "operator")
    good = api_tokens.issue(person, "good").secret
    revoked = api_tokens.issue(person, "revoked")
    api_tokens.revoke(revoked.token)
    expired = api_tokens.issue(person, "expired")
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now())
    stored = ApiToken.objects.get(name="good")
    assert good not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert stored.digest == ApiToken.digest_of(good)

    cases = {
        "": "unauthenticated",
        "Basic dGVzczpwdw==": "unauthenticated",
        "Bearer dcon_" + "x" * 43: "token_invalid",
        "Bearer not-ours": "token_invalid",
        f"Bearer {revoked.secret}": "token_revoked",
        f"Bearer {expired.secret}": "token_expired",
    }
    for header, code in cases.items():
        extra = {"HTTP_AUTHORIZATION": header} if header else {}
        reply = client.get("/api/v1/executions", **extra)
        assert reply.status_code == 401, header
        assert _error(reply)["code"] == code, header
        assert reply["WWW-Authenticate"].startswith("Bearer")

    assert _get(client, "/me", good).json()["username"] == "tess"
    person.is_active = False
    person.save()
    reply = _get(client, "/me", good)
    assert reply.status_code == 401 and _error(reply)["code"] == "user_inactive"
    # A session cookie is not a token: the API does not answer to the pages' sign-in.
    client.force_login(factories.user("sam", "operator"))
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.django_db
def test_a_token_records_its_last_use(client):
    secret = _secret("lu")
    assert ApiToken.objects.get().last_used_at is None
    assert _get(client, "/me", secret).status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.django_db
def test_past_its_rate_a_token_is_answered_429_with_retry_after(client, settings):
    settings.API_RATE_PER_MINUTE = 3
    secret = _secret("busy")
    other = _secret("calm", name="other")
    codes = [_get(client, "/me", secret).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    reply = _get(client, "/me", secret)
    assert _error(reply)["code"] == "rate_limited"
    assert 1 <= int(reply["Retry-After"]) <= 60
    # Counted per token: another token is not slowed by this one.
    assert _get(client, "/me", other).status_code == 200


# ---- reading --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_pages_by_cursor_and_filters_like_the_list_page(client):
    source = factories.offline_source("pages")
    now = timezone.now()
    for index in range(7):
        factories.running_execution(
            source,
            f"run-{index}",
            function="alpha" if index % 2 else "beta",
            started_at=now - timedelta(minutes=index),
        )
    secret = _secret("reader", "viewer", scope="read")

    first = _get(client, "/executions", secret, limit=3).json()
    assert [e["name"] for e in first["items"]] == ["run-0", "run-1", "run-2"]
    second = _get(client, "/executions", secret, limit=3, cursor=first["next_cursor"]).json()
    assert [e["name"] for e in second["items"]] == ["run-3", "run-4", "run-5"]
    third = _get(client, "/executions", secret, limit=3, cursor=second["next_cursor"]).json()
    assert [e["name"] for e in third["items"]] == ["run-6"] and third["next_cursor"] is None

    alpha = Execution.objects.filter(function__name="alpha").first().function_id
    names = [e["name"] for e in _get(client, "/executions", secret, function=alpha).json()["items"]]
    assert names == ["run-1", "run-3", "run-5"]
    item = first["items"][0]
    assert item["url"] == f"/executions/{item['id']}/" and item["status"] == "RUNNING"

    for params, code, field in (
        ({"bogus": "1"}, "unknown_parameter", "bogus"),
        ({"status": "NOPE"}, "invalid", "status"),
        ({"from": "yesterday"}, "bad_query", None),
        ({"cursor": "abc"}, "bad_query", None),
        ({"limit": "0"}, "invalid", "limit"),
        ({"source": str(2**64)}, "invalid", "source"),
    ):
        reply = _get(client, "/executions", secret, **params)
        assert reply.status_code in (400, 422), params
        error = _error(reply)
        assert error["code"] == code, (params, error)
        if field:
            assert (error["field"] or "").startswith(field), (params, error)


@pytest.mark.django_db
def test_outside_the_token_owners_scope_an_execution_does_not_exist(client):
    theirs = factories.mirror_events(
        "theirs-1",
        "order-processor",
        factories.recorded_events("coffee-order-waiting-timeout"),
        "recorded/theirs-1",
    )
    mine = factories.mirror_recorded("pay-1", "coffee-order-waiting-timeout", 30)
    factories.user("pat")
    call_command("grant", "pat", "operator", "--functions", "coffee-*")
    from django.contrib.auth.models import User

    secret = api_tokens.issue(User.objects.get(username="pat"), "pat-ci", "act").secret

    names = [e["name"] for e in _get(client, "/executions", secret).json()["items"]]
    assert names == [mine.name]
    for path in ("", "/operations", "/events", "/payloads"):
        assert _get(client, f"/executions/{theirs.pk}{path}", secret).status_code == 404
        assert _get(client, f"/executions/{mine.pk}{path}", secret).status_code == 200
    callbacks = _get(client, "/callbacks", secret).json()
    assert [c["execution"]["name"] for c in callbacks["items"]] == [mine.name]
    op = Operation.objects.get(execution=theirs, type="CALLBACK")
    reply = _post(client, _callback_url(op, "succeed"), secret, {"result": {}})
    assert reply.status_code == 404 and _error(reply)["code"] == "not_found"
    assert _post(client, f"/executions/{theirs.pk}/stop", secret).status_code == 404


@pytest.mark.django_db
def test_one_execution_its_tree_events_and_payloads(client):
    execution = factories.mirror_history("hist-1", "coffee-order-waiting-timeout")
    secret = _secret("eve", "viewer", scope="read")

    header = _get(client, f"/executions/{execution.pk}", secret).json()
    assert header["arn"] == execution.arn and header["function"] == execution.function.name
    tree = _get(client, f"/executions/{execution.pk}/operations", secret).json()["operations"]
    ids = set()

    def walk(nodes):
        for node in nodes:
            ids.add(node["id"])
            walk(node["children"])

    walk(tree)
    assert ids == set(
        Operation.objects.filter(execution=execution).values_list("operation_id", flat=True)
    )

    events = execution.events.count()
    page = _get(client, f"/executions/{execution.pk}/events", secret, limit=2).json()
    assert len(page["items"]) == min(2, events)
    seen = [e["event_id"] for e in page["items"]]
    while page["next_after"] is not None:
        page = _get(
            client, f"/executions/{execution.pk}/events", secret, limit=2, after=page["next_after"]
        ).json()
        seen += [e["event_id"] for e in page["items"]]
    assert seen == sorted(execution.events.values_list("event_id", flat=True))

    payloads = _get(client, f"/executions/{execution.pk}/payloads", secret).json()
    assert payloads["input"] == json.loads(execution.input_payload)


# ---- acting ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_operator_token_answers_a_callback_once_and_the_audit_log_says_through_what(
    client, sandbox_source, lambda_sandbox, api_calls
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    secret = _secret("otto", name="deploy-bot")
    mine = _get(client, "/callbacks", secret, mine="true").json()
    assert [c["callback_id"] for c in mine["items"]] == [operation.callback_id]
    assert mine["items"][0]["may_answer"] is True
    api_calls.clear()

    reply = _post(client, _callback_url(operation, "succeed"), secret, {"result": {"ok": 1}})

    assert reply.status_code == 200, reply.content
    assert reply.json()["outcome"] == "sent" and _sends(api_calls) == 1
    events = [e["EventType"] for e in history(lambda_sandbox, operation.execution.arn)]
    assert "CallbackSucceeded" in events
    entry = AuditEntry.objects.get(action="callback_success")
    assert entry.username == "otto" and entry.via == "API token “deploy-bot”"
    assert json.loads(entry.payload) == {"ok": 1}
    client.force_login(entry.user)
    assert "via API token “deploy-bot”" in client.get("/audit/").content.decode()
    client.logout()

    again = _post(client, _callback_url(operation, "succeed"), secret, {"result": {"ok": 2}})
    assert again.status_code == 409 and _error(again)["code"] == "not_waiting"
    assert _sends(api_calls) == 1
    # The answered callback is gone from the list (the order's next one, orderCompleted,
    # may be there already: it waits as soon as the sandbox has run on, racing this read).
    left = _get(client, "/callbacks", secret, mine="true").json()["items"]
    assert operation.callback_id not in [c["callback_id"] for c in left]
    assert all(c["name"] == "orderCompleted" for c in left), left
    # A page's action afterwards is not counted as the token's.
    page_entry = AuditEntry.objects.create(username="otto", action="stop")
    assert page_entry.via == ""


@pytest.mark.django_db
def test_a_read_token_or_a_viewer_acts_on_nothing(
    client, sandbox_source, lambda_sandbox, api_calls
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    read = _secret("rita", "operator", scope="read")
    viewer = _secret("vic", "viewer", scope="act")
    api_calls.clear()
    for secret, code in ((read, "token_read_only"), (viewer, "forbidden")):
        for path in (
            _callback_url(operation, "succeed"),
            _callback_url(operation, "fail"),
            _callback_url(operation, "heartbeat"),
            f"/executions/{operation.execution_id}/stop",
            f"/executions/{operation.execution_id}/pause",
        ):
            reply = _post(client, path, secret)
            assert reply.status_code == 403, (path, reply.content)
            assert _error(reply)["code"] == code
    assert _sends(api_calls) == 0 and api_calls.count("StopDurableExecution") == 0
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_a_retried_action_with_its_idempotency_key_is_sent_once(
    client, sandbox_source, lambda_sandbox, api_calls
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    secret = _secret("ida")
    api_calls.clear()
    url = _callback_url(operation, "succeed")
    key = {"HTTP_IDEMPOTENCY_KEY": "retry-7f3a"}

    first = _post(client, url, secret, {"result": {"n": 1}}, **key)
    retry = _post(client, url, secret, {"result": {"n": 1}}, **key)

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"
    assert _sends(api_calls) == 1
    other = _post(client, url, secret, {"result": {"n": 2}}, **key)
    assert other.status_code == 422 and _error(other)["code"] == "idempotency_key_reused"
    bad = _post(client, url, secret, {}, HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert bad.status_code == 400 and _error(bad)["code"] == "bad_idempotency_key"
    assert _sends(api_calls) == 1
    # Kept per token: another token's same key is its own request.
    assert IdempotentRequest.objects.filter(key="retry-7f3a").count() == 1


@pytest.mark.django_db
def test_bad_bodies_are_refused_with_the_field_and_nothing_is_sent(
    client, sandbox_source, lambda_sandbox, api_calls, settings
):
    operation = _waiting(sandbox_source, lambda_sandbox)
    secret = _secret("bea")
    url = _callback_url(operation, "succeed")
    api_calls.clear()
    huge = {"result": {"blob": "x" * MAX_PAYLOAD_BYTES}}

    for body, status, code, field in (
        ("{not json", 400, "invalid_json", None),
        ({"result": {}, "resutl": 1}, 422, "unknown_field", "resutl"),
        ({"result": {}, "reason": 7}, 422, "invalid", "reason"),
        (huge, 422, "invalid", "result"),
    ):
        reply = _post(client, url, secret, body)
        assert reply.status_code == status, (
            body if len(str(body)) < 80 else "huge",
            reply.content[:200],
        )
        error = _error(reply)
        assert (error["code"], error["field"]) == (code, field)
    assert "1,048,576" in _error(_post(client, url, secret, huge))["message"]

    # Each field within its limit, together over the service's 1 MB: invalid input (422),
    # not a conflict with the callback's state.
    third = "z" * (MAX_PAYLOAD_BYTES // 2)
    together = {"error_type": "T", "error_message": third, "error_data": {"text": third}}
    reply = _post(client, _callback_url(operation, "fail"), secret, together)
    assert reply.status_code == 422 and _error(reply)["code"] == "invalid", reply.content[:300]
    # No body at all: the message says what to send.
    empty = client.post(f"/api/v1{url}", "", content_type="application/json", **_auth(secret))
    assert empty.status_code == 422
    assert (_error(empty)["code"], _error(empty)["field"]) == ("missing", "body")
    assert "{}" in _error(empty)["message"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    reply = _post(client, url, secret, {"result": {"blob": "y" * 2000}})
    assert reply.status_code == 413 and _error(reply)["code"] == "too_large"

    fail = _post(client, _callback_url(operation, "fail"), secret, {"error_type": ""})
    assert fail.status_code == 422 and _error(fail)["field"] == "error_type"
    assert _sends(api_calls) == 0
    assert not AuditEntry.objects.filter(action__startswith="callback").exists()


@pytest.mark.django_db
def test_under_a_two_person_policy_the_api_holds_the_first_approval(
    client, sandbox_source, lambda_sandbox, api_calls
):
    ApprovalPolicy.objects.create(
        name="two people",
        source=sandbox_source,
        function_pattern="coffee-order",
        approvals_required=2,
    )
    operation = _waiting(sandbox_source, lambda_sandbox)
    alice, bob = _secret("alice", name="a"), _secret("bob", name="b")
    api_calls.clear()
    url = _callback_url(operation, "succeed")

    first = _post(client, url, alice, {"result": {"go": True}})
    assert first.status_code == 200 and first.json()["outcome"] == "held"
    held = AuditEntry.objects.get(pk=first.json()["audit_id"])
    assert (held.action, held.username) == ("approval", "alice")
    assert first.json()["approval"]["approvals"] == ["alice"]
    waiting = _get(client, "/callbacks", alice).json()["items"][0]
    assert waiting["may_answer"] is False and "already" in waiting["why_not"]
    assert _get(client, "/callbacks", alice, mine="true").json()["total"] == 0
    assert _get(client, "/callbacks", bob, mine="true").json()["total"] == 1
    assert _sends(api_calls) == 0

    second = _post(client, url, bob, {"result": {"go": True}})
    assert second.json()["outcome"] == "sent" and _sends(api_calls) == 1


@pytest.mark.django_db
def test_stop_and_a_bulk_stop_by_filter(client, sandbox_source, lambda_sandbox):
    arns = []
    for _ in range(3):
        tag = uuid.uuid4().hex[:8]
        arn = start(lambda_sandbox, "coffee-order", {"orderId": tag}, f"bulk-{tag}")
        wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
        arns.append(arn)
    executions = [sync.sync_arn(sandbox_source, arn) for arn in arns]
    secret = _secret("stan", name="cleanup")

    one = _post(
        client, f"/executions/{executions[0].pk}/stop", secret, {"error_message": "runaway"}
    )
    assert one.status_code == 200 and one.json()["outcome"] == "sent"
    wait_for_status(lambda_sandbox, arns[0], "STOPPED")
    again = _post(client, f"/executions/{executions[0].pk}/stop", secret)
    assert again.status_code == 409 and _error(again)["code"] == "ended"

    flt = {"function": executions[1].function_id, "status": ["RUNNING"], "name": "bulk-"}
    dry = _post(client, "/bulk-jobs", secret, {"filter": flt, "dry_run": True})
    assert dry.status_code == 200 and dry.json()["total"] == 2 and not BulkJob.objects.exists()
    neither = _post(client, "/bulk-jobs", secret, {})
    assert neither.status_code == 422 and _error(neither)["field"] == "ids"
    bad_date = _post(client, "/bulk-jobs", secret, {"filter": {"from": "yesterday"}})
    assert bad_date.status_code == 422, bad_date.content
    assert _error(bad_date)["code"] == "invalid" and "yesterday" in _error(bad_date)["message"]

    with factories.tasks_run_here():
        made = _post(client, "/bulk-jobs", secret, {"filter": flt})
    assert made.status_code == 201, made.content
    job = _get(client, f"/bulk-jobs/{made.json()['id']}", secret).json()
    assert job["finished"] and job["done"] == 2 and job["failures"] == []
    for arn in arns[1:]:
        wait_for_status(lambda_sandbox, arn, "STOPPED")
    vias = set(AuditEntry.objects.filter(action="stop").values_list("via", flat=True))
    assert vias == {"API token “cleanup”"}
    # Someone else's job is not theirs to read, unless they see everything.
    factories.user("olga")
    call_command("grant", "olga", "operator", "--functions", "other-*")
    from django.contrib.auth.models import User

    olga = api_tokens.issue(User.objects.get(username="olga"), "o", "act").secret
    assert _get(client, f"/bulk-jobs/{made.json()['id']}", olga).status_code == 404


@pytest.mark.django_db
def test_start_and_start_again(client, sandbox_source, lambda_sandbox):
    sync.poll_source(sandbox_source)
    function = sandbox_source.functions.get(name="coffee-order")
    secret = _secret("sia", name="starter")
    name = f"api-start-{uuid.uuid4().hex[:6]}"

    made = _post(
        client,
        "/executions",
        secret,
        {"function_id": function.pk, "name": name, "input": {"orderId": "s-1"}},
    )
    assert made.status_code == 201, made.content
    started = made.json()["execution"]
    assert started["name"] == name
    wait_for_callback(lambda_sandbox, started["arn"], "baristaAccepts")

    again = _post(client, f"/executions/{started['id']}/start-again", secret, {})
    assert again.status_code == 201, again.content
    copy = Execution.objects.get(pk=again.json()["execution"]["id"])
    assert copy.name.startswith(name) and json.loads(copy.input_payload) == {"orderId": "s-1"}

    bad_name = _post(client, "/executions", secret, {"function_id": function.pk, "name": "a b"})
    assert bad_name.status_code == 422 and _error(bad_name)["field"] == "name"
    nobody = _post(client, "/executions", secret, {"function_id": 999999, "name": "x"})
    assert nobody.status_code == 422 and _error(nobody)["field"] == "function_id"

    # Someone who may read coffee-order but act only on other functions is told so.
    from access import roles

    reader = factories.user("rita", None)
    roles.sync_roles(
        reader, "manual", {"viewer": ["test"], ("operator", None, "other-*"): ["test"]}
    )
    rita = api_tokens.issue(reader, "r", "act").secret
    for path, body in (
        ("/executions", {"function_id": function.pk, "name": "not-mine"}),
        (f"/executions/{started['id']}/start-again", {}),
    ):
        reply = _post(client, path, rita, body)
        assert reply.status_code == 403, (path, reply.content)
        assert _error(reply)["code"] == "forbidden"


@pytest.mark.django_db
def test_the_audit_log_filters_pages_and_exports_json_lines(client):
    for index in range(5):
        AuditEntry.objects.create(
            username="ann" if index % 2 else "ben",
            action="stop",
            execution_arn=f"arn:{index}",
            via="API token “x”" if index == 4 else "",
        )
    secret = _secret("aud", "viewer", scope="read")
    page = _get(client, "/audit", secret, limit=2).json()
    assert [e["execution_arn"] for e in page["items"]] == ["arn:4", "arn:3"]
    assert page["items"][0]["via"] == "API token “x”"
    rest = _get(client, "/audit", secret, cursor=page["next_cursor"]).json()
    assert [e["execution_arn"] for e in rest["items"]] == ["arn:2", "arn:1", "arn:0"]
    anns = _get(client, "/audit", secret, username="ann").json()["items"]
    assert {e["username"] for e in anns} == {"ann"} and len(anns) == 2

    export = _get(client, "/audit/export", secret, username="ben")
    assert export["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert [json.loads(line)["execution_arn"] for line in lines] == ["arn:4", "arn:2", "arn:0"]
    bad = _get(client, "/audit", secret, outcome="MAYBE")
    assert bad.status_code == 422 and _error(bad)["field"] == "outcome"


@pytest.mark.django_db
def test_sources_for_everyone_and_their_sync_figures_for_staff(client):
    source = factories.offline_source("offline-1")
    reader = _secret("rae", "viewer", scope="read")
    staff_user = factories.user("sta", staff=True)
    staff = api_tokens.issue(staff_user, "mon", "read").secret

    sources = _get(client, "/sources", reader).json()
    assert [s["name"] for s in sources] == ["offline-1"]
    refused = _get(client, f"/sources/{source.pk}/health", reader)
    assert refused.status_code == 403 and _error(refused)["code"] == "forbidden"
    figures = _get(client, f"/sources/{source.pk}/health", staff).json()
    assert figures["source"] == "offline-1" and "executions" in figures
    assert _get(client, "/sources/999999/health", staff).status_code == 404


@pytest.mark.django_db
def test_the_schema_and_docs_page_need_no_token_and_no_cdn(client):
    schema = client.get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/api/v1/executions",
        "/api/v1/executions/{pk}",
        "/api/v1/callbacks",
        "/api/v1/executions/{pk}/callbacks/{callback_id}/succeed",
        "/api/v1/bulk-jobs",
        "/api/v1/audit/export",
        "/api/v1/sources",
    } <= paths
    page = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and _error(missing)["code"] == "not_found"


@pytest.mark.django_db
def test_a_group_role_acts_through_a_token_too(client):
    person = factories.user("gus")
    person.groups.add(Group.objects.get_or_create(name="operator")[0])
    secret = api_tokens.issue(person, "g", "act").secret
    assert _get(client, "/me", secret).json()["may_act"] is True


@pytest.mark.django_db
def test_a_retry_while_the_first_request_runs_waits_and_old_keys_are_forgotten(client):
    from django.test import RequestFactory

    from api import idempotency

    secret = _secret("ray")
    token = ApiToken.objects.get()
    path = "/api/v1/executions/1/stop"
    body = json.dumps({"error_message": "x"})
    first = RequestFactory().post(path, body, content_type="application/json")
    IdempotentRequest.objects.create(
        token=token, key="k-1", fingerprint=idempotency._fingerprint(first)
    )
    reply = _post(client, "/executions/1/stop", secret, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert reply.status_code == 409 and _error(reply)["code"] == "request_in_progress"

    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))
    IdempotentRequest.objects.create(token=token, key="k-2", fingerprint="f")
    assert idempotency.forget_old() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["k-2"]


# ---- callback ids in URLs ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_callback_id_as_aws_writes_it_reaches_its_callback_and_a_nul_finds_nothing(client):
    """AWS's callback ids are base64, so they may hold "/", "+" and "="; both the page and
    the API reach such a callback. A NUL in the URL (which PostgreSQL refuses to compare)
    finds no callback on either, never a server error."""
    source = factories.offline_source("ids")
    execution = factories.running_execution(source, "slashed")
    callback_id = "Ab+c/9d/E=="
    Operation.objects.create(
        execution=execution,
        operation_id="op-1",
        type="CALLBACK",
        status="STARTED",
        callback_id=callback_id,
        name="approve",
    )
    secret = _secret("ids", role="operator")
    factories.signed_in(client, "ids-page", "operator")

    page = client.get(f"/executions/{execution.pk}/callbacks/{callback_id}/")
    assert page.status_code == 200 and b"approve" in page.content
    reply = _post(client, f"/executions/{execution.pk}/callbacks/{callback_id}/heartbeat", secret)
    # Reached the callback: the offline source cannot be called, which is a 502, not a 404.
    assert reply.status_code == 502, reply.content
    assert _error(reply)["code"] != "not_found"

    for bad in ("%00", "a%00b", "a%20b"):
        assert client.get(f"/executions/{execution.pk}/callbacks/{bad}/").status_code == 404
        reply = _post(client, f"/executions/{execution.pk}/callbacks/{bad}/heartbeat", secret)
        assert reply.status_code == 404 and _error(reply)["code"] == "not_found"


@pytest.mark.django_db
def test_any_other_path_under_api_answers_json_404_for_any_method(client):
    paths = ("/api/v2/executions", "/api/v1/nope", "/api/v1/a%0Ab", "/api/v1/executions/1/x%00")
    for path in paths:
        for method in (client.get, client.post, client.delete):
            reply = method(path)
            assert reply.status_code == 404, (path, reply.status_code)
            assert _error(reply)["code"] == "not_found", path


@pytest.mark.django_db
def test_every_answer_writes_times_one_way(client, sandbox_source, lambda_sandbox):
    """A read, an action's answer, the audit export and the operation tree write a time
    alike: ISO 8601, UTC, milliseconds, Z."""
    import re

    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    operation = _waiting(sandbox_source, lambda_sandbox)
    secret = _secret("tim", role="operator")
    pk = operation.execution_id
    header = _get(client, f"/executions/{pk}", secret).json()
    tree = _get(client, f"/executions/{pk}/operations", secret).json()["operations"]
    beat = _post(client, _callback_url(operation, "heartbeat"), secret).json()
    export = _get(client, "/audit/export", secret)
    assert export["Content-Type"] == "application/x-ndjson; charset=utf-8"
    line = json.loads(b"".join(export.streaming_content).decode().splitlines()[0])
    for value in (
        header["started_at"],
        tree[0]["started_at"],
        beat["execution"]["started_at"],
        line["created_at"],
    ):
        assert stamp.match(value), value


@pytest.mark.django_db
def test_a_page_of_callbacks_past_the_last_is_empty_with_or_without_mine(client):
    secret = _secret("pam")
    for mine in ("false", "true"):
        body = _get(client, "/callbacks", secret, page=99, mine=mine).json()
        assert (body["items"], body["page"], body["pages"]) == ([], 99, 1), mine


@pytest.mark.django_db
def test_a_reason_given_without_a_policy_is_kept_in_the_audit_log(
    client, sandbox_source, lambda_sandbox
):
    """No policy asks for one, but a reason given (a Slack reason box, the API's field) is
    not lost: the send's audit entry keeps it, and the audit log shows it."""
    operation = _waiting(sandbox_source, lambda_sandbox)
    secret = _secret("rhea")
    url = _callback_url(operation, "succeed")
    reply = _post(client, url, secret, {"reason": "  checked with the customer  "})
    assert reply.status_code == 200 and reply.json()["outcome"] == "sent", reply.content
    entry = AuditEntry.objects.get(pk=reply.json()["audit_id"])
    assert (entry.action, entry.reason) == ("callback_success", "checked with the customer")
    assert json.loads(entry.payload) == {"approved": True}
    listed = _get(client, "/audit", secret).json()["items"][0]
    assert listed["reason"] == "checked with the customer"
    factories.signed_in(client, "rhea-page", "operator")
    page = client.get("/audit/").content.decode()
    assert "reason: checked with the customer" in page
