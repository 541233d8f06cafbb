"""Security: CSRF on every POST, rate-limited sign-in, headers, deploy checks, secrets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from tests.conftest import REPO

pytestmark = pytest.mark.django_db

POSTS = [
    "/login/",
    "/logout/",
    "/executions/1/stop",
    "/executions/1/pause",
    "/executions/1/resume",
    "/executions/1/callbacks/abc/succeed",
    "/executions/1/callbacks/abc/fail",
    "/executions/1/callbacks/abc/heartbeat",
    "/executions/start/",
    "/executions/bulk-stop",
]


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.delete_many(
        [f"login-fail:ip:127.0.0.1", "login-fail:user:ada", "login-fail:user:bob"]  # noqa: F541
    )


def test_every_post_is_refused_without_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    user = User.objects.create_superuser("root", password="a-long-test-password")
    client.force_login(user)
    for url in POSTS:
        response = client.post(url, {})
        assert response.status_code == 403, url
        assert b"CSRF" in response.content, url


def test_sign_in_is_refused_after_five_failures_even_with_the_right_password(client):
    User.objects.create_user("ada", password="the-right-password")
    for _ in range(5):
        response = client.post("/login/", {"username": "ada", "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/login/", {"username": "ada", "password": "the-right-password"})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    # The same address is refused for other accounts too.
    User.objects.create_user("bob", password="bobs-password-1")
    response = client.post("/login/", {"username": "bob", "password": "bobs-password-1"})
    assert response.status_code == 429


def test_a_successful_sign_in_clears_the_count(client):
    User.objects.create_user("ada", password="the-right-password")
    for _ in range(3):
        client.post("/login/", {"username": "ada", "password": "wrong"})
    response = client.post("/login/", {"username": "ada", "password": "the-right-password"})
    assert response.status_code == 302
    assert cache.get("login-fail:user:ada") is None


def test_the_admin_sign_in_goes_through_the_rate_limited_page(client):
    response = client.get("/admin/login/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_pages_carry_a_strict_content_security_policy_and_security_headers(client):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_manage_py_check_deploy_passes_with_production_settings(tmp_path):
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE must not leak into a deployment check.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env |= {
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "console.example.com",
        "SESSION_COOKIE_SECURE": "1",
        "CSRF_COOKIE_SECURE": "1",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_PRELOAD": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_cookie_security_is_set_by_the_environment(tmp_path):
    env = {**os.environ, "SESSION_COOKIE_SECURE": "1", "CSRF_COOKIE_SECURE": "true"}
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','console.settings');"
        "django.setup(); from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    ).stdout
    assert out.split() == ["True", "True"]


def test_aws_credentials_never_reach_the_database_logs_or_pages(
    sandbox, lambda_sandbox, monkeypatch, caplog, admin_client
):
    import io
    import logging
    import uuid

    from django.core.management import call_command

    from executions import lambda_api, sync
    from executions.models import Source
    from sandbox.client import start, wait_for_status

    key_id, secret = "AKIAMARKER" + uuid.uuid4().hex[:10].upper(), "SECRET" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    lambda_api.forget_clients()
    # A source on the default credential chain: requests are signed with the keys above.
    source = Source.objects.create(
        name="signed", region=sandbox.region, endpoint_url=sandbox.endpoint_url,
        credentials="default", function_names=["order-processor"],
    )  # fmt: skip
    arn = start(
        lambda_sandbox, "order-processor", {"orderId": "CRED"}, f"cred-{uuid.uuid4().hex[:6]}"
    )
    wait_for_status(lambda_sandbox, arn)
    with caplog.at_level(logging.DEBUG, logger="executions"):
        assert sync.sync_once(source)["errors"] == []
    lambda_api.forget_clients()

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    pages = [
        admin_client.get(url).content.decode()
        for url in (
            "/",
            f"/admin/executions/source/{source.pk}/change/",
            "/admin/executions/execution/",
        )
    ]
    for text in [dump.getvalue(), caplog.text, *pages]:
        assert key_id not in text and secret not in text
