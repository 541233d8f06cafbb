"""A foothold in Redis runs no code in the console: the cache reads JSON only, Celery
accepts JSON only, and a password-protected Redis works for every user of it."""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe

from browser.optree import tree_cache_key
from console.cache_serializer import SAFE
from sandbox.runner import free_port, stop_process_groups
from tests.conftest import REPO, start_celery_worker, stop_process_group
from tests.notify_servers import mirror_recorded


class _Planted:
    """Unpickling this creates a file: the proof that a planted pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _raw_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.mark.django_db
def test_a_pickle_planted_in_the_cache_does_not_run_and_reads_as_a_miss(tmp_path, admin_client):
    execution = mirror_recorded(
        f"planted-{uuid.uuid4().hex[:6]}", "coffee-order-waiting-timeout", 30
    )
    marker = tmp_path / "pwned"
    # The key the events tab reads its list of event types from, as django-redis names it.
    key = cache.make_key(tree_cache_key(execution, "event-types"))
    _raw_redis().set(key, pickle.dumps(_Planted(marker)))

    response = admin_client.get(f"/executions/{execution.pk}/events/")

    assert response.status_code == 200
    assert not marker.exists()
    assert "CallbackStarted" in response.content.decode()
    # The page computed the value afresh and wrote it back as JSON.
    assert json.loads(_raw_redis().get(key)) == sorted(
        set(execution.events.values_list("event_type", flat=True))
    )


def test_cached_markup_stays_marked_safe_and_plain_text_stays_plain():
    key = f"test:{uuid.uuid4().hex}"
    cache.set(key, {"html": mark_safe("<b>x</b>"), "text": "<b>x</b>", "n": [1, 2.5, None]})
    value = cache.get(key)
    assert isinstance(value["html"], SafeString) and value["html"] == "<b>x</b>"
    assert not isinstance(value["text"], SafeString)
    assert value["n"] == [1, 2.5, None]


def test_a_planted_value_that_looks_like_safe_markup_is_only_safe_if_the_cache_wrote_it():
    # A stranger who writes JSON of the shape the cache uses for markup gets markup back:
    # that is no worse than writing the rendered page, and runs no code in the server. But
    # the console itself can never be tricked into it from data: a dict it caches may not
    # carry the tag.
    with pytest.raises(TypeError):
        cache.set(f"test:{uuid.uuid4().hex}", {SAFE: "<script>"})


def test_the_cache_refuses_values_that_would_not_come_back_the_same():
    from datetime import datetime

    for value in (datetime(2026, 1, 1), {1: "int key"}, {"a": object()}):
        with pytest.raises(TypeError):
            cache.set(f"test:{uuid.uuid4().hex}", value)


def test_garbage_in_a_cache_key_reads_as_a_miss():
    key = f"test:{uuid.uuid4().hex}"
    _raw_redis().set(cache.make_key(key), b"\x80\x04not json \xff")
    assert cache.get(key) is None
    assert cache.get_or_set(key, lambda: "fresh") == "fresh"


@pytest.mark.django_db(transaction=True)
def test_a_pickled_task_planted_on_the_queue_is_refused_by_the_worker(tmp_path):
    marker = tmp_path / "pwned-by-celery"
    # The default queue, as kombu names its Redis list behind the console's key prefix.
    queue = f"{settings.REDIS_KEY_PREFIX}:celery:celery"
    task_id = str(uuid.uuid4())
    body = pickle.dumps(((_Planted(marker),), {}, {}))
    message = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "binary",
        "content-type": "application/x-python-serialize",
        "headers": {"lang": "py", "task": "executions.tasks.poll_sources", "id": task_id,
                    "root_id": task_id, "parent_id": None, "group": None, "retries": 0,
                    "argsrepr": "", "kwargsrepr": "", "origin": "attacker"},
        "properties": {"correlation_id": task_id, "delivery_mode": 2, "priority": 0,
                       "delivery_tag": str(uuid.uuid4()), "body_encoding": "base64",
                       "delivery_info": {"exchange": "", "routing_key": "celery"}},
    }  # fmt: skip
    _raw_redis().lpush(queue, json.dumps(message))
    log = tmp_path / "worker.log"
    worker = start_celery_worker(log, beat=False, concurrency=1)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "untrusted content" not in log.read_text():
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        stop_process_group(worker)
    assert "Refusing to deserialize untrusted content of type pickle" in log.read_text()
    assert not marker.exists()


@pytest.fixture
def redis_with_password(tmp_path):
    """A Redis server of the test's own that asks for a password (requirepass)."""
    port = free_port()
    password = uuid.uuid4().hex
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--requirepass", password, "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline and proc.poll() is None, "redis did not start"
            time.sleep(0.05)
    yield port, password
    stop_process_groups([proc])


def _tls_files(directory: Path) -> dict[str, Path]:
    """A certificate authority and a server certificate for 127.0.0.1 it signed (openssl)."""
    files = {name: directory / f"{name}.pem" for name in ("ca", "ca-key", "cert", "key")}
    run = lambda *args: subprocess.run(  # noqa: E731
        ["openssl", *args], check=True, capture_output=True, cwd=directory
    )
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", files["ca-key"], "-out", files["ca"])  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", files["key"], "-out", directory / "cert.csr")  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", directory / "cert.csr", "-CA", files["ca"], "-CAkey",
        files["ca-key"], "-CAcreateserial", "-days", "1", "-extfile", directory / "san.cnf",
        "-out", files["cert"])  # fmt: skip
    return files


@pytest.fixture
def redis_over_tls(tmp_path):
    """A Redis server of the test's own that speaks TLS only, with a password."""
    files = _tls_files(tmp_path)
    port = free_port()
    password = uuid.uuid4().hex
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(files["cert"]), "--tls-key-file", str(files["key"]),
         "--tls-ca-cert-file", str(files["ca"]), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no", "--requirepass", password, "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    client = redis.Redis(
        host="127.0.0.1", port=port, password=password, ssl=True, ssl_ca_certs=str(files["ca"])
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline and proc.poll() is None, "redis did not start"
            time.sleep(0.05)
    yield port, password, files["ca"]
    stop_process_groups([proc])


# Each user of Redis in turn: the cache, the locks and call budget, Celery's broker and
# result backend, and /healthz.
_EVERY_REDIS_USER = """
import django, json
django.setup()
from django.core.cache import cache
from django.test import Client
from console.celery import app
from executions.locks import redis_client, redis_lock
cache.set("probe", {"ok": True})
assert cache.get("probe") == {"ok": True}
with redis_lock("probe"):
    pass
redis_client().ping()
with app.connection_for_write() as connection:
    connection.ensure_connection(max_retries=1)
app.backend.client.ping()
print(json.dumps(json.loads(Client().get("/healthz").content)))
"""


def _run_against(url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "REDIS_URL": url, "DJANGO_SETTINGS_MODULE": "console.settings",
           "ALLOWED_HOSTS": "testserver"}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", _EVERY_REDIS_USER], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip


def test_every_redis_user_works_with_a_password_in_redis_url(redis_with_password):
    port, password = redis_with_password
    result = _run_against(f"redis://:{password}@127.0.0.1:{port}/0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1])["redis"] == "ok"


def test_a_wrong_redis_password_is_reported_by_healthz(redis_with_password):
    port, _ = redis_with_password
    env = {**os.environ, "REDIS_URL": f"redis://:wrong-password@127.0.0.1:{port}/0",
           "DJANGO_SETTINGS_MODULE": "console.settings", "ALLOWED_HOSTS": "testserver"}  # fmt: skip
    code = (
        "import django, json; django.setup(); from django.test import Client;"
        "r = Client().get('/healthz'); print(r.status_code, r.content.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "503"
    assert "invalid username-password pair" in json.loads(body)["redis"]


def test_the_redis_that_make_starts_listens_on_loopback_only():
    port = free_port()
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{port}/0", "QUIET": "1"}
    result = subprocess.run(
        ["make", "--no-print-directory", "redis"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        assert "Starting redis-server" in result.stdout
        bind = client.config_get("bind")["bind"].split()
        assert bind[0] == "127.0.0.1" and all(
            address in ("127.0.0.1", "-::1", "::1") for address in bind
        ), bind
        assert client.config_get("protected-mode")["protected-mode"] == "yes"
    finally:
        client.shutdown(nosave=True)


def test_every_redis_user_works_over_tls_with_rediss_url(redis_over_tls):
    port, password, ca = redis_over_tls
    url = f"rediss://:{password}@127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    result = _run_against(url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1])["redis"] == "ok"
