"""The layout's rules (docs/development.md), read from the source's imports: each job in its
room, dependencies one way, boto3 behind one package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

APPS = [
    "console", "domain", "executions", "browser", "actions", "notify", "visualizer", "access",
    "web", "api", "guardrails", "retention",
]  # fmt: skip


def _modules(package: str) -> list[Path]:
    return sorted(path for path in (REPO / package).rglob("*.py") if "migrations" not in path.parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _offenders(packages: list[str], forbidden: tuple[str, ...], allowed: str = "") -> list[str]:
    found = []
    for package in packages:
        for path in _modules(package):
            relative = path.relative_to(REPO).as_posix()
            if allowed and relative.startswith(allowed):
                continue
            bad = sorted(
                name
                for name in _imports(path)
                if any(name == f or name.startswith(f + ".") for f in forbidden)
            )
            if bad:
                found.append(f"{relative}: {', '.join(bad)}")
    return found


def test_only_the_lambda_api_package_imports_boto3_or_botocore():
    assert _modules("executions/lambda_api"), "the package moved: update this test"
    assert _offenders(APPS, ("boto3", "botocore"), allowed="executions/lambda_api/") == []


@pytest.mark.parametrize("package", ["domain", "visualizer"])
def test_the_pure_packages_import_no_django(package):
    assert _offenders([package], ("django", "executions", "browser", "actions", "console")) == []


def test_the_read_side_never_imports_the_sync_engine_or_the_actions():
    forbidden = ("executions.sync", "executions.history", "executions.tasks", "actions")
    assert _offenders(["browser"], forbidden) == []


def test_the_mirror_depends_on_neither_the_pages_nor_the_actions():
    assert _offenders(["executions"], ("browser", "actions")) == []


def test_the_rules_of_the_layout_would_catch_an_offender(tmp_path):
    # The checks above read real imports: one written inside a function is seen too.
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import boto3.session\n    from executions import sync\n")
    assert {"boto3.session", "executions", "executions.sync"} <= _imports(module)


@pytest.mark.parametrize("package", ["web", "access"])
def test_the_shared_web_layer_and_the_access_rules_import_no_app_above_them(package):
    # Every app's views use them, so they may use none of those apps.
    assert _modules(package), "the package moved: update this test"
    assert _offenders([package], ("browser", "actions", "notify", "sandbox")) == []


def test_notifications_read_approval_policies_and_nothing_else_of_the_actions():
    # A notification says how many approvals a callback needs (actions.approvals); the
    # actions never import the notifications.
    allowed = {"actions.approvals", "actions.policies"}
    found = [line for line in _offenders(["notify"], ("actions", "browser"))]
    for line in found:
        names = set(line.split(": ", 1)[1].split(", "))
        assert names <= allowed | {"actions"}, line
    assert _offenders(["actions"], ("notify",)) == []


def test_the_api_is_a_top_room_that_no_other_app_imports():
    # The API calls the same forms and services as the pages (actions/, browser/); they
    # know nothing of it, so a page never depends on the API's shape. Only the URLs and
    # settings wire it in.
    assert _modules("api"), "the package moved: update this test"
    below = [app for app in APPS if app not in ("api", "console", "guardrails", "retention")]
    assert _offenders(below, ("api",)) == []
    assert _offenders(["api"], ("sandbox", "bench")) == []


def test_guardrails_stand_on_the_actions_and_the_notifications_and_nothing_stands_on_them():
    # A rule acts through the operators' services (audited like a person's action) and
    # speaks through the notification channels; the conditions are executions/attention.py's.
    # Nothing below imports the guardrails, so a page or a sync never depends on a rule.
    assert _modules("guardrails"), "the package moved: update this test"
    below = [app for app in APPS if app not in ("api", "console", "guardrails", "retention")]
    assert _offenders(below, ("guardrails",)) == []
    assert _offenders(["guardrails"], ("api", "sandbox", "bench", "boto3")) == []


def test_retention_is_a_top_room_that_nothing_but_the_console_imports():
    # The prune's mechanics are the mirror's (executions/prune.py, under the sync's lock);
    # what it must keep is known above it (bulk jobs, approvals, guardrails): this room
    # asks them and runs the prune on beat. No page, action or rule depends on it.
    assert _modules("retention"), "the package moved: update this test"
    others = [app for app in APPS if app not in ("console", "retention")]
    assert _offenders(others, ("retention",)) == []
    assert _offenders(["retention"], ("api", "browser", "sandbox", "bench", "boto3")) == []


def test_monitoring_logs_is_a_leaf_and_its_metrics_a_top_room():
    # Any room may tag its log lines (monitoring/logs.py imports nothing of the project);
    # the metrics read every room's figures, so only the URLs and the middleware import
    # them, like the API.
    assert _modules("monitoring"), "the package moved: update this test"
    project = ("console", "domain", "executions", "browser", "actions", "notify", "access",
               "web", "api", "guardrails", "visualizer", "sandbox", "bench")  # fmt: skip
    logs = [path for path in _modules("monitoring") if path.name == "logs.py"]
    assert logs
    assert [name for name in _imports(logs[0]) if name.split(".")[0] in project] == []
    below = [app for app in APPS if app not in ("api", "console", "guardrails")]
    for line in _offenders(below, ("monitoring",)):
        names = set(line.split(": ", 1)[1].split(", "))
        assert names <= {"monitoring", "monitoring.logs"}, line
    assert _offenders(["monitoring"], ("api", "sandbox", "bench")) == []
