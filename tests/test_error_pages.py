"""One 403, one 404 and one 400 page, whoever raises them: each says what happened and
what to do, in the console's own layout."""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client):
    return factories.signed_in(client, "rita")


def test_an_address_that_names_nothing_gets_the_consoles_404_page(reader):
    response = reader.get("/no/such/page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "There is nothing at this address" in page and 'href="/executions/"' in page
    # The resolver's internals are not shown to a person.
    assert "tried" not in page.lower()


def test_a_missing_row_of_any_app_gets_the_same_404_page(admin_client):
    response = admin_client.get("/notifications/424242/")
    assert response.status_code == 404
    assert "There is nothing at this address" in response.content.decode()


def test_every_refusal_of_a_role_is_the_one_403_page_with_its_reason(reader):
    for url, reason in [
        ("/sync/", "Sync health (how the console spends the API quotas) is for staff"),
        ("/notifications/", "Notifications (who is told what, and where) is for staff"),
    ]:
        response = reader.get(url)
        page = response.content.decode()
        assert response.status_code == 403, url
        assert 'data-testid="forbidden"' in page and reason in page, url
        assert "Nothing was changed or sent." in page


def test_a_request_django_refuses_itself_gets_a_400_page_that_says_so(reader):
    response = reader.get("/executions/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert "The console could not read this request" in response.content.decode()
