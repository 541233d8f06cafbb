"""The sign-in limit, attacked: parallel guesses against gunicorn's worker processes, a
stranger trying to lock the admin out, a forged X-Forwarded-For, and the audit log."""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command

from access import signin
from executions.models import AuditEntry
from tests.webserver import Gunicorn

pytestmark = pytest.mark.django_db


def _post_login(client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def _lock_ttl_seconds(address: str, username: str) -> float:
    """The delay the lock was given (its value), not what is left of it: a slow host
    cannot make it read short."""
    key = signin._keys(address, username)[1]
    connection = redis.Redis.from_url(settings.REDIS_URL)
    assert connection.pttl(key) > 0, "the lock is set and runs"
    return int(connection.get(key)) / 1000


def _expire_lock(address: str, username: str) -> None:
    """What the passing of the delay does: the lock key disappears."""
    redis.Redis.from_url(settings.REDIS_URL).delete(signin._keys(address, username)[1])


def test_five_wrong_passwords_then_the_right_one_is_refused_with_how_long_to_wait(client):
    User.objects.create_user("ada", password="the-right-password")
    for _ in range(5):
        assert _post_login(client, "ada", "wrong").status_code == 200
    response = _post_login(client, "ada", "the-right-password")
    assert response.status_code == 429
    assert int(response["Retry-After"]) == pytest.approx(900, abs=2)
    page = response.content.decode()
    assert "Too many failed sign-in attempts for this account from your address" in page
    assert "Wait 15 minutes and try again" in page
    assert "csrfmiddlewaretoken" in page and 'value="ada"' in page


def test_failures_count_per_username_whatever_its_case_or_spaces(client):
    User.objects.create_user("ada", password="the-right-password")
    for n in range(5):
        _post_login(client, [" ADA", "ada", "Ada ", "aDa", "ada"][n], "wrong")
    assert _post_login(client, "ada", "the-right-password").status_code == 429


def test_a_stranger_cannot_lock_the_admin_out_of_their_own_address(client):
    User.objects.create_superuser("admin", password="the-admins-password")
    # Twenty wrong passwords from one address: that address waits, nobody else does.
    for _ in range(20):
        _post_login(client, "admin", "guess", REMOTE_ADDR="203.0.113.66")
    assert _post_login(client, "admin", "guess", REMOTE_ADDR="203.0.113.66").status_code == 429
    response = _post_login(client, "admin", "the-admins-password", REMOTE_ADDR="198.51.100.5")
    assert response.status_code == 302
    # ...and the stranger's delay does not spill onto other accounts at their address.
    User.objects.create_user("bob", password="bobs-password-1")
    client.logout()
    assert (
        _post_login(client, "bob", "bobs-password-1", REMOTE_ADDR="203.0.113.66").status_code == 302
    )


def test_the_delay_doubles_with_each_failure_after_the_limit(client, settings):
    settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS = 60
    User.objects.create_user("ada", password="the-right-password")
    for _ in range(5):
        _post_login(client, "ada", "wrong")
    delays = [_lock_ttl_seconds("127.0.0.1", "ada")]
    for _ in range(3):
        # While the delay runs every attempt is refused unchecked, and not counted.
        assert _post_login(client, "ada", "wrong").status_code == 429
        _expire_lock("127.0.0.1", "ada")
        assert _post_login(client, "ada", "wrong").status_code == 200
        delays.append(_lock_ttl_seconds("127.0.0.1", "ada"))
    assert delays == [60, 120, 240, 480]


def test_the_delay_never_exceeds_the_longest_one(client, settings):
    settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS = 600
    settings.LOGIN_RATE_LIMIT_MAX_SECONDS = 1000
    for _ in range(5):
        _post_login(client, "ada", "wrong")
    _expire_lock("127.0.0.1", "ada")
    _post_login(client, "ada", "wrong")
    assert _lock_ttl_seconds("127.0.0.1", "ada") == 1000


def test_a_successful_sign_in_clears_the_count(client):
    User.objects.create_user("ada", password="the-right-password")
    for _ in range(4):
        _post_login(client, "ada", "wrong")
    assert _post_login(client, "ada", "the-right-password").status_code == 302
    client.logout()
    # A fresh count: four more failures are checked, and the right password still works.
    for _ in range(4):
        assert _post_login(client, "ada", "wrong").status_code == 200
    assert _post_login(client, "ada", "the-right-password").status_code == 302


def test_one_address_trying_many_accounts_is_delayed_across_them(client, settings):
    settings.LOGIN_RATE_LIMIT_ADDRESS_ATTEMPTS = 12
    User.objects.create_user("victim", password="victims-password-1")
    answers = [
        _post_login(client, f"user{n}", "Winter2026!", REMOTE_ADDR="203.0.113.9").status_code
        for n in range(14)
    ]
    assert answers == [200] * 12 + [429] * 2
    refused = _post_login(client, "victim", "victims-password-1", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429
    # Another address is not concerned.
    ok = _post_login(client, "victim", "victims-password-1", REMOTE_ADDR="203.0.113.10")
    assert ok.status_code == 302


def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(client):
    User.objects.create_user("ada", password="the-right-password")
    for n in range(5):
        _post_login(client, "ada", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    # Every guess counted against the socket's address, whatever the header claimed.
    response = _post_login(client, "ada", "the-right-password", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert response.status_code == 429


def test_behind_one_proxy_only_the_address_it_appended_counts(client, settings):
    settings.TRUSTED_PROXY_HOPS = 1
    User.objects.create_user("ada", password="the-right-password")
    # An ALB appends the address it saw; whatever the client put before it is its own.
    for n in range(5):
        _post_login(
            client, "ada", "wrong", REMOTE_ADDR="10.0.0.250",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7",
        )  # fmt: skip
    forged = _post_login(
        client, "ada", "the-right-password", REMOTE_ADDR="10.0.0.250",
        HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.7",
    )  # fmt: skip
    assert forged.status_code == 429
    # The person at another address, behind the same proxy, signs in.
    other = _post_login(
        client, "ada", "the-right-password", REMOTE_ADDR="10.0.0.250",
        HTTP_X_FORWARDED_FOR="203.0.113.8",
    )  # fmt: skip
    assert other.status_code == 302


def test_behind_two_proxies_the_second_entry_from_the_right_is_the_client(rf, settings):
    from access.clientip import client_address

    settings.TRUSTED_PROXY_HOPS = 2
    request = rf.get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7, 10.0.0.1"
    )
    assert client_address(request) == "203.0.113.7"
    # Too few entries: the request did not pass through both proxies; the socket is all.
    short = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_address(short) == "10.0.0.2"
    settings.TRUSTED_PROXY_HOPS, settings.TRUSTED_PROXY_HEADER = 1, "X-Real-IP"
    assert client_address(rf.get("/", HTTP_X_REAL_IP="[2001:db8::7]")) == "2001:db8::7"


def test_the_old_header_setting_stops_the_console_with_what_to_set_instead(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "LOGIN_RATE_LIMIT_IP_HEADER": "HTTP_X_FORWARDED_FOR"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "TRUSTED_PROXY_HOPS" in result.stderr


def test_an_unreachable_redis_refuses_sign_in_with_503_rather_than_count_nothing(
    client, monkeypatch
):
    from executions import locks

    User.objects.create_user("ada", password="the-right-password")
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    monkeypatch.setattr(locks, "_redis", dead)
    response = _post_login(client, "ada", "the-right-password")
    assert response.status_code == 503
    assert "cannot reach Redis" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_unlock_lifts_a_users_delay_from_every_address(client):
    User.objects.create_user("ada", password="the-right-password")
    for address in ("203.0.113.1", "203.0.113.2"):
        for _ in range(5):
            _post_login(client, "ada", "wrong", REMOTE_ADDR=address)
    call_command("signin", "unlock", "ADA")
    for address in ("203.0.113.1", "203.0.113.2"):
        assert (
            _post_login(client, "ada", "the-right-password", REMOTE_ADDR=address).status_code == 302
        )
        client.logout()


def test_sign_ins_failures_and_sign_outs_are_in_the_audit_log(client, admin_client):
    User.objects.create_user("ada", password="the-right-password")
    _post_login(client, "mallory", "guess", REMOTE_ADDR="203.0.113.4")
    _post_login(client, "ada", "the-right-password", REMOTE_ADDR="198.51.100.3")
    client.post("/logout/")
    entries = list(AuditEntry.objects.order_by("id").values_list("action", "username", "payload"))
    assert entries == [
        ("sign_in_failed", "mallory", "address 203.0.113.4"),
        ("sign_in", "ada", "address 198.51.100.3"),
        ("sign_out", "ada", "address 127.0.0.1"),
    ]
    page = admin_client.get("/audit/").content.decode()
    assert "Failed sign-in" in page and "mallory" in page


def _login_form(base: str) -> tuple[str, str]:
    """A CSRF cookie and token from the sign-in page, good for many posts."""
    parsed = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.request("GET", "/login/")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return cookie, token


def _attempt(base: str, cookie: str, token: str, username: str, password: str, source: str) -> int:
    parsed = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(
        parsed.hostname, parsed.port, timeout=60, source_address=(source, 0)
    )
    body = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": password}
    )
    connection.request(
        "POST", "/login/", body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
                 "Referer": base + "/login/"},
    )  # fmt: skip
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.django_db(transaction=True)
def test_forty_parallel_guesses_against_four_workers_get_five_checks(tmp_path: Path):
    User.objects.create_superuser("admin", password="the-admins-password")
    with Gunicorn(tmp_path / "gunicorn.log", workers=4) as server:
        cookie, token = _login_form(server.base)
        statuses: list[int] = []
        start = threading.Barrier(40)

        def guess(n: int) -> None:
            start.wait()
            statuses.append(
                _attempt(server.base, cookie, token, "admin", f"guess-{n}", "127.0.0.1")
            )

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Exactly five were checked (200: wrong password); the other 35 were refused
        # unchecked, however the requests interleaved across the worker processes.
        assert sorted(statuses) == [200] * 5 + [429] * 35
        # The right password from the attacking address is refused now...
        right = _attempt(server.base, cookie, token, "admin", "the-admins-password", "127.0.0.1")
        assert right == 429
        # ...but the admin at their own address signs in.
        admin = _attempt(server.base, cookie, token, "admin", "the-admins-password", "127.0.0.2")
        assert admin == 302
    assert AuditEntry.objects.filter(action="sign_in_failed", username="admin").count() == 5
