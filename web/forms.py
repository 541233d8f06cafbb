"""Form fields and form helpers every app's forms share: ids read as strictly as a URL's
numbers (web/params.py), and where a POST goes back to."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from web import params


def next_url(request: HttpRequest, fallback: str) -> str:
    """Where a POST goes back to: the form's (or the link's) `next`, if it is a path or an
    address on this site, else `fallback`. A bare word ("2026-13-01", "login") is refused
    too: redirect() would look it up as the name of a view, and fail or go elsewhere."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return fallback
    if target.startswith("/") or urlsplit(target).scheme in ("http", "https"):
        return target
    return fallback


class IdChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose id is read as params reads a number in a URL (digits 0-9,
    within a 64-bit integer), refused with a message naming the field `name`. Django's
    own hands the text to the lookup, where int() reads "١" as 1 and a 20-digit id
    overflows the database's integer."""

    def __init__(self, *args: Any, name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not isinstance(value, self.queryset.model):
            try:
                params.whole_number(self.name, str(value).strip(), minimum=1)
            except params.BadQuery as exc:
                raise ValidationError(str(exc), code="invalid_choice") from None
        return super().to_python(value)


class IdsField(forms.Field):
    """Ids from checkboxes (executions, or the inbox's callbacks), blanks left out. Each is
    read as params reads a number in a URL (digits 0-9, within a 64-bit integer): anything
    else is refused with a message naming the field `name`, as no checkbox sends it."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name

    def to_python(self, value: Any) -> list[int]:
        values = [str(v).strip() for v in value or []]
        try:
            return [params.whole_number(self.name, v, minimum=1) for v in values if v]
        except params.BadQuery as exc:
            raise ValidationError(str(exc), code="invalid") from None


class WholeNumberField(forms.IntegerField):
    """An IntegerField that takes the digits 0-9 only (Django's int() reads "١٢" as 12)
    and says so naming the field `name`."""

    def __init__(self, *args: Any, name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        try:
            return params.whole_number(
                self.name, str(value).strip(), minimum=self.min_value, maximum=self.max_value
            )
        except params.BadQuery as exc:
            raise ValidationError(str(exc), code="invalid") from None
