"""Permissions per team: a person whose grants are scoped to some functions sees and acts
on those only. Everything else answers 404 on every URL (the same page as an id that does
not exist), and no list, count, inbox, overview or audit page tells that it exists."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

from access.models import RoleGrant
from executions.models import AuditEntry, AuditOutcome, Operation
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """Two teams' executions: coffee-order (payments) waits for a callback; order-processor
    (another team's) too, and has ended runs."""
    payments = factories.mirror_recorded("pay-1", "coffee-order-waiting-timeout", 30)
    theirs = factories.mirror_events(
        "theirs-1",
        "order-processor",
        factories.recorded_events("coffee-order-waiting-timeout"),
        "recorded/theirs-1",
    )
    ended = factories.mirror_events(
        "theirs-2",
        "order-processor",
        factories.recorded_events("order-processor-succeeded"),
        "recorded/theirs-2",
    )
    for execution in (payments, theirs, ended):
        AuditEntry.objects.create(
            username="someone",
            action="stop",
            execution_arn=execution.arn,
            outcome=AuditOutcome.SUCCEEDED,
        )
    return {"payments": payments, "theirs": theirs, "ended": ended}


@pytest.fixture
def pat(client):
    """An operator of the payments team: on coffee-* only, by hand."""
    factories.signed_in(client, "pat")
    call_command("grant", "pat", "operator", "--functions", "coffee-*")
    return client


def _urls(execution) -> list[str]:
    op = Operation.objects.filter(execution=execution).first()
    callback = Operation.objects.filter(execution=execution, type="CALLBACK").first()
    base = f"/executions/{execution.pk}"
    return [
        f"{base}/",
        *(f"{base}/{tab}/" for tab in ("graph", "operations", "events", "timeline", "io")),
        f"{base}/header",
        f"{base}/callback",
        f"{base}/export.json",
        f"{base}/graph.svg",
        f"{base}/tree-rows?parent=",
        f"{base}/operations/{op.operation_id}",
        f"{base}/compare-previous",
        f"/executions/{execution.pk}/callbacks/{callback.callback_id}/",
        f"/functions/{execution.function_id}/",
    ]


def test_outside_their_scope_every_url_answers_as_if_it_did_not_exist(pat, world):
    theirs, mine = world["theirs"], world["payments"]
    for url in _urls(theirs):
        response = pat.get(url, HTTP_HX_REQUEST="true" if "tree-rows" in url else "")
        assert response.status_code == 404, url
    # The same answer as an execution that does not exist.
    missing = pat.get("/executions/999999/")
    assert missing.status_code == 404
    assert pat.get(f"/executions/{theirs.pk}/").content.decode().count("999999") == 0
    assert pat.get(f"/executions/lookup/?arn={theirs.arn}").status_code == 404
    compare = pat.get(f"/executions/compare?a={mine.pk}&b={theirs.pk}")
    assert compare.status_code == 404
    for url in _urls(mine):
        if url.endswith("compare-previous"):
            continue  # it has no previous run: a 404 of its own
        response = pat.get(url, HTTP_HX_REQUEST="true" if "tree-rows" in url else "")
        assert response.status_code in (200, 302), url


def test_no_list_count_inbox_overview_or_audit_page_tells_it_exists(pat, world):
    theirs = world["theirs"]
    pages = {
        "list": pat.get("/executions/").content.decode(),
        "search": pat.get("/executions/?name=theirs").content.decode(),
        "inbox": pat.get("/approvals/").content.decode(),
        "overview": pat.get("/").content.decode(),
        "audit": pat.get("/audit/").content.decode(),
        "rows": pat.get(f"/executions/rows?ids={theirs.pk},{world['ended'].pk}").content.decode(),
    }
    for name, page in pages.items():
        assert "theirs-1" not in page and "theirs-2" not in page, name
        assert "order-processor" not in page, name
    assert "pay-1" in pages["list"] and "pay-1" in pages["inbox"]
    # The counts are theirs: one execution, one callback waiting.
    assert re.search(r'data-testid="approvals-count"[^>]*>\s*1\s*<', pages["list"])
    assert pat.get("/approvals/count").content.decode().count(">1<") == 1
    assert pat.get("/executions/?status=SUCCEEDED").content.decode().count("theirs") == 0
    assert pat.get("/executions/news?since=0.0").status_code == 200


def test_they_act_in_their_scope_and_only_there(pat, world):
    theirs, mine = world["theirs"], world["payments"]
    refused = pat.post(f"/executions/{theirs.pk}/stop", {"error_type": "X"})
    assert refused.status_code == 404
    allowed = pat.post(f"/executions/{mine.pk}/stop", {"error_type": "X"})
    # Allowed: it went on to the backend (the recorded source answers nothing: a message).
    assert allowed.status_code == 302
    callback = Operation.objects.get(execution=theirs, type="CALLBACK")
    answer = pat.post(
        f"/executions/{theirs.pk}/callbacks/{callback.callback_id}/succeed", {"result": "{}"}
    )
    assert answer.status_code == 404


def test_a_viewer_everywhere_and_operator_on_some_reads_all_and_acts_on_their_own(client, world):
    factories.signed_in(client, "val")
    call_command("grant", "val", "operator", "--functions", "coffee-*")
    RoleGrant.objects.create(
        user=RoleGrant.objects.get(user__username="val").user, role="viewer", source="manual"
    )
    theirs = world["theirs"]
    assert client.get(f"/executions/{theirs.pk}/").status_code == 200
    refused = client.post(f"/executions/{theirs.pk}/stop", {"error_type": "X"})
    assert refused.status_code == 403
    assert "let you read order-processor but not act on it" in refused.content.decode()
    page = client.get(f"/executions/{theirs.pk}/").content.decode()
    assert 'data-testid="refresh-now"' not in page


def test_bulk_stop_by_filter_takes_only_what_they_may_act_on(pat, world):
    from executions.models import BulkJob

    response = pat.post("/executions/bulk-stop", {"scope": "filter", "filter": "", "confirm": ""})
    page = response.content.decode()
    assert "pay-1" in page and "theirs-1" not in page
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    digest = re.search(r'name="digest" value="([^"]+)"', page).group(1)
    pat.post(
        "/executions/bulk-stop",
        {"scope": "filter", "filter": "", "confirm": "yes", "token": token, "digest": digest},
    )
    assert BulkJob.objects.get().execution_ids == [world["payments"].pk]


def test_someone_without_any_grant_reads_everything_as_before(world):
    reader = Client()
    factories.signed_in(reader, "rita")
    assert reader.get(f"/executions/{world['theirs'].pk}/").status_code == 200


def test_a_group_of_the_identity_provider_gives_a_scoped_grant(world, settings):
    from access import roles, scope
    from access.models import RoleSource

    settings.SSO_GROUP_ROLES = {"payments": [("operator", "recorded", "coffee-*")]}
    person = factories.user("sso-pat")
    granted = roles.grants_for_groups(["payments"], settings.SSO_GROUP_ROLES)
    roles.sync_roles(person, RoleSource.PROVIDER, granted, by="test")
    visible = scope.scope_of(person)
    assert visible.may_see(world["payments"]) and not visible.may_see(world["theirs"])
    assert roles.may_act(person, world["payments"]) and not roles.may_act(person, world["theirs"])
    assert roles.effective_roles(person) == {"operator on coffee-* in recorded"}


def test_a_bulk_jobs_page_is_its_owners_and_not_another_teams(pat, world):
    from executions.models import BulkJob

    owner = factories.user("owner", "operator")
    job = BulkJob.objects.create(
        user=owner, action="stop", total=1, execution_ids=[world["theirs"].pk]
    )
    assert pat.get(f"/jobs/{job.pk}/").status_code == 404
    everyone = Client()
    factories.signed_in(everyone, "boss", "operator")
    assert everyone.get(f"/jobs/{job.pk}/").status_code == 200


def test_the_account_page_says_where_a_scoped_role_holds(pat):
    page = pat.get("/account/").content.decode()
    assert "<strong>operator</strong> on coffee-*, from a grant by hand" in page
