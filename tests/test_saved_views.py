"""Saved views: a filter of the executions list or of Needs attention, saved under a name for
oneself, a group of one's own, or everyone; in the navigation's Views menu as the page's own
URL; read by the page's own parser when saved (refused with the reason) and when shown (a
view that no longer opens is marked with the reason, never dropped, never a 500); changed
or deleted by its owner or an admin only; and never showing anyone more than their scope."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from browser.models import SavedView, Sharing
from executions import attention
from executions.models import Function
from tests import factories

pytestmark = pytest.mark.django_db

LINK = re.compile(
    r'<a class="dropdown-item saved-view-item" href="([^"]+)" data-testid="saved-view-link"'
    r' data-view="([^"]+)"'
)
REASON = re.compile(r'data-testid="saved-view-reason">(.*?)</', re.DOTALL)
ERROR = re.compile(r'data-testid="field-error">(.*?)</', re.DOTALL)


@pytest.fixture
def world():
    """Two functions of one source, each with a running execution, and a failed one."""
    source = factories.offline_source("alpha")
    pay = factories.running_execution(source, "pay-1", "payments-charge")
    ship = factories.running_execution(source, "ship-1", "shipping-label")
    failed = factories.running_execution(source, "pay-2", "payments-charge", status="FAILED")
    return {"source": source, "pay": pay, "ship": ship, "failed": failed}


def _menu(client: Client) -> dict[str, str]:
    """The Views menu's links: {name: href}."""
    body = client.get("/executions/").content.decode()
    return {html.unescape(name): html.unescape(href) for href, name in LINK.findall(body)}


def _errors(response) -> list[str]:
    return [html.unescape(e).strip() for e in ERROR.findall(response.content.decode())]


def _save(client: Client, name: str, query: str, share: str = "me", page: str = "list"):
    return client.post("/views/new", {"name": name, "share": share, "page": page, "query": query})


def test_a_saved_view_opens_as_the_lists_own_url_with_its_filter(client, world):
    factories.signed_in(client, "ana")
    function = world["pay"].function_id
    response = _save(client, "Failed payments", f"status=FAILED&function={function}")
    view = SavedView.objects.get(name="Failed payments")
    assert view.sharing == Sharing.ME
    # Stored as the list writes its own URL, and opened as that URL.
    assert view.query == f"function={function}&status=FAILED"
    assert response.status_code == 302
    assert response["Location"] == f"/executions/?function={function}&status=FAILED"
    href = _menu(client)["Failed payments"]
    assert href == response["Location"]
    page = client.get(href).content.decode()
    assert "pay-2" in page and "pay-1" not in page and "ship-1" not in page


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("colour=red", "“colour” is not a filter of Executions"),
        ("status=FAILED&after=123.4", "“after” is a place in the list, not a filter"),
        ("status=ARCHIVED", "“ARCHIVED” is not"),
        ("from=2026-13-45", "“from” must be a date"),
        ("source=99999", "source #99999, which no longer exists"),
        ("function=abc", "“function” must be a whole number"),
        ("name=a&name=b", "It gives “name” more than once"),
        ("", "There is no filter to save"),
    ],
)
def test_a_filter_the_list_cannot_read_is_refused_with_the_reason(client, world, query, reason):
    factories.signed_in(client, "ana")
    response = _save(client, "Broken", query)
    assert response.status_code == 400
    assert any(reason in error for error in _errors(response)), _errors(response)
    assert not SavedView.objects.exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("x" * 101, "at most 100 characters"),
        ("   ", "Give the view a name"),
        ("two\nlines", "one line of text"),
    ],
)
def test_a_bad_name_is_refused_with_the_reason(client, world, name, reason):
    factories.signed_in(client, "ana")
    response = _save(client, name, "status=RUNNING")
    assert response.status_code == 400
    assert any(reason in error for error in _errors(response)), _errors(response)
    assert not SavedView.objects.exists()


def test_a_name_is_used_once_per_owner_but_others_may_use_it_too(client, world):
    factories.signed_in(client, "ana")
    assert _save(client, "Running", "status=RUNNING").status_code == 302
    again = _save(client, "running", "status=FAILED")
    assert again.status_code == 400
    assert "You already have a view named “running”" in _errors(again)[0]
    assert _save(client, "x" * 100, "status=FAILED").status_code == 302
    other = Client()
    factories.signed_in(other, "bob")
    assert _save(other, "Running", "status=RUNNING").status_code == 302
    assert SavedView.objects.filter(name="Running").count() == 2


def test_a_view_shared_with_a_group_is_in_its_members_menus_only(client, world):
    team = Group.objects.create(name="payments-team")
    ana = factories.user("ana")
    ana.groups.add(team)
    client.force_login(ana)
    assert _save(client, "Mine", "status=RUNNING").status_code == 302
    assert _save(client, "Team's", "status=FAILED", share=f"group:{team.pk}").status_code == 302
    assert _save(client, "All", "name=pay", share="everyone").status_code == 302
    member, stranger = Client(), Client()
    bob = factories.user("bob")
    bob.groups.add(team)
    member.force_login(bob)
    factories.signed_in(stranger, "eve")
    assert set(_menu(client)) == {"Mine", "Team's", "All"}
    assert set(_menu(member)) == {"Team's", "All"}
    assert set(_menu(stranger)) == {"All"}


def test_a_person_may_not_share_with_a_group_they_are_not_in(client, world):
    other = Group.objects.create(name="not-mine")
    factories.signed_in(client, "ana")
    response = _save(client, "Sneaky", "status=RUNNING", share=f"group:{other.pk}")
    assert response.status_code == 400
    assert "a group you are in, or everyone" in _errors(response)[0]
    assert not SavedView.objects.exists()


def test_a_view_shared_with_a_group_shows_a_narrower_member_only_what_they_may_see(client, world):
    team = Group.objects.create(name="on-call")
    owner = factories.user("ana")  # no grant: sees everything
    owner.groups.add(team)
    client.force_login(owner)
    assert _save(client, "Running", "status=RUNNING", share=f"group:{team.pk}").status_code == 302
    ship = world["ship"].function_id
    assert (
        _save(client, "Shipping", f"function={ship}", share=f"group:{team.pk}").status_code == 302
    )
    everything = client.get(_menu(client)["Running"]).content.decode()
    assert "pay-1" in everything and "ship-1" in everything

    member = Client()
    pat = factories.user("pat")
    pat.groups.add(team)
    member.force_login(pat)
    call_command("grant", "pat", "viewer", "--functions", "payments-*")
    menu = _menu(member)
    # The same URL, opened by the member: their scope applies to it as to any link.
    assert menu["Running"] == _menu(client)["Running"]
    page = member.get(menu["Running"]).content.decode()
    assert "pay-1" in page and "ship-1" not in page
    # A view of a function outside their scope is marked, with the reason, not dropped.
    body = member.get("/executions/").content.decode()
    reasons = [html.unescape(r).strip() for r in REASON.findall(body)]
    assert reasons == [
        f"It filters by function #{ship}, which no longer exists or is not among the "
        "functions you may see."
    ]
    assert "ship-1" not in member.get(f"/executions/?function={ship}").content.decode()


def test_a_view_that_no_longer_parses_is_marked_with_the_reason_never_a_500(client, world):
    ana = factories.user("ana")
    client.force_login(ana)
    gone = Function.objects.create(source=world["source"], name="retired")
    gone_id = gone.pk
    gone.delete()
    broken = {
        "Old status": ("list", "status=ARCHIVED"),
        "Deleted function": ("list", f"function={gone_id}"),
        "Unknown parameter": ("list", "colour=red"),
        "Bad date": ("list", "from=2026-02-30"),
        "Gone reason": ("attention", "reason=no-such-condition"),
    }
    for name, (page, query) in broken.items():
        SavedView.objects.create(owner=ana, name=name, page=page, query=query)
    SavedView.objects.create(owner=ana, name="Fine", query="status=RUNNING")
    response = client.get("/executions/")
    assert response.status_code == 200
    body = response.content.decode()
    reasons = {html.unescape(r).strip() for r in REASON.findall(body)}
    assert len(reasons) == 5
    assert any("“ARCHIVED” is not" in r for r in reasons)
    assert f"It filters by function #{gone_id}, which no longer exists" in " ".join(reasons)
    assert any("“colour” is not a filter" in r for r in reasons)
    assert any("“from” must be a date" in r for r in reasons)
    assert any("“reason” must be one of" in r for r in reasons)
    assert set(_menu(client)) == {"Fine"}  # the broken ones are marked, not links to a 400
    manage = client.get("/views/")
    assert manage.status_code == 200
    rows = re.findall(r'data-view="([^"]+)" data-state="(\w+)"', manage.content.decode())
    assert dict(rows) == {**dict.fromkeys(broken, "broken"), "Fine": "ok"}


def test_only_the_owner_or_an_admin_may_rename_or_delete_a_view(client, world):
    team = Group.objects.create(name="on-call")
    ana = factories.user("ana")
    ana.groups.add(team)
    view = SavedView.objects.create(
        owner=ana, name="Running", query="status=RUNNING", sharing=Sharing.GROUP, group=team
    )
    member, stranger, admin = Client(), Client(), Client()
    bob = factories.user("bob")
    bob.groups.add(team)
    member.force_login(bob)
    factories.signed_in(stranger, "eve")
    factories.signed_in(admin, "root", staff=True)

    refused = member.post(f"/views/{view.pk}/edit", {"name": "Mine now", "share": "me"})
    assert refused.status_code == 403
    assert "Only its owner, ana, or an admin" in html.unescape(refused.content.decode())
    assert member.post(f"/views/{view.pk}/delete").status_code == 403
    assert stranger.get(f"/views/{view.pk}/edit").status_code == 404
    assert stranger.post(f"/views/{view.pk}/delete").status_code == 404
    view.refresh_from_db()
    assert (view.name, view.sharing) == ("Running", Sharing.GROUP)

    renamed = admin.post(
        f"/views/{view.pk}/edit", {"name": "On-call: running", "share": "everyone"}
    )
    assert renamed.status_code == 302
    view.refresh_from_db()
    assert (view.name, view.sharing, view.query) == (
        "On-call: running",
        "everyone",
        "status=RUNNING",
    )
    assert view.owner == ana

    client.force_login(ana)
    assert client.get(f"/views/{view.pk}/delete").status_code == 200  # asks first
    assert client.post(f"/views/{view.pk}/delete").status_code == 302
    assert not SavedView.objects.exists()


def test_a_rename_to_a_name_the_owner_already_uses_is_refused(client, world):
    ana = factories.user("ana")
    client.force_login(ana)
    SavedView.objects.create(owner=ana, name="One", query="status=RUNNING")
    two = SavedView.objects.create(owner=ana, name="Two", query="status=FAILED")
    response = client.post(f"/views/{two.pk}/edit", {"name": "one", "share": "me"})
    assert response.status_code == 400
    assert "You already have a view named “one”" in _errors(response)[0]
    two.refresh_from_db()
    assert two.name == "Two"


def test_a_needs_attention_reason_is_saved_and_opens_that_page(client, world):
    factories.signed_in(client, "ana")
    reason = attention.CONDITIONS[0].name
    response = _save(client, "Retrying", f"reason={reason}", page="attention")
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/attention/"
    assert parse_qs(urlsplit(response["Location"]).query) == {"reason": [reason]}
    assert _menu(client)["Retrying"] == response["Location"]
    assert client.get(response["Location"]).status_code == 200
    refused = _save(client, "Nope", "reason=nonsense", page="attention")
    assert refused.status_code == 400
    assert "“reason” must be one of" in _errors(refused)[0]


def test_the_save_control_is_on_the_filtered_list_and_on_one_reason(client, world):
    factories.signed_in(client, "ana")
    assert 'data-testid="save-view-form"' not in client.get("/executions/").content.decode()
    filtered = client.get("/executions/?status=RUNNING").content.decode()
    assert 'name="query" value="status=RUNNING"' in filtered
    # The htmx answer of a filter change brings the control with the new filter.
    partial = client.get("/executions/?status=FAILED", headers={"HX-Request": "true"})
    assert 'name="query" value="status=FAILED"' in partial.content.decode()
    reason = attention.CONDITIONS[0].name
    page = client.get(f"/attention/?reason={reason}").content.decode()
    assert f'name="query" value="reason={reason}"' in page


def test_a_form_without_its_csrf_token_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    factories.signed_in(client, "ana")
    response = _save(client, "Running", "status=RUNNING")
    assert response.status_code == 403
    assert not SavedView.objects.exists()


def test_a_deleted_group_leaves_the_view_to_its_owner(client, world):
    team = Group.objects.create(name="gone-team")
    ana = factories.user("ana")
    ana.groups.add(team)
    view = SavedView.objects.create(
        owner=ana, name="Running", query="status=RUNNING", sharing=Sharing.GROUP, group=team
    )
    team.delete()
    view.refresh_from_db()
    assert view.group is None
    client.force_login(ana)
    page = client.get("/views/").content.decode()
    assert "a group that no longer exists (so only its owner)" in page
    assert "Running" in _menu(client)
