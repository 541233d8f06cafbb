"""The guardrail form: what a rule watches, its condition and threshold, what it does. Every
refusal says why; a rule that could never find anything, or would find every execution, is
refused here."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from executions import attention
from executions.models import Function, Source
from guardrails.models import Action, Guardrail
from notify.models import Rule
from web.forms import IdChoiceField, WholeNumberField

FIELDS = [
    "name",
    "source",
    "function_pattern",
    "condition",
    "threshold",
    "action",
    "notify_rule",
    "act_while_waiting_for_people",
    "max_per_hour",
]


class ThresholdField(forms.FloatField):
    """A number written with the digits 0-9 and at most one point (float() would read
    "١٢" as 12, and "1e400" or "nan" as numbers no threshold is)."""

    def to_python(self, value: Any) -> float | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,6})?", text):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return float(text)


CONDITION_CHOICES = [(c.name, c.title) for c in attention.RULE_CONDITIONS]


def threshold_help() -> list[dict[str, Any]]:
    """Each condition, what its threshold counts, and its default: the form's guide."""
    rows = []
    for condition in attention.RULE_CONDITIONS:
        spec = condition.spec
        rows.append(
            {
                "name": condition.name,
                "title": condition.title,
                "explain": condition.explain()
                if spec is None or spec.default() is not None
                else "",
                "label": spec.label if spec else "",
                "range": f"{spec.minimum:g} to {spec.maximum:,g}" if spec else "",
                "default": spec.default() if spec else None,
                "actions": [a for a in (Action.PAUSE, Action.STOP) if a in condition.actions],
            }
        )
    return rows


class GuardrailForm(forms.ModelForm):
    source = IdChoiceField(
        queryset=Source.objects.order_by("name"),
        name="source",
        required=False,
        empty_label="Every source",
    )
    condition = forms.ChoiceField(
        choices=CONDITION_CHOICES,
        error_messages={"invalid_choice": "Choose one of the conditions listed."},
    )
    threshold = ThresholdField(
        required=False,
        help_text="Blank: the console's setting (the needs-attention page's).",
        error_messages={"invalid": "The threshold is a number, like 5 or 2.5."},
    )
    notify_rule = IdChoiceField(
        queryset=Rule.objects.order_by("name"),
        name="notify_rule",
        required=False,
        empty_label="Nobody",
        label="Tell through the channels of",
        help_text="A notification rule's email and webhook. Required to notify; for pause "
        "and stop it hears each action and when the circuit breaker trips.",
    )
    max_per_hour = WholeNumberField(
        name="max_per_hour", min_value=1, max_value=1000, initial=10,
        label="Circuit breaker: pauses or stops per hour, at most",
        help_text="Past it, the rule holds back and tells its channels.",
    )  # fmt: skip

    class Meta:
        model = Guardrail
        fields = FIELDS
        labels = {
            "function_pattern": "Function name pattern",
            "act_while_waiting_for_people": "Also pause or stop executions waiting for a "
            "person's answer",
        }
        help_texts = {
            "function_pattern": "Shell-style, e.g. payments-* ; blank: every function.",
            "act_while_waiting_for_people": "Off: an execution with a callback waiting is "
            "never paused or stopped by this rule (it is recorded, and left to people).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "form-check-input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            else:
                widget.attrs["class"] = "form-control"
            widget.attrs.setdefault("id", f"id_{name}")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        condition = attention.RULE_BY_NAME[cleaned["condition"]]
        threshold = cleaned.get("threshold")
        if condition.spec is None:
            if threshold is not None:
                self.add_error(
                    "threshold",
                    f"“{condition.title}” has no threshold of its own; the console's "
                    f"settings decide: {condition.explain()} Leave it blank.",
                )
        elif problem := condition.spec.problem(threshold):
            self.add_error("threshold", problem)
        action = cleaned.get("action")
        if action in (Action.PAUSE, Action.STOP) and action not in condition.actions:
            self.add_error(
                "action",
                f"“{condition.title}” can only notify: what it finds is not one execution "
                "to pause or stop, or stopping would not help.",
            )
        if action == Action.NOTIFY and cleaned.get("notify_rule") is None:
            self.add_error("notify_rule", "To notify, choose whose channels carry the message.")
        source, pattern = cleaned.get("source"), cleaned.get("function_pattern", "")
        candidate = Guardrail(source=source, function_pattern=pattern)
        functions = Function.objects.all()
        if source is not None:
            functions = functions.filter(source=source)
        if not any(candidate.matches(f) for f in functions.only("name", "source_id")):
            where = f" in {source.name}" if source is not None else ""
            self.add_error(
                "function_pattern",
                ValidationError(
                    f"No function the console knows matches “{pattern or '*'}”{where}: the "
                    "rule could never find anything. Check the pattern, or add the source "
                    "first."
                ),
            )
        return cleaned
