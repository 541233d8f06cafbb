"""The account page's form: a new API token's name, scope and expiry (access/api_tokens.py
makes it). Each refusal is said beside its field, and what was typed stays."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from access import api_tokens, roles
from access.models import ApiToken, TokenScope

DEFAULT_DAYS = 90
DIGITS = re.compile(r"[0-9]{1,9}")


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=api_tokens.MAX_NAME,
        help_text="What uses it, to tell it apart later: “ci-deploy”, “grafana”.",
        error_messages={
            "required": "Give the token a name, to tell it apart later (what uses it).",
            "max_length": f"The name is longer than {api_tokens.MAX_NAME} characters.",
        },
    )
    scope = forms.ChoiceField(
        label="Scope",
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        error_messages={
            "required": "Choose the token's scope: read, or read and act.",
            "invalid_choice": "The scope is read, or read and act (act).",
        },
    )
    # Read as text: "١٢" and "12.0" are refused by name, not read as 12.
    days = forms.CharField(label="Expires after (days)", initial=DEFAULT_DAYS, max_length=20)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.can_act = roles.can_act(user)
        if not self.can_act:
            # Offered read only; "act" sent anyway is refused by clean_scope, with a reason.
            self.fields["scope"].widget.choices = [(TokenScope.READ, TokenScope.READ.label)]
            self.fields[
                "scope"
            ].help_text = "Your account may read but not act, so its tokens read only."
        else:
            self.fields["scope"].help_text = (
                "“read and act” may also answer callbacks and stop, pause, resume or start "
                "executions, as your roles allow."
            )
        self.fields["days"].help_text = f"From 1 to {api_tokens.max_days()} days."
        self.fields["name"].widget.attrs.update(
            {"class": "form-control", "autocomplete": "off", "maxlength": api_tokens.MAX_NAME}
        )
        self.fields["scope"].widget.attrs["class"] = "form-select"
        self.fields["days"].widget.attrs.update(
            {"class": "form-control", "inputmode": "numeric", "autocomplete": "off"}
        )
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("id", f"id_token_{name}")

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["class"] += " is-invalid"
                attrs["aria-invalid"] = "true"

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        existing = ApiToken.objects.filter(user=self.user, name=name).first()
        if existing is not None:
            if existing.usable:
                raise forms.ValidationError(
                    f"You already have a token named “{name}”: choose another name."
                )
            raise forms.ValidationError(
                f"A revoked or expired token of yours is named “{name}”, and a name is used "
                "once (the audit log tells tokens apart by it): choose another name."
            )
        return name

    def clean_scope(self) -> str:
        scope = self.cleaned_data["scope"]
        if scope == TokenScope.ACT and not self.can_act:
            raise forms.ValidationError(
                "Your account may read but not act, so a token of yours cannot act: ask an "
                "administrator for the operator role, or make a read token."
            )
        return scope

    def clean_days(self) -> int:
        text = str(self.cleaned_data["days"]).strip()
        longest = api_tokens.max_days()
        if not DIGITS.fullmatch(text) or not 1 <= int(text) <= longest:
            raise forms.ValidationError(
                f"A token lasts from 1 to {longest} days (a whole number, digits 0-9); "
                f"“{text[:20]}” is not."
            )
        return int(text)
