"""Needs attention: the executions that are likely wrong, each with the reason in words and
the action that fits (stop, pause, open), and the overview's card of how many per reason.

The conditions themselves, their thresholds and their queries are executions/attention.py's
(so later guardrails judge by the same rules); this module only lays out what they find,
for what the person may see (access/scope.py). The actions are the existing forms of
actions/ (actions/templatetags/attention_actions.py puts them on each row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from access import scope
from access.scope import EVERYTHING, Scope
from executions import attention
from executions.models import Source
from web import params

# Rows per condition on the whole page, and on a page of one condition (?reason=).
SHOWN = 10
SHOWN_ONE = 100


@dataclass
class Section:
    condition: attention.Condition
    total: int
    findings: list[attention.Finding]

    @property
    def total_text(self) -> str:
        return attention.count_text(self.total)

    @property
    def more(self) -> int:
        return max(self.total - len(self.findings), 0)

    @property
    def by_function(self) -> bool:
        """Its findings are functions (retry storms), not executions."""
        return any(f.execution is None for f in self.findings)


def sections(visible: Scope, now: datetime, names: list[str], limit: int) -> list[Section]:
    found = []
    for name in names:
        condition = attention.BY_NAME[name]
        total, findings = condition.look(visible.read, now, limit)
        found.append(Section(condition, total, findings))
    return found


def overview_card(visible: Scope = EVERYTHING) -> dict[str, Any]:
    """The overview's card: how many each condition matches, and in all."""
    counts = attention.counts(visible.read)
    total = sum(counts.values())
    return {
        "attention": [
            (attention.BY_NAME[name], attention.count_text(n)) for name, n in counts.items() if n
        ],
        # Past the cap, the total is "1,000+" too: each count stops there.
        "attention_total": attention.count_text(total) if total else "",
    }


@require_GET
def needs_attention(request: HttpRequest) -> HttpResponse:
    visible = scope.of_request(request)
    reason = params.choice(request.GET, "reason", attention.BY_NAME)
    now = timezone.now()
    names = [reason] if reason else [c.name for c in attention.CONDITIONS]
    found = sections(visible, now, names, SHOWN_ONE if reason else SHOWN)
    context = {
        "sections": found,
        "reason": attention.BY_NAME.get(reason),
        "total": sum(s.total for s in found),
        "total_text": attention.count_text(sum(s.total for s in found)),
        "no_sources": not Source.objects.exists(),
        "now": now,
    }
    return render(request, "browser/attention.html", context)
