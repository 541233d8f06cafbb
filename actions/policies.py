"""Which approval policy governs a callback, who may approve under it, and what a policy
must be to be saved.

The most specific enabled policy that matches wins: one naming the source beats one that
does not, then an exact function name beats a pattern beats blank, then the same for the
callback's name. Two policies of equal weight that could govern the same callback are
refused when saved, so the winner is never a coin toss.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from access import roles
from access.models import Identity
from actions.models import ApprovalPolicy
from domain import operations
from domain.patterns import glob_matches
from executions.models import AuditEntry, AuditOutcome, Execution, Function, Operation

# ---- which policy --------------------------------------------------------------------


def callback_name(operation: Operation) -> str:
    return operations.label(operation.name, operation.subtype, operation.type, "")


def enabled_policies() -> list[ApprovalPolicy]:
    return list(ApprovalPolicy.objects.filter(enabled=True).select_related("source"))


def policy_for(
    execution: Execution, operation: Operation, candidates: list[ApprovalPolicy] | None = None
) -> ApprovalPolicy | None:
    """The policy that governs the callback (`candidates`: the enabled policies, when the
    caller has them for many callbacks)."""
    name = callback_name(operation)
    found = [
        policy
        for policy in (enabled_policies() if candidates is None else candidates)
        if policy.matches(execution.source_id, execution.function.name, name)
    ]
    return max(found, key=lambda p: (p.weight(), p.name)) if found else None


def rules_of(policy: ApprovalPolicy) -> dict[str, Any]:
    """What a request keeps of its policy (ApprovalRequest.rules)."""
    return {
        "policy": policy.name,
        "groups": policy.groups,
        "users": policy.users,
        "approvals_required": policy.approvals_required,
        "rejections_required": policy.rejections_required,
        "reason_to_approve": policy.reason_to_approve,
        "reason_to_reject": policy.reason_to_reject,
        "requester_path": policy.requester_path,
    }


# ---- who may approve -----------------------------------------------------------------


def _provider_groups(user: Any) -> set[str]:
    found: set[str] = set()
    for claims in Identity.objects.filter(user=user).values_list("claims", flat=True):
        found.update(g for g in (claims or {}).get("groups", []) if isinstance(g, str))
    return found


def is_named_approver(user: Any, rules: dict[str, Any]) -> bool:
    """In the policy's users or groups (the console's groups, or the identity provider's
    as of the person's last sign-in); a policy that names neither takes any operator."""
    users, groups = set(rules.get("users") or []), set(rules.get("groups") or [])
    if not users and not groups:
        return True
    if user.get_username() in users:
        return True
    mine = set(user.groups.values_list("name", flat=True)) | _provider_groups(user)
    return bool(mine & groups)


def starter_of(execution: Execution) -> str:
    """Who started the execution from the console (the audit log says), or ""."""
    return (
        AuditEntry.objects.filter(
            action="start", execution_arn=execution.arn, outcome=AuditOutcome.SUCCEEDED
        )
        .values_list("username", flat=True)
        .first()
        or ""
    )


_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['([^']*)'\]")


def requester_of(execution: Execution, path: str) -> str:
    """The value at `path` ($.requestedBy, $.order.owner, $.approvers[0]) of the
    execution's input, as text; "" when there is none."""
    if not path or not execution.input_payload:
        return ""
    try:
        value: Any = json.loads(execution.input_payload)
    except (ValueError, RecursionError):
        return ""
    rest = path.strip()
    if not rest.startswith("$"):
        return ""
    rest = rest[1:]
    while rest:
        match = _PATH_PART.match(rest)
        if match is None:
            return ""
        key, index, quoted = match.groups()
        rest = rest[match.end() :]
        if index is not None:
            value = (
                value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
            )
        else:
            value = (
                value.get(key if key is not None else quoted) if isinstance(value, dict) else None
            )
        if value is None:
            return ""
    return value if isinstance(value, str) else ""


def refusal(user: Any, execution: Execution, rules: dict[str, Any]) -> str:
    """Why this person may not answer under these rules, or "" when they may."""
    if not roles.may_act(user, execution):
        return "Answering this callback needs the operator role on its function."
    if not is_named_approver(user, rules):
        who = ", ".join(
            rules.get("users", []) + [f"members of {g}" for g in rules.get("groups", [])]
        )
        return (
            f"The policy “{rules.get('policy')}” lets only {who} answer this callback; "
            "you are not one of them."
        )
    name = user.get_username()
    if name and starter_of(execution) == name:
        return (
            "You started this execution from the console, so you may not answer its "
            "callback: another approver must (no self-approval)."
        )
    requester = requester_of(execution, rules.get("requester_path", ""))
    if requester and requester.strip().lower() in {name.lower(), (user.email or "").lower()}:
        return (
            f"The execution's input names you as its requester ({rules.get('requester_path')}), "
            "so you may not answer its callback: another approver must (no self-approval)."
        )
    return ""


def possible_approvers(policy: ApprovalPolicy) -> list[str]:
    """The active users who may act and whom the policy names (for the count check, and
    for notifications)."""
    rules = rules_of(policy)
    return sorted(
        user.get_username()
        for user in get_user_model().objects.filter(is_active=True)
        if roles.can_act(user) and is_named_approver(user, rules)
    )


def approvers_of(execution: Execution, rules: dict[str, Any]) -> list[Any]:
    """The people who may approve this execution's callback under these rules: named by
    the policy, and allowed to act on the execution (their scope)."""
    return [
        user
        for user in get_user_model().objects.filter(is_active=True)
        if is_named_approver(user, rules) and roles.may_act(user, execution)
    ]


def approver_emails(execution: Execution, rules: dict[str, Any]) -> list[str]:
    """Where a notification about the callback also goes: the approvers its policy names
    (a policy that names nobody in particular adds no one)."""
    if not (rules.get("users") or rules.get("groups")):
        return []
    return sorted({user.email for user in approvers_of(execution, rules) if user.email})


# ---- instructions ----------------------------------------------------------------------

_HTML_TAG = re.compile(r"<\s*/?\s*[A-Za-z!?][^>]*>")


def _http_only(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://"))


_markdown = MarkdownIt("commonmark", {"html": False})
_markdown.validateLink = _http_only  # type: ignore[method-assign]
_markdown.disable("image")


def render_instructions(text: str) -> SafeString:
    """Markdown as HTML: no raw HTML (it shows as text), links only http(s) and opening
    in a new tab without the console as their opener, no images."""
    html = _markdown.render(text or "")
    html = html.replace("<a href=", '<a rel="noopener noreferrer" target="_blank" href=')
    return mark_safe(html)  # noqa: S308 (markdown-it escapes everything else)


# ---- what a policy must be to be saved ----------------------------------------------------


def problems(policy: ApprovalPolicy) -> dict[str, str]:
    """{field: why} for a policy that must not be saved as it is."""
    found: dict[str, str] = {}
    if _HTML_TAG.search(policy.instructions or ""):
        found["instructions"] = (
            "Instructions may not hold HTML: write Markdown (**bold**, lists, "
            "[a link](https://example.com))."
        )
    if policy.approvals_required < 1 or policy.rejections_required < 1:
        found["approvals_required"] = "At least one approval (and one rejection) is needed."
    functions = Function.objects.all()
    if policy.source_id:
        functions = functions.filter(source_id=policy.source_id)
    names = [f.name for f in functions]
    if not any(glob_matches(name, policy.function_pattern) for name in names):
        found["function_pattern"] = (
            f"“{policy.function_pattern or '*'}” matches no function the console knows"
            + (f" in {policy.source}" if policy.source_id else "")
            + ": the policy would govern nothing. Check the name (patterns are shell-style, "
            "e.g. payments-*)."
        )
    if policy.enabled:
        for other in ApprovalPolicy.objects.filter(enabled=True).exclude(pk=policy.pk):
            if other.weight() == policy.weight() and _could_overlap(policy, other, names):
                found["callback_pattern"] = (
                    f"The policy “{other.name}” is as specific as this one and could govern "
                    "the same callbacks, so neither would win: make one more specific (a "
                    "source, an exact name) or change its patterns."
                )
                break
    possible = possible_approvers(policy)
    if policy.approvals_required > len(possible):
        found["approvals_required"] = (
            f"{policy.approvals_required} approvals are required, but only {len(possible)} "
            f"people may approve under this policy ({', '.join(possible) or 'nobody'}): it "
            "could never be satisfied."
        )
    return found


def _could_overlap(a: ApprovalPolicy, b: ApprovalPolicy, names: list[str]) -> bool:
    if a.source_id and b.source_id and a.source_id != b.source_id:
        return False
    same_functions = a.function_pattern.strip().lower() == b.function_pattern.strip().lower()
    shared = same_functions or any(
        glob_matches(n, a.function_pattern) and glob_matches(n, b.function_pattern) for n in names
    )
    if not shared:
        return False
    pa, pb = a.callback_pattern.strip().lower(), b.callback_pattern.strip().lower()
    if pa == pb:
        return True
    # Callback names seen in the mirror: do both patterns take one of them?
    seen = (
        Operation.objects.filter(type=operations.CALLBACK)
        .values_list("name", flat=True)
        .distinct()[:2000]
    )
    return any(
        glob_matches(label, pa) and glob_matches(label, pb)
        for label in (operations.label(n, "", operations.CALLBACK, "") for n in seen)
    )
