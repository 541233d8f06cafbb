from __future__ import annotations

import re
import runpy
import stat
from pathlib import Path

import pytest
from django.test import override_settings

from console.settings import read_or_create_secret_key
from tests import factories

SETTINGS_FILE = Path(__file__).resolve().parents[1] / "console" / "settings.py"


def _settings_with_env(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> dict:
    """Evaluate console/settings.py afresh under the given environment."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


@pytest.mark.django_db
def test_healthz_reports_that_the_database_and_redis_are_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_with_the_error_when_redis_is_unreachable(client):
    unreachable = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    with override_settings(CACHES=unreachable):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("error: ")


def test_an_anonymous_visit_to_the_home_page_redirects_to_the_login_page(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


@pytest.mark.django_db
def test_healthz_the_login_page_and_static_files_do_not_need_a_login(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/login/").status_code == 200
    assert client.get("/static/console.css").status_code == 200
    assert client.get("/static/vendor/htmx.min.js").status_code == 200


@pytest.mark.django_db
def test_a_logged_in_user_sees_the_home_page(client):
    factories.signed_in(client, "ada")

    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Durable Console" in page
    assert "ada" in page
    assert "No sources yet" in page
    assert 'href="/executions/"' in page


@pytest.mark.django_db
def test_a_user_can_log_in_through_the_form_and_log_out(client, django_user_model):
    django_user_model.objects.create_user(username="ada", password="correct horse")

    response = client.post(
        "/login/", {"username": "ada", "password": "correct horse", "next": "/"}, follow=True
    )
    assert response.redirect_chain == [("/", 302)]
    assert response.wsgi_request.user.is_authenticated

    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_a_wrong_password_shows_an_error_on_the_login_page(client, django_user_model):
    django_user_model.objects.create_user(username="ada", password="correct horse")

    response = client.post("/login/", {"username": "ada", "password": "wrong"})

    assert response.status_code == 200
    assert "alert-danger" in response.content.decode()


def _assert_no_inline_code(page: str) -> None:
    # A strict Content-Security-Policy will refuse these; JS and CSS live in static files.
    assert "<script>" not in page
    assert "<style" not in page
    assert " style=" not in page
    assert " onclick=" not in page and " onload=" not in page and " onsubmit=" not in page


@pytest.mark.django_db
def test_pages_carry_no_inline_scripts_handlers_or_styles(client):
    _assert_no_inline_code(client.get("/login/").content.decode())

    factories.signed_in(client, "ada")
    _assert_no_inline_code(client.get("/").content.decode())


def test_debug_is_off_unless_the_environment_turns_it_on(monkeypatch):
    assert _settings_with_env(monkeypatch, DEBUG=None)["DEBUG"] is False
    assert _settings_with_env(monkeypatch, DEBUG="")["DEBUG"] is False
    assert _settings_with_env(monkeypatch, DEBUG="0")["DEBUG"] is False
    assert _settings_with_env(monkeypatch, DEBUG="true")["DEBUG"] is True


def test_database_url_switches_the_database_to_postgresql(monkeypatch):
    settings = _settings_with_env(
        monkeypatch, DATABASE_URL="postgres://console:s3cret@db.internal:5433/durable"
    )
    database = settings["DATABASES"]["default"]

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == (
        "db.internal",
        5433,
        "durable",
    )
    assert (database["USER"], database["PASSWORD"]) == ("console", "s3cret")


def test_without_database_url_the_database_is_sqlite_under_var(monkeypatch):
    database = _settings_with_env(monkeypatch, DATABASE_URL=None)["DATABASES"]["default"]

    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(database["NAME"]).parts[-2:] == ("var", "db.sqlite3")


def test_a_secret_key_is_generated_once_into_a_private_file(tmp_path):
    path = tmp_path / "var" / "secret_key"

    key = read_or_create_secret_key(path)

    assert len(key) >= 50
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create_secret_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]


def test_the_secret_key_file_is_not_tracked_by_git():
    gitignore = (SETTINGS_FILE.parents[1] / ".gitignore").read_text().splitlines()

    assert "var/" in gitignore


def test_the_favicon_is_served_at_favicon_ico_without_a_login(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/")
    # A real ICO file: reserved 0, type 1 (icon), and at least one image in it.
    body = response.content
    assert body[:4] == b"\x00\x00\x01\x00" and int.from_bytes(body[4:6], "little") >= 1
    assert "max-age=" in response["Cache-Control"]


def test_every_page_links_the_svg_favicon_and_it_is_served(client):
    page = client.get("/login/").content.decode()
    match = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)

    assert match, "the login page links no icon"
    icon = client.get(match.group(1))
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content if icon.streaming else [icon.content])
