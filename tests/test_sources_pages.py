"""The sources pages: everyone signed in reads them, only admins change them (a viewer's
POST is refused with the one 403 and changes nothing), the form says what is wrong, every
change is in the audit log, and "Test connection" says what failed: nothing answering,
refused credentials, or the IAM action that is missing.

The connection tests call the real sandbox, an address where nothing listens, and the
sandbox behind tests/iam_proxy.py, which answers as AWS does when IAM refuses a call."""

from __future__ import annotations

import html
import json
import uuid

import pytest

from access.models import RoleGrant
from executions.models import AuditEntry, AuditOutcome, Credentials, Execution, Function, Source
from sandbox.client import start
from tests import factories
from tests.iam_proxy import IamProxy

pytestmark = pytest.mark.django_db

# A complete, valid form for a source on the sandbox-like local address.
FORM = {
    "name": "staging",
    "endpoint_url": "http://127.0.0.1:9",
    "region": "us-east-1",
    "credentials": "none",
    "function_names": "orders\npayments:live",
    "reconcile_interval_seconds": "300",
    "list_interval_seconds": "5",
    "execution_interval_seconds": "3",
    "quota_share": "70",
    "api_quotas": "{}",
}


@pytest.fixture
def viewer(client):
    return factories.signed_in(client, "vera", "viewer")


@pytest.fixture
def admin(client):
    return factories.signed_in(client, "ada", superuser=True)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _page_text(response) -> str:
    return html.unescape(response.content.decode())


# ---- reading ------------------------------------------------------------------------------


def test_a_viewer_reads_the_list_and_a_source_but_sees_no_button_to_change_them(viewer):
    source = factories.offline_source(
        "prod-eu", last_error="ListFunctions: cannot reach http://127.0.0.1:9"
    )
    Function.objects.create(
        source=source,
        name="orders",
        discovered=True,
        durable_config={"RetentionPeriodInDays": 14, "ExecutionTimeout": 86400},
    )
    listing = viewer.get("/sources/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert 'data-source="prod-eu"' in page and "paused" in page
    assert "cannot reach http://127.0.0.1:9" in page
    assert "Add a source" not in page

    detail = viewer.get(f"/sources/{source.pk}/").content.decode()
    assert "orders" in detail and "14 days" in detail and "1 d" in detail
    for button in ("test-connection", "edit-source", "pause-source", "remove-source"):
        assert button not in detail


def test_the_navigation_links_to_the_sources_page(viewer):
    page = viewer.get("/executions/").content.decode()
    assert 'href="/sources/"' in page


def test_a_source_that_does_not_exist_answers_the_404_page(viewer):
    response = viewer.get("/sources/987654/")
    assert response.status_code == 404
    assert "There is no source #987654" in response.content.decode()


def test_a_person_scoped_to_one_source_sees_only_that_source(client):
    mine = factories.offline_source("mine")
    other = factories.offline_source("other")
    Function.objects.create(source=mine, name="orders")
    Function.objects.create(source=other, name="secret")
    person = factories.user("sam")
    RoleGrant.objects.create(user=person, role="viewer", scope_source=mine, source="manual")
    client.force_login(person)
    page = client.get("/sources/").content.decode()
    assert 'data-source="mine"' in page and 'data-source="other"' not in page
    assert client.get(f"/sources/{other.pk}/").status_code == 404


# ---- who may change them: the attack, performed ---------------------------------------------


def test_a_viewer_posting_a_change_gets_403_and_nothing_changes(viewer):
    source = factories.offline_source("prod", enabled=True, function_names=["orders"])
    before = Source.objects.values().get(pk=source.pk)
    attempts = [
        ("get", "/sources/new", None),
        ("post", "/sources/new", FORM),
        ("get", f"/sources/{source.pk}/edit", None),
        ("post", f"/sources/{source.pk}/edit", {**FORM, "name": "renamed"}),
        ("post", f"/sources/{source.pk}/pause", {}),
        ("post", f"/sources/{source.pk}/resume", {}),
        ("post", f"/sources/{source.pk}/test", {}),
        ("get", f"/sources/{source.pk}/delete", None),
        ("post", f"/sources/{source.pk}/delete", {}),
    ]
    for method, url, data in attempts:
        response = getattr(viewer, method)(url, data)
        assert response.status_code == 403, url
        body = response.content.decode()
        assert 'data-testid="forbidden"' in body, url
        assert "is for admins (staff accounts)" in body, url
    assert list(Source.objects.values_list("name", flat=True)) == ["prod"]
    assert Source.objects.values().get(pk=source.pk) == before
    assert not AuditEntry.objects.exists()


def test_an_operator_who_is_not_staff_may_not_change_sources_either(client):
    factories.signed_in(client, "otto", "operator")
    source = factories.offline_source("prod", enabled=True)
    assert client.post(f"/sources/{source.pk}/pause", {}).status_code == 403
    assert Source.objects.get(pk=source.pk).enabled


# ---- the form ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required"),
        ({"name": "has space"}, "name", "Use only letters, digits, - and _"),
        ({"region": "Frankfurt"}, "region", "is not a Region"),
        ({"endpoint_url": "", "credentials": "none"}, "credentials", "AWS refuses unsigned"),
        ({"credentials": "profile"}, "profile", "Name the profile"),
        ({"profile": "ops"}, "profile", "only with “Named profile”"),
        (
            {"credentials": "default", "role_arn": "arn:aws:iam::12:role/x"},
            "role_arn",
            "12-digit account",
        ),
        (
            {"credentials": "none", "role_arn": "arn:aws:iam::123456789012:role/reader"},
            "role_arn",
            "needs signed requests",
        ),
        ({"role_external_id": "abc"}, "role_external_id", "goes with a role"),
        (
            {
                "credentials": "default",
                "role_arn": "arn:aws:iam::123456789012:role/reader",
                "role_external_id": "has spaces in it",
            },
            "role_external_id",
            "no spaces",
        ),
        ({"function_names": ""}, "function_names", "Name at least one function"),
        ({"function_names": "bad name!"}, "function_names", "a function name is 1-140"),
        ({"events_queue_url": "my-queue"}, "events_queue_url", "https://sqs.REGION"),
        ({"quota_share": "0"}, "quota_share", "quota_share"),
        ({"quota_share": "١٢"}, "quota_share", "quota_share"),
        ({"api_quotas": "{bad"}, "api_quotas", "Give valid JSON"),
        ({"api_quotas": '{"Invoke": 5}'}, "api_quotas", "is not budgeted"),
        ({"api_quotas": "[]"}, "api_quotas", "JSON object"),
    ],
)
def test_a_bad_source_is_refused_with_a_message_at_its_field(admin, change, field, message):
    response = admin.post("/sources/new", {**FORM, **change})
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert message in " ".join(form.errors[field])
    page = response.content.decode()
    assert "The source was not saved" in page
    assert not Source.objects.exists() and not AuditEntry.objects.exists()


def test_a_second_source_with_the_same_name_is_refused(admin):
    factories.offline_source("staging")
    response = admin.post("/sources/new", FORM)
    assert response.status_code == 400
    assert "exists already" in " ".join(response.context["form"].errors["name"])


# ---- every change in the audit log -----------------------------------------------------------


def test_an_admin_adds_edits_pauses_resumes_and_removes_a_source_each_in_the_audit_log(admin):
    response = admin.post(
        "/sources/new",
        {
            **FORM,
            "endpoint_url": "",
            "credentials": "default",
            "role_arn": "arn:aws:iam::123456789012:role/console-reader",
            "role_external_id": "tenant-42",
        },
    )
    source = Source.objects.get(name="staging")
    assert response.status_code == 302 and response["Location"] == f"/sources/{source.pk}/"
    assert source.function_names == ["orders", "payments:live"]
    assert source.role_external_id == "tenant-42" and source.is_aws and source.enabled

    page = admin.get(f"/sources/{source.pk}/").content.decode()
    assert "123456789012" in page and "tenant-42" in page  # the account, from the role

    Source.objects.filter(pk=source.pk).update(capabilities={"PauseDurableExecution": True})
    admin.post(f"/sources/{source.pk}/edit", {**FORM, "region": "eu-west-1"})
    source.refresh_from_db()
    assert source.region == "eu-west-1"
    # Another Region is another backend: what was learned of the old one is forgotten.
    assert source.capabilities == {}
    admin.post(f"/sources/{source.pk}/pause", {})
    assert not Source.objects.get(pk=source.pk).enabled
    admin.post(f"/sources/{source.pk}/resume", {})
    assert Source.objects.get(pk=source.pk).enabled
    admin.post(f"/sources/{source.pk}/delete", {})
    assert not Source.objects.exists()

    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.action, e.username, e.source_name, e.outcome) for e in entries] == [
        ("source_created", "ada", "staging", AuditOutcome.SUCCEEDED),
        ("source_changed", "ada", "staging", AuditOutcome.SUCCEEDED),
        ("source_paused", "ada", "staging", AuditOutcome.SUCCEEDED),
        ("source_resumed", "ada", "staging", AuditOutcome.SUCCEEDED),
        ("source_deleted", "ada", "staging", AuditOutcome.SUCCEEDED),
    ]
    created = json.loads(entries[0].payload.split(": ", 1)[1])
    assert created["role_external_id"] == "tenant-42"
    # A change records what changed, and only that (the rest was posted as it was).
    changed = json.loads(entries[1].payload.split(": ", 1)[1])
    assert changed["region"] == "eu-west-1" and "name" not in changed

    audit = admin.get("/audit/").content.decode()
    for words in ("Added source", "Changed source", "Paused source", "Resumed source"):
        assert words in audit
    assert "Removed source" in audit


def test_removing_asks_first_and_says_what_goes_with_the_source(admin):
    source = factories.offline_source("old")
    factories.running_execution(source, "one")
    factories.running_execution(source, "two")
    lonely = factories.user("lonely")
    RoleGrant.objects.create(user=lonely, role="viewer", scope_source=source, source="manual")

    confirm = admin.get(f"/sources/{source.pk}/delete")
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "<strong>2</strong> mirrored executions" in page
    assert "<strong>1</strong> functions" in page
    assert "Nothing is deleted on the endpoint itself" in page
    # The person whose only grant is on it would read everything afterwards: said first.
    assert "lonely" in page and "reads every source" in page
    assert Source.objects.filter(pk=source.pk).exists() and not AuditEntry.objects.exists()

    # So removing it is refused while that is so: performed, nothing goes.
    refused = admin.post(f"/sources/{source.pk}/delete", {})
    assert refused.status_code == 409 and "cannot be removed yet" in refused.content.decode()
    assert Source.objects.filter(pk=source.pk).exists()
    assert Execution.objects.filter(name__in=["one", "two"]).count() == 2
    assert not AuditEntry.objects.exists()

    # Once the person has a grant elsewhere, it goes.
    RoleGrant.objects.create(user=lonely, role="viewer", function_pattern="x-*", source="manual")
    done = admin.post(f"/sources/{source.pk}/delete", {}, follow=True)
    assert not Source.objects.filter(pk=source.pk).exists()
    assert not Execution.objects.filter(name__in=["one", "two"]).exists()
    assert any("Removed the source old" in m for m in _messages(done))
    assert AuditEntry.objects.get(action="source_deleted").source_name == "old"


# ---- test connection ---------------------------------------------------------------------------


def test_test_connection_succeeds_against_the_sandbox_and_is_audited(
    admin, sandbox, sandbox_source, lambda_sandbox
):
    # An execution to read, so every read call of the sync is tried.
    start(lambda_sandbox, "coffee-order", {}, f"probe-{uuid.uuid4().hex[:8]}")
    response = admin.post(f"/sources/{sandbox_source.pk}/test", {}, follow=True)
    assert f"The connection to {sandbox_source.name} works." in _messages(response)
    text = _page_text(response)
    assert "Connection test: it works" in text and 'data-ok="no"' not in text
    assert "ListFunctions answered" in text and "durable" in text
    assert "ListDurableExecutionsByFunction answered" in text
    assert "GetDurableExecution answered" in text
    assert "GetDurableExecutionHistory answered" in text
    entry = AuditEntry.objects.get(action="source_tested")
    assert entry.outcome == AuditOutcome.SUCCEEDED and entry.source_name == sandbox_source.name


def test_test_connection_says_nothing_answers_at_a_dead_address(admin):
    source = factories.offline_source("dead", function_names=["orders"], enabled=True)
    response = admin.post(f"/sources/{source.pk}/test", {}, follow=True)
    assert "The connection test of dead failed. What each call said is below." in _messages(
        response
    )
    text = _page_text(response)
    assert "Connection test: it failed" in text
    assert "Nothing answers at http://127.0.0.1:9" in text
    # The result is shown once; the page read again does not repeat an old test.
    assert "Connection test" not in _page_text(admin.get(f"/sources/{source.pk}/"))
    entry = AuditEntry.objects.get(action="source_tested")
    assert entry.outcome == AuditOutcome.FAILED and "Nothing answers" in entry.error


def test_test_connection_names_the_iam_action_that_is_missing(admin, sandbox, lambda_sandbox):
    start(lambda_sandbox, "coffee-order", {}, f"denied-{uuid.uuid4().hex[:8]}")
    with IamProxy(sandbox.endpoint_url, deny="GetDurableExecutionHistory") as proxy:
        source = Source.objects.create(
            name="behind-iam",
            region=sandbox.region,
            endpoint_url=proxy.url,
            credentials=Credentials.NONE,
            function_names=["coffee-order"],
        )
        response = admin.post(f"/sources/{source.pk}/test", {}, follow=True)
    assert (
        "The connection test of behind-iam failed: permission missing: "
        "lambda:GetDurableExecutionHistory. What each call said is below."
    ) in _messages(response)
    text = _page_text(response)
    assert "Permission missing: lambda:GetDurableExecutionHistory." in text
    # What it was allowed to do is said to work.
    assert "ListDurableExecutionsByFunction answered" in text
    assert "GetDurableExecution answered" in text
    entry = AuditEntry.objects.get(action="source_tested")
    assert entry.outcome == AuditOutcome.FAILED
    assert "lambda:GetDurableExecutionHistory" in entry.error


def test_test_connection_says_the_credentials_were_refused(admin, sandbox):
    with IamProxy(sandbox.endpoint_url, refuse_credentials=True) as proxy:
        source = Source.objects.create(
            name="bad-keys",
            region=sandbox.region,
            endpoint_url=proxy.url,
            credentials=Credentials.NONE,
            discover=True,
        )
        response = admin.post(f"/sources/{source.pk}/test", {}, follow=True)
    text = _page_text(response)
    assert "The credentials were refused (UnrecognizedClientException)" in text
    assert [answer for _, answer in proxy.answered] == ["refused"]
    # Nothing else is tried with credentials that are refused.
    assert "ListDurableExecutionsByFunction" not in text


def test_a_source_removed_in_the_django_admin_is_in_the_audit_log_too(admin):
    source = factories.offline_source("from-admin")
    confirm = admin.get(f"/admin/executions/source/{source.pk}/delete/")
    assert confirm.status_code == 200
    response = admin.post(f"/admin/executions/source/{source.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Source.objects.filter(pk=source.pk).exists()
    entry = AuditEntry.objects.get(action="source_deleted")
    assert (entry.username, entry.source_name) == ("ada", "from-admin")
