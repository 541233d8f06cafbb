"""Notifications with real servers: an SMTP server and an HTTP receiver run by the test,
callbacks waiting in the live sandbox, mirrored by the real sync."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from executions import sync
from executions.models import Execution, Operation
from notify import deliver, scan
from notify.channels import SIGNATURE_HEADER
from notify.models import Delivery, DeliveryStatus, Event, Rule, WebhookFormat
from sandbox.client import start, wait_for, wait_for_callback, wait_for_event, wait_for_status
from tests import factories, markup
from tests.factories import mirror_recorded
from tests.notify_servers import RECEIVER_NETWORK, Receiver, SmtpSink


@pytest.fixture
def smtp(settings):
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = sink.port
        yield sink


@pytest.fixture(autouse=True)
def _links(settings):
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    settings.NOTIFY_RETRY_SECONDS = [0]  # retries are due at once: no sleeping in tests


@pytest.fixture(autouse=True)
def _receivers_allowed(settings):
    # The receivers listen on 127.0.0.1, which the address guard refuses unless allowed.
    settings.OUTGOING_ALLOWED_NETWORKS = [RECEIVER_NETWORK]


def _waiting_coffee(source, client, tag: str) -> tuple[Execution, Operation]:
    arn = start(client, "coffee-order", {"orderId": tag}, f"{tag}-{uuid.uuid4().hex[:8]}")
    wait_for_callback(client, arn, "baristaAccepts")
    execution = sync.sync_arn(source, arn)
    operation = Operation.objects.pending_callbacks().get(execution=execution)
    return execution, operation


def _page_of(operation: Operation) -> str:
    return (
        f"https://console.example.com/executions/{operation.execution_id}"
        f"/operations/{operation.operation_id}"
    )


def _send_until_settled(rounds: int = 10) -> None:
    for _ in range(rounds):
        if not deliver.due():
            return
        deliver.send_due()


@pytest.mark.django_db(transaction=True)
def test_each_pending_callback_is_emailed_once_across_scans_and_two_workers(
    smtp, sandbox_source, lambda_sandbox
):
    Rule.objects.create(name="baristas", email_to="baristas@example.com", on_deadline=False)
    waiting = [_waiting_coffee(sandbox_source, lambda_sandbox, f"m{i}") for i in range(2)]
    start_together = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start_together.wait()
            for _ in range(3):
                scan.scan()
                deliver.send_due()
        except BaseException as exc:  # noqa: BLE001 (reported by the test below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    scan.scan()
    _send_until_settled()

    assert errors == []
    assert len(smtp.messages) == 2
    bodies = sorted(m.get_payload(decode=True).decode() for m in smtp.messages)
    for _, operation in waiting:
        assert sum(_page_of(operation) in body for body in bodies) == 1
    assert all(m["To"] == "baristas@example.com" for m in smtp.messages)
    subjects = [" ".join(m["Subject"].split()) for m in smtp.messages]  # unfolded
    assert all(s.startswith("[Durable Console] baristaAccepts of m") for s in subjects)
    assert all(s.endswith("(coffee-order) waits for a decision") for s in subjects)
    deliveries = Delivery.objects.all()
    assert [(d.status, d.attempts) for d in deliveries] == [("delivered", 1)] * 2


@pytest.mark.django_db(transaction=True)
def test_a_webhook_gets_the_callback_with_a_valid_signature(sandbox_source, lambda_sandbox):
    with Receiver() as receiver:
        rule = Rule.objects.create(name="hook", webhook_url=receiver.url, on_deadline=False)
        execution, operation = _waiting_coffee(sandbox_source, lambda_sandbox, "w")
        scan.scan()
        scan.scan()
        _send_until_settled()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    expected = (
        "sha256=" + hmac.new(rule.secret.encode(), request["body"], hashlib.sha256).hexdigest()
    )
    assert request["headers"][SIGNATURE_HEADER] == expected
    body = json.loads(request["body"])
    assert body["event"] == "callback"
    assert body["link"] == _page_of(operation)
    assert body["execution_arn"] == execution.arn
    assert body["rule"] == "hook"
    # The same body signed with another secret does not verify.
    forged = "sha256=" + hmac.new(b"another", request["body"], hashlib.sha256).hexdigest()
    assert forged != request["headers"][SIGNATURE_HEADER]


@pytest.mark.django_db(transaction=True)
def test_a_slack_webhook_gets_a_text_with_a_link_back(sandbox_source, lambda_sandbox):
    with Receiver() as receiver:
        Rule.objects.create(
            name="slack",
            webhook_url=receiver.url,
            webhook_format=WebhookFormat.SLACK,
            callback_pattern="barista*",
            on_deadline=False,
        )
        _, operation = _waiting_coffee(sandbox_source, lambda_sandbox, "s")
        scan.scan()
        _send_until_settled()

    assert len(receiver.requests) == 1
    body = json.loads(receiver.requests[0]["body"])
    assert set(body) == {"text"}
    assert f"<{_page_of(operation)}|Open in Durable Console>" in body["text"]
    assert "baristaAccepts" in body["text"]


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_fails_twice_gets_one_delivery_after_retries(
    sandbox_source, lambda_sandbox
):
    with Receiver(statuses=[503, 500]) as receiver:
        Rule.objects.create(name="flaky", webhook_url=receiver.url, on_deadline=False)
        _waiting_coffee(sandbox_source, lambda_sandbox, "f")
        for _ in range(3):
            scan.scan()
            deliver.send_due()
        _send_until_settled()

    assert len(receiver.requests) == 3
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 3
    assert delivery.last_error == ""


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_keeps_failing_is_recorded_as_failed_with_its_answer(
    sandbox_source, lambda_sandbox
):
    with Receiver(statuses=[500] * 5) as receiver:
        Rule.objects.create(name="down", webhook_url=receiver.url, on_deadline=False)
        _waiting_coffee(sandbox_source, lambda_sandbox, "d")
        scan.scan()
        _send_until_settled()

    assert len(receiver.requests) == 3
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert "Attempt 3: The webhook answered HTTP 500" in delivery.last_error
    # Its status, not its body: an answer's body never reaches the log or a page.
    assert "receiver is down" not in delivery.last_error


@pytest.mark.django_db(transaction=True)
def test_a_callback_answered_before_its_delivery_runs_gets_no_message(
    smtp, sandbox_source, lambda_sandbox
):
    Rule.objects.create(name="late", email_to="late@example.com", on_deadline=False)
    execution, operation = _waiting_coffee(sandbox_source, lambda_sandbox, "a")
    assert len(scan.scan()) == 1
    # Answered elsewhere (the mirror does not know yet) before the delivery runs.
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=operation.callback_id, Result=b'{"accepted": true}'
    )
    wait_for_event(lambda_sandbox, execution.arn, "CallbackSucceeded")
    _send_until_settled()

    assert smtp.messages == []
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert delivery.last_error == "skipped: already answered"
    assert delivery.attempts == 0


@pytest.mark.django_db
def test_a_deadline_near_is_found_from_the_history_and_promised_once():
    execution = mirror_recorded("recorded-deadline", "coffee-order-waiting-timeout", 120)
    Rule.objects.create(
        name="soon", email_to="x@example.com", on_callback=False, deadline_minutes=5
    )
    Rule.objects.create(
        name="later", email_to="x@example.com", on_callback=False, deadline_minutes=1
    )
    assert len(scan.scan()) == 1
    assert scan.scan() == []
    delivery = Delivery.objects.get()
    assert (delivery.rule.name, delivery.event) == ("soon", Event.DEADLINE)
    started = execution.events.get(event_type="CallbackStarted").timestamp
    assert (delivery.deadline - started).total_seconds() == 300
    assert "times out soon" in delivery.title


@pytest.mark.django_db
def test_rules_match_by_function_and_callback_name_patterns():
    execution = mirror_recorded("recorded-patterns", "coffee-order-waiting-timeout", 10)
    for name, function, callback in [
        ("fn-yes", "coffee-*", ""),
        ("fn-no", "orders-*", ""),
        ("cb-yes", "", "*ACCEPTS*"),
        ("cb-no", "", "*approval*"),
    ]:
        Rule.objects.create(
            name=name,
            email_to="x@example.com",
            function_pattern=function,
            callback_pattern=callback,
            on_deadline=False,
        )
    scan.scan()
    assert sorted(Delivery.objects.values_list("rule__name", flat=True)) == ["cb-yes", "fn-yes"]
    assert Delivery.objects.filter(execution=execution).count() == 2


@pytest.mark.django_db
def test_the_command_adds_a_rule_and_refuses_bad_input_with_a_reason(capsys):
    call_command(
        "notify", "add-rule", "ops", "--email", "ops@example.com",
        "--webhook", "https://hooks.example.com/x", "--slack", "--events", "callback,failed",
    )  # fmt: skip
    rule = Rule.objects.get(name="ops")
    assert (rule.on_callback, rule.on_deadline, rule.on_failure) == (True, False, True)
    assert rule.webhook_format == WebhookFormat.SLACK
    assert rule.secret in capsys.readouterr().out
    with pytest.raises(CommandError, match="Unknown event 'soon'"):
        call_command("notify", "add-rule", "x", "--email", "a@example.com", "--events", "soon")
    with pytest.raises(CommandError, match="not an email address"):
        call_command("notify", "add-rule", "x", "--email", "not-an-address")
    with pytest.raises(CommandError, match="where to send"):
        call_command("notify", "add-rule", "x")
    # The address guard speaks here too, not only in the pages.
    with pytest.raises(CommandError, match="169.254.169.254, a link-local address"):
        call_command("notify", "add-rule", "x", "--webhook", "http://169.254.169.254/latest/")
    assert Rule.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_execution_that_fails_is_notified_once(smtp, sandbox_source, lambda_sandbox):
    Rule.objects.create(
        name="failures", email_to="oncall@example.com", on_callback=False, on_deadline=False,
        on_failure=True,
    )  # fmt: skip
    arn = start(lambda_sandbox, "fraud-detection", {"amount": 50000}, f"ff-{uuid.uuid4().hex[:8]}")
    wait_for_status(lambda_sandbox, arn)
    execution = sync.sync_arn(sandbox_source, arn)
    assert execution.status == "FAILED"
    scan.scan()
    scan.scan()
    _send_until_settled()

    assert len(smtp.messages) == 1
    assert " ".join(smtp.messages[0]["Subject"].split()).endswith("(fraud-detection) failed")
    link = f"https://console.example.com/executions/{execution.pk}/"
    assert link in smtp.messages[0].get_payload(decode=True).decode()
    assert Delivery.objects.get().event == Event.FAILED


# ---- pages ----------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    """Staff with the operator role: who may create and test rules."""
    return factories.signed_in(client, "stella", "operator", staff=True)


@pytest.mark.django_db
def test_the_notification_pages_are_for_staff_only(client):
    factories.signed_in(client, "nora")
    for url in ("/notifications/", "/notifications/new", "/notifications/deliveries/"):
        response = client.get(url)
        assert response.status_code == 403
        assert (
            "Notifications (who is told what, and where) is for staff" in response.content.decode()
        )


@pytest.mark.django_db
def test_a_rule_without_a_destination_is_refused_with_a_reason(staff_client):
    response = staff_client.post(
        "/notifications/new", {"name": "nowhere", "enabled": "on", "on_callback": "on",
                               "deadline_minutes": "30", "webhook_format": "json"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "where to send" in response.content.decode()
    assert Rule.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_staff_create_a_rule_and_send_it_a_test(staff_client):
    with Receiver(statuses=[500]) as receiver:
        response = staff_client.post(
            "/notifications/new",
            {"name": "team", "enabled": "on", "on_callback": "on", "deadline_minutes": "30",
             "webhook_url": receiver.url, "webhook_format": "slack"},
        )  # fmt: skip
        assert response.status_code == 302
        rule = Rule.objects.get(name="team")
        failed = staff_client.post(f"/notifications/{rule.pk}/test", follow=True).content.decode()
        sent = staff_client.post(f"/notifications/{rule.pk}/test", follow=True).content.decode()

    assert "Test webhook not delivered: Attempt 1: The webhook answered HTTP 500" in failed
    assert "receiver is down" not in failed
    assert "Test webhook sent." in sent
    assert len(receiver.requests) == 2
    text = json.loads(receiver.requests[1]["body"])["text"]
    assert "Test message of the rule team" in text
    assert "<https://console.example.com/approvals/|Open in Durable Console>" in text
    log = markup.parse(staff_client.get("/notifications/deliveries/").content)
    rows = {row.attrs["data-status"]: row for row in log.find_all(data_testid="delivery-row")}
    assert len(log.find_all(data_testid="delivery-row")) == 2
    assert set(rows) == {"delivered", "pending"}
    assert "Attempt 1: The webhook answered HTTP 500" in rows["pending"].text


@pytest.mark.django_db(transaction=True)
def test_a_worker_with_beat_notifies_a_new_callback_once(tmp_path, sandbox_source, lambda_sandbox):
    from tests.conftest import start_celery_worker, stop_process_group

    with Receiver() as receiver:
        rule = Rule.objects.create(
            name="beat", webhook_url=receiver.url, callback_pattern="barista*", on_deadline=False
        )
        worker = start_celery_worker(
            tmp_path / "notify-worker.log", NOTIFY_SCAN_SECONDS="1",
            CONSOLE_BASE_URL="https://console.example.com",
            OUTGOING_ALLOWED_NETWORKS=RECEIVER_NETWORK,
        )  # fmt: skip
        try:
            arn = start(
                lambda_sandbox, "coffee-order", {"orderId": "beat"}, f"bt-{uuid.uuid4().hex[:8]}"
            )
            wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
            # The worker's own sync mirrors it, its beat scans, a send task posts it.
            wait_for(lambda: _bodies(receiver, arn), 90, interval=0.5, what="the webhook")
            # Two more scans see the same callback and send nothing more.
            seen = _scans(tmp_path)
            scans = wait_for(lambda: _scans(tmp_path) >= seen + 2, 60, what="two more scans")
        finally:
            stop_process_group(worker)

    assert scans
    # The worker mirrors every execution of the sandbox (earlier tests' ones too): one
    # message for each waiting callback, and one for this one.
    sent = [(b["execution_arn"], b["operation_id"]) for b in map(json.loads, _all(receiver))]
    assert len(sent) == len(set(sent))
    (body,) = _bodies(receiver, arn)
    operation = Operation.objects.get(execution__arn=arn, operation_id=body["operation_id"])
    assert body["link"] == _page_of(operation)
    delivery = Delivery.objects.get(execution=operation.execution)
    assert (delivery.rule, delivery.status, delivery.attempts) == (rule, "delivered", 1)


def _all(receiver: Receiver) -> list[bytes]:
    return [request["body"] for request in receiver.requests]


def _bodies(receiver: Receiver, arn: str) -> list[dict]:
    return [body for body in map(json.loads, _all(receiver)) if body["execution_arn"] == arn]


def _scans(tmp_path) -> int:
    """Scans the worker finished, from its log."""
    log = (tmp_path / "notify-worker.log").read_text(errors="replace")
    return len(re.findall(r"Task notify\.tasks\.scan\[[^\]]+\] succeeded", log))


@pytest.mark.django_db
def test_a_rule_without_a_source_reads_any_source_in_its_form_its_list_and_the_admin(
    staff_client, admin_client
):
    factories.offline_source("eu-west")
    rule = Rule.objects.create(name="everywhere", email_to="a@example.com")

    for client, url in (
        (staff_client, "/notifications/new"),
        (staff_client, f"/notifications/{rule.pk}/"),
        (admin_client, f"/admin/notify/rule/{rule.pk}/change/"),
    ):
        page = markup.parse(client.get(url).content)
        (select,) = page.find_all("select", name="source")
        options = select.find_all("option")
        assert [o.text for o in options] == ["Any source", "eu-west"], url
        assert options[0].has("selected") and options[0].attrs["value"] == "", url
    rules = markup.parse(staff_client.get("/notifications/").content)
    assert "any source" in rules.text and "---" not in rules.text


@pytest.mark.django_db
def test_rules_and_deliveries_are_in_the_admin(admin_client):
    rule = Rule.objects.create(name="admin-rule", email_to="a@example.com")
    Delivery.objects.create(rule=rule, channel="email", event="test", subject_key="test:x")
    for url in ("/admin/notify/rule/", f"/admin/notify/rule/{rule.pk}/change/",
                "/admin/notify/delivery/"):  # fmt: skip
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert "admin-rule" in response.content.decode()
    assert admin_client.get("/admin/notify/delivery/add/").status_code == 403


def test_a_slack_body_escapes_names_and_an_email_subject_stays_one_line():
    from notify.channels import Message, webhook_body

    rule = Rule(name="s", webhook_url="https://hooks.example.com/x", webhook_format="slack")
    link = "https://console.example.com/executions/1/"
    text = f"<!channel> & friends\nline two\n{link}"
    body = json.loads(webhook_body(rule, Message("callback", "s", text, link)))
    assert body["text"] == (
        f"&lt;!channel&gt; &amp; friends\nline two\n<{link}|Open in Durable Console>"
    )
    delivery = Delivery(rule=rule, event=Event.TEST, title="two\nlines", link=link)
    assert deliver.message_for(delivery).subject == "[Durable Console] two lines"
