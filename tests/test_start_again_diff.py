"""Start again with an edited input (issue 30, item 5): the form, a review of the change
as a diff before anything starts, the start of exactly what was reviewed, and the link
between the two executions both ways. Against the live sandbox."""

from __future__ import annotations

import json
import re
import uuid
from html import unescape

import pytest
from django.test import Client

from access.scope import scope_of
from actions import input_diff, lineage
from actions.forms import NOT_REVIEWED
from executions import sync
from executions.models import AuditEntry, Execution
from sandbox.client import start, wait_for_status
from tests import factories
from tests.test_api import _get, _post, _secret

OLD_INPUT = {
    "orderId": "O-1",
    "items": [{"sku": "tea", "qty": 2}, {"sku": "cake", "qty": 1}],
    "customer": {"name": "Ada", "vip": False},
    "note": "as sent",
}


# ---- the diff -----------------------------------------------------------------------


def _changes(old, new) -> set[tuple[str, str, str, str]]:
    found = input_diff.diff(json.dumps(old), json.dumps(new))
    assert found.json_aware
    return {(c.kind, c.path, c.old, c.new) for c in found.changes}


def test_the_diff_names_added_removed_and_changed_nested_keys():
    new = {
        "orderId": "O-2",
        "items": [{"sku": "tea", "qty": 3}, {"sku": "cake", "qty": 1}],
        "customer": {"name": "Ada", "tier": "gold"},
        "rush": True,
    }

    assert _changes(OLD_INPUT, new) == {
        ("changed", "orderId", '"O-1"', '"O-2"'),
        ("changed", "items[0].qty", "2", "3"),
        ("removed", "customer.vip", "false", ""),
        ("added", "customer.tier", "", '"gold"'),
        ("removed", "note", '"as sent"', ""),
        ("added", "rush", "", "true"),
    }
    assert input_diff.diff(json.dumps(OLD_INPUT), json.dumps(new)).summary == "6 fields changed"


def test_the_diff_of_arrays_goes_by_position_and_names_items_added_or_removed():
    assert _changes([1, 2, 3], [1, 5]) == {
        ("changed", "[1]", "2", "5"),
        ("removed", "[2]", "3", ""),
    }
    assert _changes({"a": [1]}, {"a": [1, {"b": None}]}) == {("added", "a[1]", "", '{"b": null}')}
    # An object for an array, a type for another: changed, whatever they hold.
    assert _changes({"a": [1]}, {"a": {"0": 1}}) == {("changed", "a", "[1]", '{"0": 1}')}
    assert _changes({"a": 1}, {"a": True}) == {("changed", "a", "1", "true")}
    assert _changes({"a": 1}, {"a": 1.0}) == {("changed", "a", "1", "1.0")}
    assert _changes("x", ["x"]) == {("changed", "(the whole input)", '"x"', '["x"]')}
    # A key that is not a plain name is quoted.
    assert _changes({}, {"a b": {"c.d": 1}}) == {("added", '["a b"]', "", '{"c.d": 1}')}
    assert _changes({"x": {}}, {"x": {"a b": 1}}) == {("added", 'x["a b"]', "", "1")}


def test_identical_inputs_are_no_change_whatever_their_layout():
    found = input_diff.diff(json.dumps(OLD_INPUT), json.dumps(OLD_INPUT, indent=4))

    assert found.identical and found.summary == "no change" and found.changes == []
    assert input_diff.diff(None, "{}").identical  # no input is {}
    assert input_diff.diff("", "  ").identical


def test_text_that_is_not_json_is_compared_line_by_line():
    found = input_diff.diff("not json\nsame", "other text\nsame")

    assert not found.json_aware and found.total == 2 and found.summary == "2 lines changed"
    assert "-not json" in found.lines and "+other text" in found.lines
    # A JSON side is laid out first, so its lines are those a person reads.
    mixed = input_diff.diff("not json", '{"a": 1}')
    assert '+  "a": 1' in mixed.lines


def test_a_long_list_of_changes_is_cut_and_counted():
    found = input_diff.diff("{}", json.dumps({f"k{i}": i for i in range(250)}))

    assert found.total == 250 and len(found.changes) == input_diff.MAX_SHOWN
    assert found.more == 50


# ---- review, then start ---------------------------------------------------------------


@pytest.fixture
def old(sandbox_source, lambda_sandbox) -> Execution:
    name = f"again-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "order-processor", OLD_INPUT, name)
    wait_for_status(lambda_sandbox, arn)
    return sync.sync_arn(sandbox_source, arn)


def _fields(html: str) -> dict[str, str]:
    """The hidden fields of the review page's form."""
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    }


def _review(client: Client, old: Execution, new_input: str, name: str) -> tuple[int, str]:
    reply = client.post(
        f"/executions/{old.pk}/start-again",
        {"function": old.function_id, "name": name, "input": new_input, "step": "review"},
    )
    return reply.status_code, reply.content.decode()


def test_review_shows_the_change_then_start_starts_exactly_what_was_reviewed(
    client, old, lambda_sandbox
):
    operator = factories.signed_in(client, "otto", "operator")
    edited = {**OLD_INPUT, "orderId": "O-99", "note": None}
    name = f"{old.name}-edited"
    executions_before = Execution.objects.count()

    status, html = _review(operator, old, json.dumps(edited, indent=2), name)

    assert status == 200
    assert 'data-testid="review-summary"' in html and "2 fields changed" in html
    rows = re.findall(r'data-kind="(\w+)" data-path="([^"]+)"', html)
    assert sorted(rows) == [("changed", "note"), ("changed", "orderId")]
    assert "&quot;O-1&quot;" in html and "&quot;O-99&quot;" in html
    assert Execution.objects.count() == executions_before  # nothing started yet
    assert not AuditEntry.objects.filter(action="start").exists()

    started = operator.post(f"/executions/{old.pk}/start-again", {**_fields(html), "step": "start"})

    again = Execution.objects.get(name=name)
    assert started.status_code == 302 and started.url == f"/executions/{again.pk}/"
    assert again.started_from_id == old.pk and again.function_id == old.function_id
    assert json.loads(again.input_payload) == edited  # as the sandbox received it
    entry = AuditEntry.objects.get(action="start", execution_arn=again.arn)
    assert entry.username == "otto" and json.loads(entry.payload) == edited

    # The sync of the new execution keeps the link.
    wait_for_status(lambda_sandbox, again.arn)
    sync.sync_execution(again.pk, force=True)
    sync.poll_source(again.source)
    assert Execution.objects.get(pk=again.pk).started_from_id == old.pk

    # Both pages link to each other.
    new_page = operator.get(f"/executions/{again.pk}/").content.decode()
    assert 'data-testid="started-from"' in new_page
    assert f'href="/executions/{old.pk}/" data-testid="started-from-link">{old.name}<' in new_page
    assert "input changed: 2 fields" in new_page
    old_page = operator.get(f"/executions/{old.pk}/").content.decode()
    assert 'data-testid="started-again-as"' in old_page
    assert f'href="/executions/{again.pk}/" data-testid="started-again-link">{name}<' in old_page


def test_an_identical_input_is_reviewed_as_no_change(client, old):
    operator = factories.signed_in(client, "otto", "operator")

    status, html = _review(operator, old, json.dumps(OLD_INPUT), f"{old.name}-same")

    assert status == 200 and 'data-testid="review-identical"' in html
    assert "No change: the same input as" in html and 'data-testid="diff-row"' not in html


@pytest.mark.parametrize(
    "field, value",
    [
        ("input", '{"orderId": "O-TAMPERED"}'),
        ("name", "someone-else"),
        ("reviewed", "forged"),
        ("reviewed", ""),
    ],
)
def test_what_differs_from_the_review_is_not_started_but_reviewed_again(
    client, old, api_calls, field, value
):
    operator = factories.signed_in(client, "otto", "operator")
    _, html = _review(operator, old, '{"orderId": "O-5"}', f"{old.name}-t")
    fields = {**_fields(html), field: value, "step": "start"}
    api_calls.clear()

    refused = operator.post(f"/executions/{old.pk}/start-again", fields)

    page = refused.content.decode()
    assert refused.status_code == 409
    assert unescape(NOT_REVIEWED) in unescape(page)
    assert api_calls.calls == [] and not AuditEntry.objects.filter(action="start").exists()
    # Shown for review again, with what was sent: its Start now starts it.
    if field != "reviewed":
        again = _fields(page)
        assert again[field] == value
        done = operator.post(f"/executions/{old.pk}/start-again", {**again, "step": "start"})
        assert done.status_code == 302
        assert Execution.objects.get(started_from=old).started_from_id == old.pk


def test_a_reviewed_start_is_sent_once(client, old):
    operator = factories.signed_in(client, "otto", "operator")
    _, html = _review(operator, old, "{}", f"{old.name}-once")
    fields = {**_fields(html), "step": "start"}
    assert operator.post(f"/executions/{old.pk}/start-again", fields).status_code == 302

    replayed = operator.post(f"/executions/{old.pk}/start-again", fields)

    assert replayed.status_code == 409 and "already sent" in replayed.content.decode()
    assert AuditEntry.objects.filter(action="start").count() == 1


def test_invalid_json_is_refused_with_its_position(client, old, api_calls):
    operator = factories.signed_in(client, "otto", "operator")
    api_calls.clear()

    status, html = _review(operator, old, '{"orderId": "O-1",\n  "qty": }', f"{old.name}-bad")

    assert status == 400
    assert "Input is not valid JSON: Expecting value: line 2 column 10 (char 28)" in html
    # Refused beside the form, with what was typed kept.
    assert 'data-testid="start-again-note"' in html and "&quot;qty&quot;: }" in html
    assert api_calls.calls == []


def test_an_input_cut_short_when_mirrored_must_be_supplied(client, old, api_calls):
    Execution.objects.filter(pk=old.pk).update(input_truncated=True)
    operator = factories.signed_in(client, "otto", "operator")
    form = operator.get(f"/executions/start/?from={old.pk}").content.decode()
    assert 'data-testid="start-warning"' in form and "cut short" in form

    status, html = _review(operator, old, "  ", f"{old.name}-cut")

    assert status == 400 and "was cut short when it was read, so it cannot be reused" in html
    status, html = _review(operator, old, '{"orderId": "O-7"}', f"{old.name}-cut")
    assert status == 200 and 'data-testid="review-no-diff"' in html and "cut short" in html
    assert api_calls.calls == []


def test_edit_goes_back_to_the_form_with_what_was_reviewed(client, old):
    operator = factories.signed_in(client, "otto", "operator")
    _, html = _review(operator, old, '{"orderId": "O-8"}', f"{old.name}-e")

    back = operator.post(f"/executions/{old.pk}/start-again", {**_fields(html), "step": "edit"})

    page = back.content.decode()
    assert back.status_code == 200 and 'data-testid="start-again-review"' in page
    assert f'value="{old.name}-e"' in page and "&quot;orderId&quot;: &quot;O-8&quot;" in page
    assert not AuditEntry.objects.exists()


def test_a_viewer_may_neither_review_nor_start(client, old, api_calls):
    operator = Client()
    factories.signed_in(operator, "otto", "operator")
    _, html = _review(operator, old, '{"orderId": "O-9"}', f"{old.name}-v")
    viewer = factories.signed_in(client, "vera", "viewer")
    api_calls.clear()

    for step in ("review", "start"):
        refused = viewer.post(f"/executions/{old.pk}/start-again", {**_fields(html), "step": step})
        assert refused.status_code == 403
    assert api_calls.calls == [] and not AuditEntry.objects.exists()
    assert not Execution.objects.filter(started_from=old).exists()


def test_someone_who_may_read_but_not_act_on_the_old_execution_is_refused(client, old):
    from access import roles

    reader = factories.user("rita", None)
    roles.sync_roles(
        reader, "manual", {"viewer": ["test"], ("operator", None, "other-*"): ["test"]}
    )
    client.force_login(reader)

    refused = client.post(
        f"/executions/{old.pk}/start-again",
        {"function": old.function_id, "name": "x-1", "input": "{}", "step": "review"},
    )

    assert refused.status_code == 403 and "not act on it" in refused.content.decode()


def test_the_old_page_lists_the_newest_starts_again_first_and_counts_the_rest(old):
    for index in range(lineage.SHOWN + 2):
        Execution.objects.create(
            arn=f"{old.arn}-again-{index}",
            name=f"copy-{index}",
            source_id=old.source_id,
            function_id=old.function_id,
            status="SUCCEEDED",
            started_from=old,
        )
    found = lineage.of(old, scope_of(factories.user("vera", "viewer")))

    assert [e.name for e in found.again] == [f"copy-{i}" for i in range(6, 1, -1)]
    assert found.more == 2 and found.origin is None


# ---- the API --------------------------------------------------------------------------


def test_the_apis_start_again_records_the_link(client, old):
    secret = _secret("sia")

    made = _post(client, f"/executions/{old.pk}/start-again", secret, {"input": {"orderId": "A"}})

    assert made.status_code == 201, made.content
    new_id = made.json()["execution"]["id"]
    assert Execution.objects.get(pk=new_id).started_from_id == old.pk
    assert _get(client, f"/executions/{new_id}", secret).json()["started_from"] == old.pk
    assert _get(client, f"/executions/{old.pk}", secret).json()["started_from"] is None


def test_the_link_is_kept_when_the_new_execution_is_not_mirrored_yet(
    sandbox_source, lambda_sandbox, old
):
    # The start went through but reading the new execution failed: its row is inserted
    # with the link, and the sync then fills it in without losing the link.
    from actions import services
    from actions.services import ActionResult

    name = f"{old.name}-later"
    arn = start(lambda_sandbox, "order-processor", {"orderId": "O-L"}, name)
    entry = AuditEntry.objects.create(
        username="otto", action="start", source=sandbox_source, execution_arn=arn
    )
    result = ActionResult(True, "Started.", entry)

    linked = services._link(result, old.function, name, old)

    assert linked.started_from_id == old.pk and linked.arn == arn
    wait_for_status(lambda_sandbox, arn)
    sync.poll_source(sandbox_source)
    sync.sync_execution(linked.pk, force=True)
    again = Execution.objects.get(arn=arn)
    assert again.started_from_id == old.pk and again.status == "SUCCEEDED"
    assert json.loads(again.input_payload) == {"orderId": "O-L"}


def test_a_link_to_an_execution_outside_ones_scope_is_not_shown(db):
    from access import roles

    source = factories.offline_source("off")
    mine = factories.running_execution(source, "mine", function="mine-fn")
    theirs = factories.running_execution(source, "theirs", function="their-fn")
    Execution.objects.filter(pk=mine.pk).update(started_from=theirs)
    Execution.objects.filter(pk=theirs.pk).update(started_from=None)
    mine.refresh_from_db()
    person = factories.user("pia", None)
    roles.sync_roles(person, "manual", {("viewer", None, "mine-*"): ["test"]})

    assert not lineage.of(mine, scope_of(person))  # the origin is not theirs to see
    everything = lineage.of(mine, scope_of(factories.user("root", superuser=True)))
    assert everything.origin == theirs and everything.change == "input not read yet"
    assert [e.pk for e in lineage.of(theirs, scope_of(person)).again] == [mine.pk]
