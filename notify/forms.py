"""The rule form of the console's pages (the admin has its own)."""

from __future__ import annotations

from django import forms

from executions.models import Source
from notify.models import Rule
from web.forms import IdChoiceField, WholeNumberField


class RuleForm(forms.ModelForm):
    # Ids and numbers read as strictly as a URL's (web/params.py): "١" is not source 1.
    source = IdChoiceField(
        queryset=Source.objects.order_by("name"),
        name="source",
        required=False,
        empty_label="Any source",
        help_text="Any source, or only the one chosen here.",
    )
    deadline_minutes = WholeNumberField(
        name="deadline_minutes",
        min_value=1,
        max_value=7 * 24 * 60,
        initial=30,
        label="near means within (minutes)",
        help_text="For 'deadline near'.",
    )
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text=(
            "HTTP(S) URL to POST to, at a public address (or one OUTGOING_ALLOWED_NETWORKS "
            "names). Blank: no webhook."
        ),
    )

    class Meta:
        model = Rule
        fields = [
            "name",
            "enabled",
            "source",
            "function_pattern",
            "callback_pattern",
            "on_callback",
            "on_deadline",
            "deadline_minutes",
            "on_failure",
            "email_to",
            "webhook_url",
            "webhook_format",
        ]
        labels = {
            "function_pattern": "Function name pattern",
            "callback_pattern": "Callback name pattern",
            "email_to": "Email to",
            "webhook_url": "Webhook URL",
        }
        help_texts = {
            "function_pattern": "Shell-style, e.g. orders-* ; blank: every function.",
            "callback_pattern": "Shell-style, e.g. *approval* ; blank: every callback.",
        }
        widgets = {"email_to": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
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
