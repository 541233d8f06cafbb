"""Hostile input (HTML and script, DOT syntax, 100 KB strings, deep JSON, non-Latin
script, malformed UTF-8) renders as inert text on every page, panel, export and SVG."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest

from executions.models import Operation
from tests import factories, markup
from tests.hostile import MARKERS, hostile_execution

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client):
    return factories.signed_in(client, "hana", superuser=True)


def test_every_page_panel_export_and_svg_renders_hostile_input_as_text(
    signed_in, sandbox_source, lambda_sandbox
):
    execution = hostile_execution(lambda_sandbox, sandbox_source)
    assert execution.status == "FAILED"
    base = f"/executions/{execution.pk}"
    pages = [
        "/executions/",
        f"/executions/?name={execution.name[:10]}",
        f"{base}/",
        *[f"{base}/{tab}/" for tab in ("graph", "operations", "events", "timeline", "io")],
        *[
            f"{base}/operations/{op.operation_id}"
            for op in Operation.objects.filter(execution=execution)
        ],
        "/approvals/",
        "/audit/",
        f"/admin/executions/execution/{execution.pk}/change/",
    ]
    for url in pages:
        response = signed_in.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for marker in MARKERS:
            assert marker not in body, (url, marker)
    # The names were shown, as text a person reads.
    graph = markup.parse(signed_in.get(f"{base}/graph/").content)
    assert "<img src=x onerror=" in graph.text
    svg = signed_in.get(f"{base}/graph.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    ElementTree.fromstring(svg.content)  # well-formed: nothing injected into the SVG
    export = signed_in.get(f"{base}/export.json")
    document = json.loads(b"".join(export.streaming_content))
    names = {op["name"] for op in _walk(document["operations"])}
    assert '<img src=x onerror="window.__pwned=1">' in names
    assert export["Content-Type"].startswith("application/json")


def _walk(nodes):
    for node in nodes:
        yield node
        yield from _walk(node["children"])


def test_malformed_utf8_and_nul_in_queries_and_forms_are_refused_or_replaced(
    signed_in, sandbox_source
):
    assert signed_in.get("/executions/?name=%FF%FE%00").status_code == 400
    response = signed_in.get("/executions/?name=%FF%FE")
    assert response.status_code == 200
    response = signed_in.post(
        "/executions/start/",
        data=b"function=1&name=%FF%FE&input=%FF",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code in (400, 409)
