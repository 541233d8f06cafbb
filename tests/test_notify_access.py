"""Who may change notification rules (operators and admins, not a staff viewer), the
audit log of every change, and deliveries that outlive their rule."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from executions.models import AuditEntry
from notify import deliver, scan
from notify.models import Delivery, DeliveryStatus, Rule
from tests import factories

pytestmark = pytest.mark.django_db

RULE = {
    "name": "payments team",
    "enabled": "on",
    "on_callback": "on",
    "deadline_minutes": "30",
    "email_to": "team@example.com",
    "webhook_format": "json",
}


@pytest.fixture
def viewer(client):
    return factories.signed_in(client, "vera", "viewer", staff=True)


@pytest.fixture
def operator(client):
    return factories.signed_in(client, "otto", "operator", staff=True)


def test_a_staff_viewer_reads_the_rules_but_cannot_create_test_change_or_delete_one(viewer):
    rule = Rule.objects.create(name="existing", email_to="a@example.com")
    page = viewer.get("/notifications/").content.decode()
    assert "existing" in page and "New rule" not in page and "Send a test" not in page

    for method, url, data in [
        ("get", "/notifications/new", None),
        ("post", "/notifications/new", RULE),
        ("get", f"/notifications/{rule.pk}/", None),
        ("post", f"/notifications/{rule.pk}/", {**RULE, "name": "renamed"}),
        ("post", f"/notifications/{rule.pk}/test", {}),
        ("post", f"/notifications/{rule.pk}/delete", {}),
    ]:
        response = getattr(viewer, method)(url, data)
        assert response.status_code == 403, url
        assert "changed, tested and deleted by operators and admins" in response.content.decode()
    assert list(Rule.objects.values_list("name", flat=True)) == ["existing"]
    assert not Delivery.objects.exists() and not mail.outbox
    assert not AuditEntry.objects.exists()


def test_every_change_to_a_rule_is_in_the_audit_log_without_its_secrets(operator):
    webhook = {"webhook_url": "https://8.8.8.8/services/T000/B000/very-secret-token"}
    response = operator.post("/notifications/new", {**RULE, **webhook})
    assert response.status_code == 302
    rule = Rule.objects.get(name="payments team")
    # The webhook goes (so the test below sends no request out), the address changes.
    operator.post(f"/notifications/{rule.pk}/", {**RULE, "email_to": "other@example.com"})
    operator.post(f"/notifications/{rule.pk}/test", {})
    operator.post(f"/notifications/{rule.pk}/delete", {})

    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.action, e.username) for e in entries] == [
        ("rule_created", "otto"),
        ("rule_changed", "otto"),
        ("rule_tested", "otto"),
        ("rule_deleted", "otto"),
    ]
    created = json.loads(entries[0].payload.split(": ", 1)[1])
    assert created["email_to"] == "team@example.com"
    assert created["webhook_url"] == "https://8.8.8.8/…"
    # A change records what changed, and only that.
    assert json.loads(entries[1].payload.split(": ", 1)[1]) == {
        "email_to": "other@example.com",
        "webhook_url": "",
    }
    assert entries[2].outcome == "SUCCEEDED" and len(mail.outbox) == 1
    for entry in entries:
        assert "very-secret-token" not in entry.payload and rule.secret not in entry.payload
    audit = operator.get("/audit/").content.decode()
    assert "Created notification rule" in audit and "Deleted notification rule" in audit


def test_deleting_a_rule_keeps_what_it_sent_in_the_delivery_log(operator):
    rule = Rule.objects.create(name="old rule", email_to="a@example.com")
    [delivered] = scan.promise_test(rule)
    deliver.attempt(delivered)
    [pending] = scan.promise_test(rule)

    operator.post(f"/notifications/{rule.pk}/delete", {})

    assert not Rule.objects.exists()
    kept = Delivery.objects.get(pk=delivered)
    assert kept.rule_id is None and kept.rule_name == "old rule"
    assert kept.status == DeliveryStatus.DELIVERED
    # A message still pending when its rule went is not sent by nobody's rule.
    assert deliver.attempt(pending) == DeliveryStatus.SKIPPED
    assert Delivery.objects.get(pk=pending).last_error == "skipped: the rule was deleted"
    assert len(mail.outbox) == 1
    log = operator.get("/notifications/deliveries/").content.decode()
    assert log.count('data-testid="delivery-row"') == 2
    assert "old rule" in log and "deleted" in log


def test_a_rules_source_and_minutes_in_other_digits_are_refused_not_misread(operator):
    source = factories.offline_source("one")
    arabic = "".join("٠١٢٣٤٥٦٧٨٩"[int(d)] for d in str(source.pk))  # Arabic-Indic digits
    response = operator.post(
        "/notifications/new", {**RULE, "source": arabic, "deadline_minutes": "١٢"}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "“source” must be a whole number written with the digits 0-9" in page
    assert "“deadline_minutes” must be a whole number written with the digits 0-9" in page
    assert not Rule.objects.exists()


def test_rules_changed_in_the_admin_are_in_the_audit_log_too(admin_client):
    response = admin_client.post(
        "/admin/notify/rule/add/",
        {"name": "from the admin", "enabled": "on", "on_callback": "on", "deadline_minutes": "30",
         "email_to": "ops@example.com", "webhook_format": "json", "secret": "s3cret-admin-value",
         "created_at_0": "2026-12-06", "created_at_1": "12:00:00"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get(name="from the admin")
    admin_client.post(f"/admin/notify/rule/{rule.pk}/delete/", {"post": "yes"})
    entries = list(AuditEntry.objects.order_by("id").values_list("action", "username", "payload"))
    assert [(action, user) for action, user, _ in entries] == [
        ("rule_created", "admin"),
        ("rule_deleted", "admin"),
    ]
    assert all("s3cret-admin-value" not in payload for _, _, payload in entries)
