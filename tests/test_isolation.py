"""Two consoles on one Redis server keep their keys apart (CONSOLE_ID, REDIS_KEY_PREFIX)."""

from __future__ import annotations

import runpy
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from console.isolation import console_id, default_console_id
from executions import events, lambda_api, schedule
from executions.budget import SHARED_PREFIX, CallBudget
from executions.locks import claim_once, redis_client, redis_key, redis_lock

SETTINGS_FILE = Path(__file__).resolve().parents[1] / "console" / "settings.py"
API = "GetDurableExecutionHistory"


def _settings_for(monkeypatch: pytest.MonkeyPatch, console: str) -> dict:
    """console/settings.py evaluated afresh for a console named `console`."""
    monkeypatch.setenv("CONSOLE_ID", console)
    return runpy.run_path(str(SETTINGS_FILE))


def _celery_app(conf: dict) -> Celery:
    """A Celery app configured as console/celery.py configures it, from `conf`."""
    app = Celery(f"isolation-{uuid.uuid4().hex[:6]}", set_as_current=False)
    app.config_from_object(
        SimpleNamespace(**{k: v for k, v in conf.items() if k.startswith("CELERY_")}),
        namespace="CELERY",
    )
    return app


def _write_everything(conf: dict, source_id: int) -> tuple[set[str], Celery]:
    """Write every kind of Redis key a console writes, as the console `conf` describes;
    returns the keys of the Redis database afterwards and the console's Celery app."""
    with override_settings(REDIS_KEY_PREFIX=conf["REDIS_KEY_PREFIX"], CACHES=conf["CACHES"]):
        cache.set("rendered-fragment", "<p>cached</p>", 60)
        assert claim_once(f"queued:source:{source_id}", 60)
        schedule.watch(source_id)
        schedule.lease(source_id, [source_id])
        budget = CallBudget(redis_client, prefix=redis_key("budget"))
        budget.acquire("scope-1", API, rate=10, max_wait=1)
        budget.remember_scope("sandbox", "scope-1")
        events.record_reconciled(SimpleNamespace(pk=source_id), 1)

        app = _celery_app(conf)
        result = app.send_task("executions.tasks.poll_sources")
        app.backend.store_result(result.id, {"polled": 1}, "SUCCESS")

        with redis_lock(f"execution:{source_id}"):
            keys = {key.decode() for key in redis_client().scan_iter(count=1000)}
    return keys, app


def test_two_consoles_with_different_ids_write_disjoint_redis_keys(monkeypatch):
    a = _settings_for(monkeypatch, f"a-{uuid.uuid4().hex[:8]}")
    b = _settings_for(monkeypatch, f"b-{uuid.uuid4().hex[:8]}")
    prefix_a, prefix_b = a["REDIS_KEY_PREFIX"], b["REDIS_KEY_PREFIX"]
    client = redis_client()
    before = {key.decode() for key in client.scan_iter(count=1000)}
    apps: list[Celery] = []
    try:
        keys_a, app_a = _write_everything(a, source_id=7)
        apps.append(app_a)
        keys_b, app_b = _write_everything(b, source_id=7)
        apps.append(app_b)

        # Nothing either console wrote is outside its own prefix, but the call budget of
        # an account, which both spend: one bucket, shared...
        written_a, written_b = keys_a - before, keys_b - before
        shared = f"{SHARED_PREFIX}:"
        assert {k for k in written_a if not k.startswith((f"{prefix_a}:", shared))} == set()
        # (B's budget statistics may fall in a second A's did not: shared all the same.)
        assert {
            k for k in written_b - keys_a if not k.startswith((f"{prefix_b}:", shared))
        } == set()
        bucket = f"{SHARED_PREFIX}:bucket:scope-1:{API}"
        assert bucket in written_a and bucket in written_b
        # ...and each wrote every kind of key: the cache, locks and claims, the
        # scheduler's marks, the call budget, status-event figures, and Celery's queue,
        # bindings and results.
        for prefix, written in ((prefix_a, written_a), (prefix_b, written_b)):
            wanted = {
                "cache": f"{prefix}:1:rendered-fragment",
                "lock": f"{prefix}:lock:execution:7",
                "claim": f"{prefix}:once:queued:source:7",
                "watched": f"{prefix}:schedule:watched",
                "in flight": f"{prefix}:schedule:in-flight:7",
                "budget scopes": f"{prefix}:budget:source-scopes",
                "event figures": f"{prefix}:events:7",
                "celery queue": f"{prefix}:celery:celery",
                "celery binding": f"{prefix}:celery:_kombu.binding.celery",
            }
            assert {kind: key for kind, key in wanted.items() if key not in written} == {}
            assert any(key.startswith(f"{prefix}:celery:celery-task-meta-") for key in written)

        # The same claim was granted to both: neither console saw the other's.
        with override_settings(REDIS_KEY_PREFIX=prefix_a):
            assert not claim_once("queued:source:7", 60)
        # Console B's worker finds only its own task in its queue; A's is still in A's.
        with app_b.connection_for_read() as connection:
            assert connection.default_channel.basic_get("celery") is not None
            assert connection.default_channel.basic_get("celery") is None
        with app_a.connection_for_read() as connection:
            assert connection.default_channel.basic_get("celery") is not None
    finally:
        for app in apps:
            app.close()
        for prefix in (prefix_a, prefix_b):
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)


def test_the_running_console_uses_its_prefix_for_the_cache_the_budget_and_celery():
    prefix = settings.REDIS_KEY_PREFIX

    assert prefix == f"durable-console:{settings.CONSOLE_ID}"
    assert settings.CACHES["default"]["KEY_PREFIX"] == prefix
    assert lambda_api.get_budget().prefix == f"{prefix}:budget"
    celery_prefix = {"global_keyprefix": f"{prefix}:celery:"}
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS == celery_prefix
    assert settings.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS == celery_prefix
    assert redis_key("lock", "x") == f"{prefix}:lock:x"


def test_the_default_console_id_names_the_checkout_and_differs_between_checkouts():
    first = default_console_id(Path("/srv/consoles/durable console"))
    second = default_console_id(Path("/srv/other/durable console"))

    assert first.startswith("durable-console-")
    assert first == default_console_id(Path("/srv/consoles/durable console"))
    assert first != second
    assert console_id(None, Path("/srv/consoles/durable console")) == first
    assert console_id("  ", Path("/srv/consoles/durable console")) == first
    assert console_id("staging", Path("/srv/consoles/durable console")) == "staging"


@pytest.mark.parametrize("bad", ["two words", "a:b", "x" * 41, "prod/eu"])
def test_a_console_id_that_cannot_name_keys_and_queues_is_refused_with_a_reason(bad):
    with pytest.raises(ImproperlyConfigured, match="CONSOLE_ID .*letters, digits"):
        console_id(bad, Path("/srv/console"))


def test_console_id_from_the_environment_sets_the_prefix_of_every_key(monkeypatch):
    conf = _settings_for(monkeypatch, "staging")

    assert conf["REDIS_KEY_PREFIX"] == "durable-console:staging"
    assert conf["CACHES"]["default"]["KEY_PREFIX"] == "durable-console:staging"
    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"] == {
        "global_keyprefix": "durable-console:staging:celery:"
    }
