"""The forms behind every POST of the actions app: the one place that says what valid
input is (with the service's limits from actions/validation.py). A service takes what a
form cleaned. `submit()` does, in order:
1. the fields (a function that exists, ids that are numbers, JSON within 1 MB, a name of
   letters and digits), each refused with a message that says what is wrong;
2. the one-time token, spent only once the rest is well formed; a replayed or expired
   form is refused with REPLAYED (`replayed` is then true);
3. `send()`: the service call, whose refusal (`ActionRefused`: the callback no longer
   waits, the execution has ended) becomes the form's error.
`refusal` is the one message a page shows beside the form.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import QueryDict

from access.scope import scope_of
from actions import approvals, bulk, services, tokens, validation
from actions.models import Decision
from actions.services import ActionResult
from domain import answers
from executions.models import Execution, ExecutionStatus, Function, Operation
from web import params
from web.forms import IdChoiceField, IdsField

REPLAYED = (
    "This form was already sent, or it has expired; nothing was sent again. "
    "Reload the page to act again."
)
CHOOSE_A_FUNCTION = "Choose a function."
NOTHING_SELECTED = "No running executions were selected; nothing to stop."

# What the callback forms show before anything was typed (the same answer every form
# offers: domain/answers.py); the error message names who rejects.
CALLBACK_INITIAL = {
    "result": answers.DEFAULT_RESULT,
    "error_type": answers.DEFAULT_ERROR_TYPE,
    "error_message": "",
    "error_data": "",
    "reason": "",
}


def _raw() -> forms.CharField:
    # A field whose value the form only passes on (a token, a choice of scope).
    return forms.CharField(required=False, strip=False)


class PayloadField(forms.CharField):
    """JSON text within the service's 1 MB, at any depth; blank means `blank`."""

    def __init__(self, what: str, *, blank: str = "{}") -> None:
        super().__init__(required=False, strip=False)
        self.what, self.blank = what, blank

    def clean(self, value: Any) -> str:
        return validation.json_payload(super().clean(value), self.what, self.blank)


class LimitedText(forms.CharField):
    """Text, stripped, within `limit` characters; `required` says so by its `label`."""

    def __init__(self, label: str, limit: int, *, required: bool = False) -> None:
        super().__init__(required=False, strip=False)
        self.what, self.limit, self.needed = label, limit, required

    def clean(self, value: Any) -> str:
        return validation.text(super().clean(value), self.what, self.limit, self.needed)


class ActionForm(forms.Form):
    token = _raw()
    # The pages' forms carry a one-time token; the API's requests do not (a retried API
    # request is made safe by its Idempotency-Key: api/idempotency.py), and it sets this
    # to False.
    checks_token = True

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
        if self.errors or not self.sends or not self.checks_token:
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
            self.add_error(None, ValidationError(str(exc), code=exc.code))
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


def callback_values(data: QueryDict | None = None, username: str = "") -> dict[str, str]:
    """What the callback forms show: what was just sent (kept after a refusal), else the
    initial values (a rejection's message naming `username`)."""
    data = data if data is not None else QueryDict()
    initial = {**CALLBACK_INITIAL, "error_message": answers.default_error_message(username)}
    return {name: data.get(name, value) for name, value in initial.items()}


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
        self.operation = operation
        self.callback_id = operation.callback_id


class CallbackSuccessForm(CallbackForm):
    """Approve: send the result, or hold the approval when a policy needs more people
    (actions/approvals.py)."""

    result = PayloadField("Result")
    reason = LimitedText("Reason", validation.MAX_ERROR_MESSAGE)

    def send(self) -> ActionResult:
        return approvals.answer(
            self.user,
            self.execution,
            self.operation,
            Decision.APPROVE,
            result=self.cleaned_data["result"],
            reason=self.cleaned_data["reason"],
        )


class CallbackFailureForm(CallbackForm):
    error_type = LimitedText("Error type", validation.MAX_ERROR_TYPE, required=True)
    error_message = forms.CharField(required=False)
    error_data = PayloadField("Error data", blank="")

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data
        if not self.errors:
            try:
                validation.error_fields(
                    data["error_type"], data["error_message"], data["error_data"]
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        return super().clean()

    reason = LimitedText("Reason", validation.MAX_ERROR_MESSAGE)

    def send(self) -> ActionResult:
        data = self.cleaned_data
        return approvals.answer(
            self.user,
            self.execution,
            self.operation,
            Decision.REJECT,
            error_type=data["error_type"],
            error_message=data["error_message"],
            error_data=data["error_data"],
            reason=data["reason"],
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
    error_type = LimitedText("Error type", validation.MAX_ERROR_TYPE)
    error_message = LimitedText("Error message", validation.MAX_ERROR_MESSAGE)

    def send(self) -> ActionResult:
        return services.stop(
            self.user,
            self.execution,
            self.cleaned_data["error_type"],
            self.cleaned_data["error_message"],
        )


class PauseForm(ExecutionForm):
    reason = LimitedText("Reason", validation.MAX_ERROR_MESSAGE)

    def send(self) -> ActionResult:
        return services.pause(self.user, self.execution, self.cleaned_data["reason"])


class ResumeForm(ExecutionForm):
    reason = LimitedText("Reason", validation.MAX_ERROR_MESSAGE)

    def send(self) -> ActionResult:
        return services.resume(self.user, self.execution, self.cleaned_data["reason"])


class DeleteForm(ExecutionForm):
    def send(self) -> ActionResult:
        return services.delete(self.user, self.execution)


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


def startable(functions: Any, user: Any) -> Any:
    """The functions this person may start: those they may act on (access/scope.py)."""
    acting = scope_of(user).act
    return functions if acting is None else functions.filter(pk__in=acting)


class StartForm(ActionForm):
    # A field, so it is checked before the token: a form without a function spends nothing.
    function = IdChoiceField(
        queryset=Function.objects.select_related("source"),
        name="function",
        error_messages={"required": CHOOSE_A_FUNCTION, "invalid_choice": CHOOSE_A_FUNCTION},
    )
    name = forms.CharField(required=False, strip=False)
    input = PayloadField("Input")

    def __init__(
        self,
        data: QueryDict | dict | None = None,
        *,
        user: Any,
        started_from: Execution | None = None,
    ) -> None:
        super().__init__(data, user=user)
        self.fields["function"].queryset = startable(self.fields["function"].queryset, user)
        self.started_from = started_from

    def clean_name(self) -> str:
        return validation.execution_name(self.cleaned_data["name"])

    def send(self) -> ActionResult:
        data = self.cleaned_data
        return services.start(
            self.user, data["function"], data["name"], data["input"], self.started_from
        )


# Start again: the form, then a review of the change, then the start. The review page
# seals what it showed (who, from which execution, function, name, input) in `reviewed`;
# the start sends only what was sealed.
REVIEW_SALT = "actions.start-again.review"
REVIEW_MAX_AGE = 60 * 60
NOT_REVIEWED = (
    "What you are starting is not what you reviewed (the input, name or function changed "
    "since); nothing was started. Review this change, then Start."
)
REVIEW_EXPIRED = "The review is over an hour old; nothing was started. Review it again."


def _review_digest(user: Any, origin: Execution, function: Function, name: str, text: str) -> str:
    # Line ends as a browser sends them (CRLF) or not: the same JSON either way.
    fields = [user.pk, origin.pk, function.pk, name, text.replace("\r\n", "\n")]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def review_seal(user: Any, origin: Execution, function: Function, name: str, text: str) -> str:
    """The `reviewed` field of a review page, for these values."""
    digest = _review_digest(user, origin, function, name, text)
    return signing.TimestampSigner(salt=REVIEW_SALT).sign(digest)


class StartAgainForm(StartForm):
    """`step`: "review" (check the fields, send nothing), "edit" (back to the form), or
    "start" (the reviewed values, sealed in `reviewed`: spends the token and starts)."""

    step = _raw()
    reviewed = _raw()

    def __init__(self, data: QueryDict | None = None, *, user: Any, origin: Execution) -> None:
        super().__init__(data, user=user, started_from=origin)
        self.origin = origin

    @property
    def sends(self) -> bool:
        return self.data.get("step") == "start"

    def clean_input(self) -> str:
        text = self.cleaned_data["input"]
        if self.origin.input_truncated and not (self.data.get("input") or "").strip():
            raise ValidationError(
                f"The input of {self.origin.name} was cut short when it was read, so it "
                "cannot be reused: paste the whole input to start with.",
                code="input_required",
            )
        return text

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data
        if not self.errors and self.sends:
            expected = _review_digest(
                self.user, self.origin, data["function"], data["name"], data["input"]
            )
            try:
                sealed = signing.TimestampSigner(salt=REVIEW_SALT).unsign(
                    data.get("reviewed", ""), max_age=REVIEW_MAX_AGE
                )
            except signing.SignatureExpired:
                self.add_error("reviewed", ValidationError(REVIEW_EXPIRED, code="not_reviewed"))
            except signing.BadSignature:
                self.add_error("reviewed", ValidationError(NOT_REVIEWED, code="not_reviewed"))
            else:
                if not hmac.compare_digest(sealed, expected):
                    self.add_error("reviewed", ValidationError(NOT_REVIEWED, code="not_reviewed"))
        return super().clean()

    @property
    def not_reviewed(self) -> bool:
        return self.has_error("reviewed", "not_reviewed")


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


SET_CHANGED = (
    "The executions that match have changed since the preview, so nothing was stopped. "
    "This is the new set: look at it again and confirm."
)


class BulkStopForm(BulkChoice, ActionForm):
    """Step 1 names the executions (selected ids, or every running one that matches the
    list's filter) for the preview; step 2 (`confirm=yes`) carries the preview's `digest`
    and acts only on that very set: if the set now differs (one started matching, one
    ended, one changed status), it is refused with code `changed` (the view shows the new
    preview), else it spends the token and the job is queued with the set frozen
    (`cleaned_data["frozen"]`: each execution's status as previewed)."""

    scope = _raw()
    ids = IdsField(name="ids", required=False)
    filter = _raw()
    confirm = _raw()
    digest = _raw()
    error_type = LimitedText("Error type", validation.MAX_ERROR_TYPE)
    error_message = LimitedText("Error message", validation.MAX_ERROR_MESSAGE)
    # The API names its set in the request itself and answers with the ids; the pages'
    # confirmation must carry the digest of what it showed.
    needs_digest = True

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        if self.errors:
            return cleaned
        if self.by_filter:
            try:
                cleaned["targets"] = bulk.running_matching(cleaned.get("filter", ""), self.user)
            except params.BadQuery as exc:  # the list's filter, as its URL carries it
                raise ValidationError(f"The list's filter cannot be read: {exc}") from None
        else:
            cleaned["filter"] = ""
            cleaned["targets"] = bulk.running_among(cleaned.get("ids", []), self.user)
        cleaned["frozen"] = bulk.frozen_statuses(cleaned["targets"])
        cleaned["now"] = bulk.digest(cleaned["frozen"])
        if not cleaned["targets"]:
            raise ValidationError(NOTHING_SELECTED, code="nothing")
        if self.confirmed and (self.needs_digest or cleaned.get("digest")):
            if cleaned.get("digest") != cleaned["now"]:
                raise ValidationError(SET_CHANGED, code="changed")
        return super().clean()
