"""The list's markup that its phone layout and its date fields rest on: each cell names its
column (a phone shows the rows as cards, `.table-stack`), and the date fields say, without
JavaScript, the zone the server reads them in (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories, markup


@pytest.fixture
def user_client(client):
    return factories.signed_in(client, "carla")


@pytest.mark.django_db
def test_each_cell_of_a_row_names_its_column_and_an_ended_row_says_ended(user_client):
    source = factories.offline_source("cards")
    started = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    running = factories.running_execution(source, "card-running", started_at=started)
    ended = factories.running_execution(
        source,
        "card-ended",
        status="SUCCEEDED",
        started_at=started,
        ended_at=started + timedelta(seconds=3),
    )

    page = markup.parse(user_client.get("/executions/?name=card-").content)

    assert "executions-table" in page.find("table", class_="table-stack").attrs["class"].split()
    for execution, last in ((running, "Duration"), (ended, "Ended")):
        row = page.find("tr", id=f"execution-{execution.pk}")
        labels = [cell.attrs.get("data-label") for cell in row.find_all("td")]
        # The checkbox and the name head the card; every other cell is labelled.
        assert labels == [
            None,
            None,
            "Function",
            "Status",
            "Started",
            last,
            "Operations",
            "Callbacks",
        ]
    assert "took 3 s" in page.find("tr", id=f"execution-{ended.pk}").text


@pytest.mark.django_db
def test_the_date_fields_say_utc_and_keep_the_url_s_value_for_the_script(user_client):
    factories.running_execution(factories.offline_source("dates"), "dated")

    page = markup.parse(user_client.get("/executions/?from=2026-03-10T04:30&to=2026-03-11").content)

    assert page.find("label", for_="filter-from").text == "Started from (UTC)"
    assert page.find("label", for_="filter-to").text == "Started until (UTC)"
    assert page.find(id="filter-zone-help").text == "Dates and times in UTC."
    start, end = page.find(id="filter-from"), page.find(id="filter-to")
    assert (start.attrs["name"], start.attrs["value"]) == ("from", "2026-03-10T04:30")
    assert (end.attrs["name"], end.attrs["value"]) == ("to", "2026-03-11")
    assert start.has("data-zone-input") and end.has("data-zone-end")
