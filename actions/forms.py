"""The forms behind every POST of the actions app.

A form reads the POST; the rules stay in actions/services.py. `submit()` does, in order:
1. the fields' shapes (a function that exists, ids that are numbers);
2. the one-time token, spent only once the rest is well formed; a replayed or expired
   form is refused with REPLAYED (`replayed` is then true);
3. `send()`: the service call, whose refusal (`ActionRefused`) becomes the form's error.
`refusal` is the one message a page shows beside the form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from actions import bulk, services, tokens
from actions.services import ActionResult
from executions.models import Execution, ExecutionStatus, Function, Operation
from web import params
from web.forms import IdChoiceField, IdsField

REPLAYED = (
    "This form was already sent, or it has expired; nothing was sent again. "
    "Reload the page to act again."
)
CHOOSE_A_FUNCTION = "Choose a function."
NOTHING_SELECTED = "No running executions were selected; nothing to stop."

# What the callback forms show before anything was typed.
CALLBACK_INITIAL = {"result": "{}", "error_type": "Rejected", "error_message": "", "error_data": ""}


def _raw() -> forms.CharField:
    # As sent: services.py strips and checks lengths, with its own messages.
    return forms.CharField(required=False, strip=False)


class ActionForm(forms.Form):
    token = _raw()

    def __init__(self, data: QueryDict | None = None, *, user: Any) -> None:
        super().__init__(data)
        self.user = user

    @property
    def sends(self) -> bool:
        """Whether this POST sends something (and so spends its token)."""
        return True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # Last: a form refused for its shape spends nothing.
        if self.errors or not self.sends:
            return cleaned
        if not tokens.consume_token(self.user, cleaned.get("token", "")):
            self.add_error("token", ValidationError(REPLAYED, code="replayed"))
        return cleaned

    def submit(self) -> ActionResult | None:
        """Send, when the form is valid and the service accepts it; else None, and the
        reason is the form's `refusal`. A result that is not `ok` is the backend's refusal."""
        if not self.is_valid():
            return None
        try:
            return self.send()
        except services.ActionRefused as exc:
            self.add_error(None, ValidationError(str(exc), code="refused"))
            return None

    def send(self) -> ActionResult:
        raise NotImplementedError

    @property
    def replayed(self) -> bool:
        return self.has_error("token", "replayed")

    @property
    def refusal(self) -> str:
        """The first reason this form was refused (fields first, then the token, then the
        service), or ''."""
        return next((str(errors[0]) for errors in self.errors.values()), "")


# ---- callbacks ------------------------------------------------------------------------


def callback_values(data: QueryDict | None = None) -> dict[str, str]:
    """What the callback forms show: what was just sent (kept after a refusal), else the
    initial values."""
    data = data if data is not None else QueryDict()
    return {name: data.get(name, initial) for name, initial in CALLBACK_INITIAL.items()}


class CallbackForm(ActionForm):
    def __init__(
        self,
        data: QueryDict | None = None,
        *,
        user: Any,
        execution: Execution,
        operation: Operation,
    ) -> None:
        super().__init__(data, user=user)
        self.execution = execution
        self.callback_id = operation.callback_id


class CallbackSuccessForm(CallbackForm):
    result = _raw()

    def send(self) -> ActionResult:
        return services.callback_success(
            self.user, self.execution, self.callback_id, self.cleaned_data["result"]
        )


class CallbackFailureForm(CallbackForm):
    error_type = _raw()
    error_message = _raw()
    error_data = _raw()

    def send(self) -> ActionResult:
        return services.callback_failure(
            self.user,
            self.execution,
            self.callback_id,
            self.cleaned_data["error_type"],
            self.cleaned_data["error_message"],
            self.cleaned_data["error_data"],
        )


class CallbackHeartbeatForm(CallbackForm):
    def send(self) -> ActionResult:
        return services.callback_heartbeat(self.user, self.execution, self.callback_id)


# ---- stop, pause, resume --------------------------------------------------------------


class ExecutionForm(ActionForm):
    def __init__(self, data: QueryDict | None = None, *, user: Any, execution: Execution) -> None:
        super().__init__(data, user=user)
        self.execution = execution


class StopForm(ExecutionForm):
    error_type = _raw()
    error_message = _raw()

    def send(self) -> ActionResult:
        return services.stop(
            self.user,
            self.execution,
            self.cleaned_data["error_type"],
            self.cleaned_data["error_message"],
        )


class PauseForm(ExecutionForm):
    reason = _raw()

    def send(self) -> ActionResult:
        return services.pause(self.user, self.execution, self.cleaned_data["reason"])


class ResumeForm(ExecutionForm):
    reason = _raw()

    def send(self) -> ActionResult:
        return services.resume(self.user, self.execution, self.cleaned_data["reason"])


# ---- start ----------------------------------------------------------------------------

# An example longer than this is no help in a form.
EXAMPLE_MAX_CHARS = 2000


def example_inputs(functions: Iterable[Function]) -> dict[int, dict[str, str]]:
    """An example input for each function that has run: the input of its latest execution
    that succeeded (else of its latest one), laid out as JSON, with that execution's name.
    Shown beside the start form, never filled in unasked: it may be a real order."""
    examples = {}
    for function in functions:
        runs = Execution.objects.filter(
            function=function, input_payload__isnull=False, input_truncated=False
        ).only("name", "input_payload")
        execution = runs.filter(status=ExecutionStatus.SUCCEEDED).first() or runs.first()
        if execution is None or len(execution.input_payload) > EXAMPLE_MAX_CHARS:
            continue
        try:
            text = json.dumps(json.loads(execution.input_payload), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to lay out
            continue
        if len(text) <= EXAMPLE_MAX_CHARS:
            examples[function.pk] = {"input": text, "execution": execution.name}
    return examples


class StartForm(ActionForm):
    # A field, so it is checked before the token: a form without a function spends nothing.
    function = IdChoiceField(
        queryset=Function.objects.select_related("source"),
        name="function",
        error_messages={"required": CHOOSE_A_FUNCTION, "invalid_choice": CHOOSE_A_FUNCTION},
    )
    name = _raw()
    input = _raw()

    def send(self) -> ActionResult:
        data = self.cleaned_data
        return services.start(self.user, data["function"], data["name"], data["input"])


# ---- bulk stop ------------------------------------------------------------------------


class BulkChoice:
    """What a bulk form's first and second posts share: `scope` (the ticked rows, or all
    that match the filter) and `confirm` (the confirmation page's answer)."""

    cleaned_data: dict[str, Any]

    @property
    def by_filter(self) -> bool:
        return self.cleaned_data.get("scope") == "filter"

    @property
    def confirmed(self) -> bool:
        return self.cleaned_data.get("confirm") == "yes"

    @property
    def sends(self) -> bool:
        return self.confirmed


class BulkStopForm(BulkChoice, ActionForm):
    """Step 1 names the executions (selected ids, or every running one that matches the
    list's filter); step 2 (`confirm=yes`) spends the token and queues the job."""

    scope = _raw()
    ids = IdsField(name="ids", required=False)
    filter = _raw()
    confirm = _raw()
    error_type = _raw()
    error_message = _raw()

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        if self.by_filter:
            try:
                cleaned["targets"] = bulk.running_matching(cleaned.get("filter", ""))
            except params.BadQuery as exc:  # the list's filter, as its URL carries it
                raise ValidationError(f"The list's filter cannot be read: {exc}") from None
        else:
            cleaned["filter"] = ""
            cleaned["targets"] = bulk.running_among(cleaned.get("ids", []))
        if not cleaned["targets"]:
            raise ValidationError(NOTHING_SELECTED, code="nothing")
        return super().clean()
