"""Management commands: source, sync, grant."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from executions.models import Execution, Source

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_source_add_list_and_remove():
    assert "Added source prod" in run(
        "source", "add", "prod", "--region", "eu-west-1", "--function", "orders:prod",
        "--function", "refunds", "--role-arn", "arn:aws:iam::123456789012:role/Reader",
        "--profile", "audit",
    )  # fmt: skip
    source = Source.objects.get(name="prod")
    assert source.function_names == ["orders:prod", "refunds"]
    assert (source.region, source.credentials, source.profile) == ("eu-west-1", "profile", "audit")
    assert source.is_aws and not source.discover
    assert "Updated source prod" in run("source", "add", "prod", "--discover")
    listing = run("source", "list")
    assert "prod" in listing and "AWS us-east-1" in listing and "discovered" in listing
    assert "Removed source prod" in run("source", "remove", "prod")
    assert not Source.objects.exists()


def test_source_add_refuses_bad_input_with_a_reason():
    with pytest.raises(CommandError, match="at least one --function"):
        run("source", "add", "x", "--region", "us-east-1")
    with pytest.raises(CommandError, match="Invalid source: endpoint_url"):
        run("source", "add", "x", "--endpoint-url", "not a url", "--discover")
    with pytest.raises(CommandError, match="exclude each other"):
        run("source", "add", "x", "--discover", "--profile", "p", "--unsigned")
    with pytest.raises(CommandError, match="No source named nope"):
        run("source", "remove", "nope")


def test_sync_once_mirrors_a_source_added_by_the_command(sandbox, lambda_sandbox):
    from sandbox.client import start, wait_for_status

    arn = start(lambda_sandbox, "order-processor", {"orderId": "CMD"})
    wait_for_status(lambda_sandbox, arn)
    run("source", "add", "sbx", "--endpoint-url", sandbox.endpoint_url, "--unsigned",
        "--function", "order-processor")  # fmt: skip
    assert "new events" in run("sync", "--source", "sbx", "--once")
    assert Execution.objects.get(arn=arn).history_complete
    with pytest.raises(CommandError, match="No source named other"):
        run("sync", "--source", "other", "--once")


def test_grant_gives_one_role_at_a_time():
    user = User.objects.create_user("gus")
    assert "gus now has: viewer." in run("grant", "gus", "viewer")
    run("grant", "gus", "operator")
    assert list(user.groups.values_list("name", flat=True)) == ["operator"]
    with pytest.raises(CommandError, match="No user named ghost"):
        run("grant", "ghost", "viewer")
