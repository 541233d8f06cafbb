"""Security: CSRF on every POST, headers (django-csp), deploy checks, secrets. The sign-in
limit is tried in tests/test_signin.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests import factories
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


def test_every_post_is_refused_without_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(factories.user("root", superuser=True))
    for url in POSTS:
        response = client.post(url, {})
        assert response.status_code == 403, url
        assert b"CSRF" in response.content, url


def test_the_test_clients_login_works_beside_the_lockout(client):
    # Client.login() authenticates without a request: no one guesses through it, so the
    # limit neither counts nor refuses it.
    User.objects.create_user("ada", password="the-right-password")
    assert client.login(username="ada", password="wrong") is False
    assert client.login(username="ada", password="the-right-password") is True
    assert client.get("/").status_code == 200


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


def _login_page_headers(tmp_path, **env_vars: str) -> dict[str, str]:
    """The Content-Security-Policy headers of /login/ in a console started with `env_vars`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTENT_SECURITY_POLICY")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'csp.db'}",
    }
    code = (
        "import django, json; django.setup(); from django.test import Client;"
        "r = Client().get('/login/');"
        "print(json.dumps({k: v for k, v in r.headers.items() if 'Security-Policy' in k}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env | env_vars, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def _directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";"))}


def test_the_policy_can_be_report_only_replaced_or_switched_off_by_the_environment(tmp_path):
    strict = _login_page_headers(tmp_path)
    assert list(strict) == ["Content-Security-Policy"]
    assert _directives(strict["Content-Security-Policy"]) == _directives(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )

    report_only = _login_page_headers(tmp_path, CONTENT_SECURITY_POLICY_REPORT_ONLY="1")
    assert list(report_only) == ["Content-Security-Policy-Report-Only"]
    # django-csp writes the directives in no fixed order.
    assert _directives(report_only["Content-Security-Policy-Report-Only"]) == _directives(
        strict["Content-Security-Policy"]
    )

    replaced = _login_page_headers(
        tmp_path,
        CONTENT_SECURITY_POLICY="script-src 'self' https://cdn.example.com;upgrade-insecure-requests",
        CONTENT_SECURITY_POLICY_REPORT_URI="https://csp.example.com/report",
    )
    assert _directives(replaced["Content-Security-Policy"]) == {
        "script-src": ["'self'", "https://cdn.example.com"],
        "upgrade-insecure-requests": [],
        "report-uri": ["https://csp.example.com/report"],
    }

    assert _login_page_headers(tmp_path, CONTENT_SECURITY_POLICY="") == {}


def test_an_unknown_directive_in_the_environment_stops_the_console_from_starting(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "CONTENT_SECURITY_POLICY": "default-src 'self'; scirpt-src 'self'",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "unknown directive 'scirpt-src'" in result.stderr


def _deployment_settings() -> dict[str, str]:
    """The environment docs/DEPLOYMENT.md tells an operator to write, its placeholders
    filled in: the test checks the documented settings, not a copy of them."""
    text = (REPO / "docs" / "DEPLOYMENT.md").read_text()
    block = text.split("## 2. Configure", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    settings = {}
    for line in block.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            settings[name] = value
    assert "<" in settings["SECRET_KEY"]  # a placeholder, filled in below
    settings["SECRET_KEY"] = "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789"
    return settings


def test_manage_py_check_deploy_passes_with_the_settings_of_the_deployment_guide(tmp_path):
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE must not leak into a deployment check.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    documented = _deployment_settings()
    assert documented["DEBUG"] == "0" and documented["TRUSTED_PROXY_HOPS"] == "1"
    env |= documented
    # The guide's PostgreSQL is not here; the check does not depend on the database.
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


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
