"""The execution browser's views, with the Django test client, on executions mirrored
from the live sandbox (a few tests add generated rows where volume is the point)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from browser import event_pages, listing, optree
from browser.detail import TABS
from domain.durations import format_duration
from executions import sync
from executions.models import Execution, Function, Operation, Source
from sandbox.client import history, start, wait_for_callback, wait_for_status
from tests import factories, markup

pytestmark = pytest.mark.django_db

MAP_ITEMS = [f"ledger line {i}" for i in range(1, 31)]  # more than COLLAPSE_CHILDREN


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def sandbox_runs(lambda_sandbox: Any) -> dict[str, str]:
    """Executions in every interesting state, started once for the module (ARNs by role)."""
    arns = {
        "done": start(
            lambda_sandbox,
            "durable-function-example",
            {"workflowId": "views", "waitSeconds": 1, "items": MAP_ITEMS},
            _name("views-done"),
        ),
        "waiting": start(
            lambda_sandbox, "durable-function-example", {"workflowId": "w"}, _name("views-wait")
        ),
        "failed": start(lambda_sandbox, "order-processor", {}, _name("views-failed")),
        "retried": start(lambda_sandbox, "fraud-detection", {"amount": 5}, _name("views-fraud")),
    }
    callback = wait_for_callback(lambda_sandbox, arns["done"], "waitForExternalApproval")
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback, Result=b'{"approved": true}'
    )
    wait_for_callback(lambda_sandbox, arns["waiting"], "waitForExternalApproval")
    for role in ("done", "failed", "retried"):
        wait_for_status(lambda_sandbox, arns[role], timeout=120)
    return arns


@pytest.fixture
def mirror(sandbox_source: Source, sandbox_runs: dict[str, str]) -> dict[str, Execution]:
    """The module's executions, mirrored into this test's database."""
    return {role: sync.sync_arn(sandbox_source, arn) for role, arn in sandbox_runs.items()}


@pytest.fixture(autouse=True)
def _fresh_render_cache() -> None:
    # Test databases reuse primary keys, so cached trees of an earlier test must go.
    cache.delete_pattern("browser:*")


@pytest.fixture
def user_client(client: Any) -> Any:
    return factories.signed_in(client, "ada")


@pytest.fixture
def operator_client(client: Any) -> Any:
    return factories.signed_in(client, "otto", "operator")


def htmx(client: Any, url: str, **extra: Any) -> Any:
    return client.get(url, HTTP_HX_REQUEST="true", **extra)


def text(response: Any) -> str:
    return response.content.decode()


def _generated(function: Function, count: int, start: datetime, status: str = "SUCCEEDED"):
    return Execution.objects.bulk_create(
        [
            Execution(
                arn=f"arn:test:{uuid.uuid4().hex}",
                name=f"gen-{i:04d}",
                source=function.source,
                function=function,
                status=status,
                # Pairs of rows share a start time, so ties on started_at are paged by id.
                started_at=start - timedelta(seconds=i // 2),
            )
            for i in range(count)
        ]
    )


# ---- the list -------------------------------------------------------------------------


def test_the_list_says_how_to_add_a_source_when_none_is_configured(user_client):
    page = text(user_client.get("/executions/"))

    assert "No source configured yet" in page
    assert "python manage.py source add NAME --endpoint-url URL --region REGION --discover" in page


def test_the_list_shows_mirrored_executions_newest_first_with_counts_per_status(
    user_client, mirror
):
    response = user_client.get("/executions/")
    page = text(response)

    assert response.status_code == 200
    positions = [page.index(f'id="execution-{mirror[r].pk}"') for r in mirror]
    expected = sorted(mirror, key=lambda r: (mirror[r].started_at, mirror[r].pk), reverse=True)
    assert [r for _, r in sorted(zip(positions, mirror, strict=True))] == expected
    assert re.search(r'id="count-RUNNING">1<', page)
    assert re.search(r'id="count-SUCCEEDED">2<', page)
    assert re.search(r'id="count-FAILED">1<', page)
    waiting = mirror["waiting"]
    row = markup.parse(page).find("tr", id=f"execution-{waiting.pk}")
    # It runs, but waits for its callback: the row says so, in the graph's words.
    assert "durable-function-example" in row.find("td", class_="function-cell").text
    assert row.find(data_testid="row-status").text == "Waiting"
    assert row.find(data_testid="row-waiting").text == "for a callback"
    assert row.find(title="Callbacks waiting for an answer").text == "1"  # its pending callback
    assert f"?ids={waiting.pk}" in page  # only running rows are polled


def test_the_list_filters_by_status_function_name_and_start_time(user_client, mirror):
    fraud = mirror["retried"]

    several = text(user_client.get("/executions/?status=FAILED&status=RUNNING"))
    by_function = text(user_client.get(f"/executions/?function={fraud.function_id}"))
    by_name = text(user_client.get(f"/executions/?name={fraud.name[-8:].upper()}"))
    started = fraud.started_at.astimezone(UTC)
    window = (started - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    in_window = text(user_client.get(f"/executions/?from={window}"))
    future = (started + timedelta(days=2)).strftime("%Y-%m-%d")
    after_window = text(user_client.get(f"/executions/?from={future}"))

    def shown(page: str) -> set[str]:
        return {role for role, e in mirror.items() if f'id="execution-{e.pk}"' in page}

    assert shown(several) == {"failed", "waiting"}
    chips = {
        chip.attrs["value"]: chip.has("checked")
        for chip in markup.parse(several).find_all("input", name="status")
    }
    assert chips["FAILED"] and chips["RUNNING"] and not chips["SUCCEEDED"]
    assert shown(by_function) == {"retried"}
    assert shown(by_name) == {"retried"}
    assert shown(in_window) == set(mirror)
    assert shown(after_window) == set()
    assert "No executions match these filters." in after_window
    # Counts per status follow every filter except the status one.
    assert re.search(r'id="count-SUCCEEDED">1<', by_function)
    assert re.search(r'id="count-RUNNING">0<', by_function)


def test_an_htmx_filter_request_gets_the_results_and_the_counts_out_of_band(user_client, mirror):
    response = htmx(user_client, "/executions/?status=SUCCEEDED")
    page = text(response)

    fragment = markup.parse(page)
    assert response.status_code == 200
    # Not the whole page: neither the navigation bar nor the filters' form.
    assert not fragment.find_all("nav", class_="navbar")
    assert not fragment.find_all("form", id="filters")
    assert page.lstrip().startswith('<section id="results"')
    count = fragment.find(id="count-SUCCEEDED")
    assert count.attrs.get("hx-swap-oob") == "true" and count.text == "2"
    # The rows are the swap's content; only the counts go out of band.
    row = fragment.find("tr", id=f"execution-{mirror['done'].pk}")
    assert row.attrs["data-state"] == "succeeded" and not row.has("hx-swap-oob")
    assert "HX-Request" in response["Vary"]


def test_the_list_pages_by_keyset_cursor_without_skipping_or_repeating(user_client, mirror):
    function = mirror["done"].function
    _generated(function, 130, timezone.now() - timedelta(days=1))
    expected = list(Execution.objects.filter(function=function).order_by("-started_at", "-id"))
    url, seen, pages = f"/executions/?function={function.pk}", [], 0
    while url:
        page = text(user_client.get(url))
        seen += [int(pk) for pk in re.findall(r'<tr id="execution-(\d+)"', page)]
        match = re.search(r'rel="next" href="([^"]+)"', page)
        url = match.group(1).replace("&amp;", "&") if match else ""
        assert f"function={function.pk}" in (url or f"function={function.pk}")
        pages += 1
    assert seen == [e.pk for e in expected]
    assert pages == 3

    # And back: the newer page of the third page is the second one.
    cursor = listing.Cursor.of(expected[2 * listing.PAGE_SIZE - 1])
    third = text(user_client.get(f"/executions/?function={function.pk}&after={cursor}"))
    newer = re.search(r'rel="prev" href="([^"]+)"', third).group(1).replace("&amp;", "&")
    back = text(user_client.get(newer))
    shown = [int(pk) for pk in re.findall(r'<tr id="execution-(\d+)"', back)]
    assert shown == [e.pk for e in expected[listing.PAGE_SIZE : 2 * listing.PAGE_SIZE]]


def test_the_row_poller_refreshes_running_rows_and_stops_with_286_once_all_are_terminal(
    user_client, mirror
):
    waiting, done = mirror["waiting"], mirror["done"]

    running = user_client.get(f"/executions/rows?ids={waiting.pk},{done.pk}")
    Execution.objects.filter(pk=waiting.pk).update(status="STOPPED", ended_at=timezone.now())
    finished = user_client.get(f"/executions/rows?ids={waiting.pk}")

    assert running.status_code == 200
    assert f'hx-get="/executions/rows?ids={waiting.pk}"' in text(running)
    row = markup.parse(text(running)).find("tr", id=f"execution-{done.pk}")
    assert (row.attrs["data-state"], row.attrs.get("hx-swap-oob")) == ("succeeded", "true")
    assert finished.status_code == 286
    row = markup.parse(text(finished)).find("tr", id=f"execution-{waiting.pk}")
    assert (row.attrs["data-status"], row.attrs["data-state"]) == ("STOPPED", "ended")
    assert row.attrs.get("hx-swap-oob") == "true"
    assert "hx-trigger" not in text(finished)


def test_a_stale_source_shows_banners_and_never_a_500(user_client, mirror, sandbox_source):
    since = timezone.now() - timedelta(minutes=7)
    Source.objects.filter(pk=sandbox_source.pk).update(
        stale_since=since, last_error="ListFunctions: cannot reach http://127.0.0.1:9"
    )
    Execution.objects.filter(pk=mirror["waiting"].pk).update(
        last_sync_error="GetDurableExecution: cannot reach the endpoint", sync_error_at=since
    )

    listing = user_client.get("/executions/")
    detail = user_client.get(f"/executions/{mirror['waiting'].pk}/")

    assert listing.status_code == 200 and detail.status_code == 200
    assert "is unreachable" in text(listing) and "stale since" in text(listing)
    assert 'data-testid="stale-banner"' in text(detail)
    assert "Stale since" in text(detail)
    assert "cannot reach the endpoint" in text(detail)


# ---- lookup ---------------------------------------------------------------------------


def test_lookup_redirects_to_a_mirrored_execution_by_its_arn(user_client, mirror, api_calls):
    execution = mirror["done"]

    response = user_client.get("/executions/lookup/", {"arn": execution.arn})

    assert response.status_code == 302
    assert response["Location"] == f"/executions/{execution.pk}/"
    assert api_calls.calls == []


def test_an_operator_asks_the_sources_for_an_execution_the_mirror_lacks(
    operator_client, sandbox_source, lambda_sandbox, api_calls
):
    arn = start(lambda_sandbox, "order-processor", {"orderId": "LOOKUP-1"}, _name("lookup"))
    wait_for_status(lambda_sandbox, arn)
    assert not Execution.objects.filter(arn=arn).exists()

    # Opening the address reads the mirror only, and offers to ask the sources.
    looked = operator_client.get("/executions/lookup/", {"arn": arn})
    assert looked.status_code == 404 and api_calls.calls == []
    assert 'data-testid="ask-sources"' in text(looked)
    assert not Execution.objects.filter(arn=arn).exists()

    response = operator_client.post("/executions/lookup/", {"arn": arn})

    execution = Execution.objects.get(arn=arn)
    assert response["Location"] == f"/executions/{execution.pk}/"
    assert execution.status == "SUCCEEDED" and execution.operation_count > 0


def test_a_viewers_lookup_reads_the_mirror_and_may_not_ask_the_sources(
    user_client, sandbox_source, lambda_sandbox, api_calls
):
    arn = start(lambda_sandbox, "order-processor", {"orderId": "LOOKUP-2"}, _name("lookup"))
    wait_for_status(lambda_sandbox, arn)

    looked = user_client.get("/executions/lookup/", {"arn": arn})
    asked = user_client.post("/executions/lookup/", {"arn": arn})

    assert looked.status_code == 404 and 'data-testid="ask-sources"' not in text(looked)
    assert "an operator can ask the sources" in text(looked)
    assert asked.status_code == 403 and "read quota, so it is for operators" in text(asked)
    assert api_calls.calls == [] and not Execution.objects.filter(arn=arn).exists()


def test_lookup_of_an_arn_no_source_knows_is_a_clear_404(operator_client, sandbox_source):
    arn = "arn:aws:lambda:us-east-1:123456789012:function:nope:$LATEST/durable-execution/x/y"

    response = operator_client.post("/executions/lookup/", {"arn": arn})

    assert response.status_code == 404
    page = text(response)
    assert "No execution with this ARN" in page
    assert arn.replace("$", "$") in page and "sandbox" in page


# ---- the detail page ------------------------------------------------------------------


def test_the_detail_page_shows_the_header_and_the_operations_tab(user_client, mirror):
    execution = mirror["waiting"]

    response = user_client.get(f"/executions/{execution.pk}/")
    page = text(response)

    document = markup.parse(page)
    assert response.status_code == 200
    # Running, and waiting for its approval: the header says which.
    assert document.find(data_testid="header-status").text == "Waiting"
    assert document.find(data_testid="header-waiting").text == "waiting for a callback"
    assert f'data-copy="{execution.arn}"' in page
    assert "durable-function-example" in page
    assert f'hx-get="/executions/{execution.pk}/header?since={execution.mirror_state}"' in page
    assert 'hx-trigger="every 3s, execution-refreshed from:body"' in page
    # One tab is open, and its link is marked as the current page.
    area = document.find(id="tab-area")
    (current,) = area.find_all("a", aria_current="page")
    assert current.attrs["href"] == f"/executions/{execution.pk}/{area.attrs['data-tab']}/"
    assert "active" in current.attrs["class"].split()
    assert "waitForExternalApproval" in page
    assert "Open in the AWS console" not in page  # the sandbox is not AWS
    assert re.search(r'<time class="js-time" datetime="\d{4}-\d\d-\d\dT[^"]+Z"', page)


def test_an_aws_source_links_to_the_function_in_the_aws_console(user_client, mirror):
    execution = mirror["done"]
    Source.objects.filter(pk=execution.source_id).update(endpoint_url="", region="eu-west-1")

    page = text(user_client.get(f"/executions/{execution.pk}/"))

    assert (
        "https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1"
        "#/functions/durable-function-example?tab=durable-executions"
    ) in page


@pytest.mark.parametrize("tab", ["graph", "operations", "events", "timeline", "io"])
def test_each_tab_is_a_full_page_by_url_and_a_fragment_for_htmx(user_client, mirror, tab):
    execution = mirror["done"]
    url = f"/executions/{execution.pk}/{tab}/"

    full = user_client.get(url)
    fragment = htmx(user_client, url)

    assert full.status_code == fragment.status_code == 200
    assert "<html" in text(full) and "<html" not in text(fragment)
    assert text(fragment).lstrip().startswith('<div id="tab-area"')
    area = markup.parse(text(fragment)).find(id="tab-area")
    assert area.attrs["hx-get"] == url
    assert area.attrs["hx-trigger"] == "execution-changed from:body"
    (current,) = area.find_all("a", aria_current="page")  # the open tab, marked as such
    assert current.attrs["href"] == url and "active" in current.attrs["class"].split()


def test_the_graph_tab_renders_the_graph_pane(user_client, mirror):
    # The visualizer fills this pane (executions/graphs.py); the browser only hosts it.
    execution = mirror["done"]

    response = user_client.get(f"/executions/{execution.pk}/graph/")

    assert response.status_code == 200
    assert 'id="graph-pane"' in text(response)


def test_large_maps_start_collapsed_with_counts_and_expand_through_htmx(user_client, mirror):
    execution = mirror["done"]
    mapped = Operation.objects.get(execution=execution, subtype="Map")

    page = text(user_client.get(f"/executions/{execution.pk}/operations/"))
    rows = htmx(user_client, f"/executions/{execution.pk}/tree-rows?parent={mapped.operation_id}")
    fallback = user_client.get(f"/executions/{execution.pk}/tree-rows?parent={mapped.operation_id}")
    expanded = text(
        user_client.get(f"/executions/{execution.pk}/operations/?expand={mapped.operation_id}")
    )

    assert f'data-op="{mapped.operation_id}" data-depth="0" data-collapsed' in page
    assert "30 items:" in page and "30 succeeded" in page
    assert "map-item-0" not in page
    assert rows.status_code == 200
    assert text(rows).count('class="tree-row') == 1 + 30 + 30  # itself, iterations, their steps
    assert 'aria-expanded="true"' in text(rows)
    assert fallback.status_code == 302 and "expand=" in fallback["Location"]
    assert "map-item-29" in expanded


def test_children_beyond_a_chunk_come_behind_a_show_more_row(user_client, mirror, monkeypatch):
    execution = mirror["done"]
    mapped = Operation.objects.get(execution=execution, subtype="Map")
    monkeypatch.setattr(optree, "CHILD_CHUNK", 10)
    op_tree = optree.operation_tree(execution)

    first = optree.tree_rows(op_tree, parent_id=mapped.operation_id, depth=1, chunk=10)
    rest = htmx(
        user_client,
        f"/executions/{execution.pk}/tree-rows?parent={mapped.operation_id}&offset=10",
    )

    more = [r for r in first if isinstance(r, optree.MoreRow)]
    assert len(more) == 1 and more[0].offset == 10 and more[0].remaining == 20
    assert "map-item-10" in text(rest) and "map-item-9<" not in text(rest)
    assert "Show more (10 not shown)" in text(rest)


def test_failed_only_lists_the_failed_operations_and_the_ones_leading_to_them(user_client, mirror):
    failed = mirror["failed"]
    done = mirror["done"]

    page = text(user_client.get(f"/executions/{failed.pk}/operations/?failed=1"))
    none = text(user_client.get(f"/executions/{done.pk}/operations/?failed=1"))

    assert "validate-order" in page and "row-failed" in page
    assert "enrich-order" not in page
    assert 'aria-checked="true"' in page
    assert "No operation of this execution failed or timed out." in none


def test_the_operation_panel_shows_the_callback_id_with_a_copy_button(user_client, mirror):
    execution = mirror["waiting"]
    callback = Operation.objects.get(execution=execution, type="CALLBACK")

    fragment = htmx(user_client, f"/executions/{execution.pk}/operations/{callback.operation_id}")
    page = user_client.get(f"/executions/{execution.pk}/operations/{callback.operation_id}")

    assert callback.callback_id
    assert f'data-copy="{callback.callback_id}"' in text(fragment)
    assert 'data-testid="callback-id"' in text(fragment)
    assert "waitForExternalApproval" in text(fragment)  # the breadcrumb to its parent
    assert "<html" not in text(fragment) and "<html" in text(page)


def test_the_operation_panel_shows_a_waits_end_the_retries_and_the_invoked_function(
    user_client, mirror
):
    done, fraud = mirror["done"], mirror["retried"]
    wait = Operation.objects.get(execution=done, type="WAIT")
    invoke = Operation.objects.get(execution=done, type="CHAINED_INVOKE")
    scoring = Operation.objects.get(execution=fraud, name="scoreRisk")
    # Point the invoke at another mirrored execution, as an invoke of a durable function does.
    Operation.objects.filter(pk=invoke.pk).update(child_execution_arn=fraud.arn)

    wait_page = text(htmx(user_client, f"/executions/{done.pk}/operations/{wait.operation_id}"))
    invoke_page = text(htmx(user_client, f"/executions/{done.pk}/operations/{invoke.operation_id}"))
    retry_page = text(
        htmx(user_client, f"/executions/{fraud.pk}/operations/{scoring.operation_id}")
    )

    # The wait's end as a moment the page shows in the reader's time zone.
    wait_end = markup.parse(wait_page).find(data_testid="wait-end")
    assert wait_end.find("time", class_="js-time").attrs["datetime"]
    assert "hello-world" in invoke_page
    child = markup.parse(invoke_page).find(data_testid="child-execution")
    assert child.attrs["href"] == f"/executions/{fraud.pk}/"
    assert 'data-testid="retries"' in retry_page
    assert "risk scoring service timed out" in retry_page
    assert "next attempt 1 s later" in retry_page


def test_an_unmirrored_child_execution_links_to_the_lookup(user_client, mirror):
    done = mirror["done"]
    invoke = Operation.objects.get(execution=done, type="CHAINED_INVOKE")
    Operation.objects.filter(pk=invoke.pk).update(child_execution_arn="arn:x:y/z$1")

    page = text(htmx(user_client, f"/executions/{done.pk}/operations/{invoke.operation_id}"))

    assert 'href="/executions/lookup/?arn=arn%3Ax%3Ay%2Fz%241"' in page


def test_the_events_tab_filters_by_type_and_operation_and_pages_by_event_id(user_client, mirror):
    execution = mirror["done"]
    url = f"/executions/{execution.pk}/events/"
    callback = Operation.objects.get(execution=execution, type="CALLBACK")

    first = text(user_client.get(url))
    later_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    later = text(user_client.get(later_url))
    typed = text(user_client.get(url, {"type": "WaitSucceeded"}))
    by_op = text(user_client.get(url, {"op": callback.operation_id}))

    ids = [int(i) for i in re.findall(r'text-body-secondary">(\d+)</td>', first)]
    later_ids = [int(i) for i in re.findall(r'text-body-secondary">(\d+)</td>', later)]
    assert ids == list(range(1, event_pages.EVENTS_PAGE_SIZE + 1))
    assert later_ids[0] == event_pages.EVENTS_PAGE_SIZE + 1
    assert later_ids[-1] == execution.last_event_id
    assert 'rel="prev"' in later
    assert typed.count("<details>") == 1 and "WaitSucceeded" in typed
    assert by_op.count("<details>") == 2  # CallbackStarted and CallbackSucceeded
    assert "&quot;CallbackId&quot;" in by_op  # the raw event, as JSON


def test_the_timeline_draws_one_bar_per_row_with_svg_attributes(user_client, mirror):
    execution = mirror["failed"]

    page = text(user_client.get(f"/executions/{execution.pk}/timeline/"))

    bars = re.findall(r'<rect class="tl-bar bar-(\w+)[^"]*" x="([\d.]+)%" width="([\d.]+)%"', page)
    assert len(bars) == execution.operation_count
    assert {status for status, _, _ in bars} == {"FAILED"}
    assert all(0 <= float(x) <= 100 and 0 < float(w) <= 100 for _, x, w in bars)
    assert "<title>validate-order · Failed" in page
    assert 'class="tl-tick-label"' in page


def test_the_timeline_of_a_large_map_draws_the_map_as_one_row_until_expanded(user_client, mirror):
    execution = mirror["done"]
    mapped = Operation.objects.get(execution=execution, subtype="Map")

    collapsed = text(user_client.get(f"/executions/{execution.pk}/timeline/"))
    expanded = text(
        user_client.get(f"/executions/{execution.pk}/timeline/?expand={mapped.operation_id}")
    )

    assert collapsed.count('class="tl-bar') == execution.operation_count - 60
    assert expanded.count('class="tl-bar') == execution.operation_count


def test_the_io_tab_shows_the_input_and_result_and_marks_truncated_payloads(user_client, mirror):
    done, failed = mirror["done"], mirror["failed"]
    Execution.objects.filter(pk=failed.pk).update(input_truncated=True)

    done_page = text(user_client.get(f"/executions/{done.pk}/io/"))
    failed_page = text(user_client.get(f"/executions/{failed.pk}/io/"))

    assert "&quot;workflowId&quot;: &quot;views&quot;" in done_page
    assert "&quot;approval&quot;" in done_page and 'data-testid="truncated"' not in done_page
    assert 'data-testid="payload-error"' in failed_page
    assert "orderId is required" in failed_page
    assert markup.parse(failed_page).find(data_testid="truncated").text == "Truncated by the API"


def test_the_export_has_the_execution_the_operation_tree_and_the_events_in_order(
    user_client, mirror, lambda_sandbox
):
    execution = mirror["done"]

    response = user_client.get(f"/executions/{execution.pk}/export.json")
    assert response.streaming  # sent in pieces, events a chunk at a time
    document = json.loads(b"".join(response.streaming_content))

    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    assert set(document) == {"execution", "operations", "events"}
    assert document["execution"] == {
        "arn": execution.arn,
        "name": execution.name,
        "function": "durable-function-example",
        "status": "SUCCEEDED",
        "started_at": execution.started_at.astimezone(UTC).isoformat(),
        "ended_at": execution.ended_at.astimezone(UTC).isoformat(),
        "input": {"workflowId": "views", "waitSeconds": 1, "items": MAP_ITEMS},
        "result": json.loads(execution.result_payload),
        "error": None,
    }
    keys = {
        "id",
        "parent_id",
        "name",
        "type",
        "subtype",
        "status",
        "started_at",
        "ended_at",
        "attempt_count",
        "children",
    }

    def walk(nodes: list[dict], parent: str | None) -> int:
        total = 0
        for node in nodes:
            assert set(node) == keys
            assert node["parent_id"] == parent
            total += 1 + walk(node["children"], node["id"])
        return total

    assert walk(document["operations"], None) == execution.operation_count
    top = [n["name"] for n in document["operations"]]
    assert top[:3] == ["processInputData", "waitForExternalApproval", "simpleWait"]
    mapped = next(n for n in document["operations"] if n["subtype"] == "Map")
    assert len(mapped["children"]) == 30 and mapped["children"][0]["subtype"] == "MapIteration"
    backend = history(lambda_sandbox, execution.arn)
    assert [e["EventId"] for e in document["events"]] == [e["EventId"] for e in backend]
    assert [e["EventType"] for e in document["events"]] == [e["EventType"] for e in backend]


def test_the_header_poll_announces_changes_and_stops_with_286_once_terminal(user_client, mirror):
    waiting, done = mirror["waiting"], mirror["done"]

    unchanged = user_client.get(f"/executions/{waiting.pk}/header?since={waiting.mirror_state}")
    changed = user_client.get(f"/executions/{waiting.pk}/header?since=1")
    terminal = user_client.get(f"/executions/{done.pk}/header?since={done.mirror_state}")
    # Ended, but its history not read to the end: the header keeps polling.
    Execution.objects.filter(pk=done.pk).update(history_complete=False)
    finishing = user_client.get(f"/executions/{done.pk}/header?since={done.mirror_state}")
    done.refresh_from_db()
    finished = user_client.get(f"/executions/{done.pk}/header?since={done.mirror_state}")

    assert unchanged.status_code == 200 and "HX-Trigger" not in unchanged
    assert 'id="execution-actions-bar"' not in text(unchanged)
    # A change is only announced: the tab area's reload brings the new header with the
    # rest of the page (test_page_consistency.py), never the header alone.
    assert changed.status_code == 204 and not text(changed)
    assert list(json.loads(changed["HX-Trigger"])) == ["execution-changed"]
    assert 'hx-trigger="every 3s, execution-refreshed from:body"' in text(unchanged)
    assert terminal.status_code == 286
    assert 'hx-trigger="execution-refreshed from:body"' in text(terminal)
    assert finishing.status_code == 204
    assert list(json.loads(finishing["HX-Trigger"])) == ["execution-changed"]
    assert finished.status_code == 200 and "reading its last events" in text(finished)


def test_refresh_now_queues_a_sync_and_its_partial_polls_until_the_sync_lands(
    operator_client, mirror
):
    execution = mirror["waiting"]
    url = f"/executions/{execution.pk}/refresh"

    queued = operator_client.post(url, HTTP_HX_REQUEST="true")
    poll_url = re.search(r'hx-get="([^"]+)"', text(queued)).group(1).replace("&amp;", "&")
    pending = operator_client.get(poll_url)
    sync.sync_execution(execution.pk, force=True)
    landed = operator_client.get(poll_url)
    without_htmx = operator_client.post(url)

    assert queued.status_code == 200 and "Sync queued" in text(queued)
    assert pending.status_code == 200 and 'hx-trigger="every 1s"' in text(pending)
    assert landed.status_code == 286
    assert list(json.loads(landed["HX-Trigger"])) == ["execution-refreshed"]
    result = markup.parse(text(landed)).find(data_testid="refresh-result")
    assert result.text.startswith("Synced ")
    assert without_htmx.status_code == 302


def test_a_viewer_may_not_refresh_now_and_is_not_offered_it(user_client, mirror):
    import redis
    from django.conf import settings

    queue = f"{settings.REDIS_KEY_PREFIX}:celery:celery"  # the task queue, as kombu keeps it
    broker = redis.Redis.from_url(settings.REDIS_URL)
    execution = mirror["waiting"]
    queued_before = broker.llen(queue)

    refused = user_client.post(f"/executions/{execution.pk}/refresh", HTTP_HX_REQUEST="true")
    page = user_client.get(f"/executions/{execution.pk}/")

    assert refused.status_code == 403
    assert "for operators" in text(refused)
    assert 'data-testid="refresh-now"' not in text(page)
    assert broker.llen(queue) == queued_before  # no sync was queued


def test_unknown_executions_tabs_and_operations_are_404_pages(user_client, mirror):
    execution = mirror["done"]

    missing = user_client.get("/executions/999999/")
    tab = user_client.get(f"/executions/{execution.pk}/nonsense/")
    operation = user_client.get(f"/executions/{execution.pk}/operations/abc123")

    assert missing.status_code == tab.status_code == operation.status_code == 404
    assert "Execution not found" in text(missing)
    assert "No such tab" in text(tab)
    assert "Operation not found" in text(operation)


# ---- cross-cutting --------------------------------------------------------------------


def test_pages_never_call_the_lambda_api(user_client, mirror, api_calls):
    execution = mirror["waiting"]
    urls = ["/executions/", f"/executions/rows?ids={execution.pk}"] + [
        f"/executions/{execution.pk}/{suffix}"
        for suffix in (
            "",
            "graph/",
            "operations/",
            "events/",
            "timeline/",
            "io/",
            "header",
            "export.json",
        )
    ]

    statuses = {url: user_client.get(url).status_code for url in urls}

    assert set(statuses.values()) == {200}, statuses
    assert api_calls.calls == []


def test_no_page_has_inline_scripts_styles_or_event_handlers(user_client, mirror):
    execution = mirror["done"]
    op = Operation.objects.filter(execution=execution).first()
    urls = [
        "/executions/",
        "/executions/lookup/",
        f"/executions/{execution.pk}/operations/{op.operation_id}",
    ]
    urls += [f"/executions/{execution.pk}/{tab}/" for tab in TABS]

    for url in urls:
        page = text(user_client.get(url))
        assert " style=" not in page and "<style" not in page, url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), url
        assert not re.search(r"\son[a-z]+=", page), url


def test_rendered_trees_are_cached_by_execution_and_last_event(user_client, mirror):
    execution = mirror["done"]
    url = f"/executions/{execution.pk}/operations/"
    user_client.get(url)

    with CaptureQueriesContext(connection) as again:
        user_client.get(url)
    Execution.objects.filter(pk=execution.pk).update(last_event_id=execution.last_event_id + 1)
    with CaptureQueriesContext(connection) as after_new_event:
        user_client.get(url)

    def reads_operations(ctx: CaptureQueriesContext) -> bool:
        # The tree query (the navbar's approvals badge counts callbacks on every page).
        return any(
            'FROM "executions_operation"' in q["sql"] and '"first_event_id"' in q["sql"]
            for q in ctx.captured_queries
        )

    assert not reads_operations(again)
    assert reads_operations(after_new_event)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.35, "350 ms"),
        (4.25, "4.2 s"),
        (5, "5 s"),
        (42, "42 s"),
        (303, "5 min 3 s"),
        (7500, "2 h 5 min"),
        (7200, "2 h"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
    ],
)
def test_durations_read_like_people_write_them(seconds, expected):
    assert format_duration(seconds) == expected


# ---- watching: what a GET may change --------------------------------------------------


def _watched(execution: Execution) -> bool:
    from executions import schedule

    return schedule.is_watched(execution.pk)


def _unwatch(execution: Execution) -> None:
    from executions.locks import redis_client, redis_key

    redis_client().delete(redis_key("schedule", "watched"))
    for key in redis_client().scan_iter(redis_key("schedule", "watching", "*")):
        redis_client().delete(key)


def test_the_pages_own_poll_marks_an_execution_watched(user_client, mirror):
    execution = mirror["waiting"]
    _unwatch(execution)
    user_client.get(
        f"/executions/{execution.pk}/header",
        HTTP_HX_REQUEST="true",
        HTTP_SEC_FETCH_SITE="same-origin",
    )
    assert _watched(execution)


def test_a_link_or_an_image_on_another_site_marks_nothing_watched(user_client, mirror):
    execution = mirror["waiting"]
    _unwatch(execution)
    for url in (f"/executions/{execution.pk}/", f"/executions/{execution.pk}/header"):
        response = user_client.get(url, HTTP_SEC_FETCH_SITE="cross-site")
        assert response.status_code == 200
    # Even with htmx's header, a request another site made is not the page's own poll.
    user_client.get(
        f"/executions/{execution.pk}/header",
        HTTP_HX_REQUEST="true",
        HTTP_SEC_FETCH_SITE="cross-site",
    )
    assert not _watched(execution)


def test_one_person_watches_at_most_twenty_executions_at_once(user_client, mirror, monkeypatch):
    from executions import schedule

    execution = mirror["waiting"]
    _unwatch(execution)
    # Twenty other pages already open (as their polls would have marked them).
    user = user_client.session["_auth_user_id"]
    for other in range(10_000, 10_000 + schedule.WATCH_PER_PERSON):
        assert schedule.watch(other, person=int(user))
    user_client.get(f"/executions/{execution.pk}/header", HTTP_HX_REQUEST="true")
    assert not _watched(execution)
    # Someone else's page is not crowded out by this person's.
    assert schedule.watch(execution.pk, person=999_999)
    assert _watched(execution)
