"""The source form of the console's pages (the Django admin has its own): what a valid
source is, with a message that says what to change for each way one can be wrong."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from executions import audit
from executions.models import Credentials, Source
from executions.sync import parse_function_spec
from web.forms import WholeNumberField

# What a person sets on a source here, in the order of the form; pausing and resuming
# (`enabled`) have their own buttons, and their own audit entries.
FIELDS = [name for name in audit.AUDITED_FIELDS if name != "enabled"]
# Changing any of these points the source at another backend or identity: what it
# learned of the old one (which optional actions it has) is forgotten.
WHERE_FIELDS = frozenset({"endpoint_url", "region", "credentials", "profile", "role_arn"})

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,140}$")
QUALIFIER = re.compile(r"^(\$LATEST|[A-Za-z0-9_-]{1,128})$")
MAX_FUNCTIONS = 200


class FunctionNamesField(forms.CharField):
    """One function per line ("name", "name:qualifier" or a function ARN), kept as the
    JSON list the model holds."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value) or ""
        specs = [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
        if len(specs) > MAX_FUNCTIONS:
            raise ValidationError(
                f"Name at most {MAX_FUNCTIONS} functions here (there are {len(specs)}); "
                "turn on discovery for more."
            )
        problems = []
        for spec in specs:
            if spec.startswith("arn:") and spec.count(":") < 6:
                problems.append(f"“{spec[:80]}” is not a function ARN")
                continue
            name, qualifier = parse_function_spec(spec)
            if not FUNCTION_NAME.match(name):
                problems.append(f"“{spec[:80]}”: a function name is 1-140 letters, digits, - and _")
            elif qualifier and not QUALIFIER.match(qualifier):
                problems.append(f"“{spec[:80]}”: a qualifier is a version, an alias or $LATEST")
        if problems:
            raise ValidationError("; ".join(problems) + ".")
        return list(dict.fromkeys(specs))

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != list(initial or [])
        except ValidationError:
            return True


class SourceForm(forms.ModelForm):
    function_names = FunctionNamesField(
        label="Functions to watch",
        required=False,
        help_text='One a line: "name", "name:qualifier" or the function\'s ARN.',
    )
    quota_share = WholeNumberField(
        name="quota_share",
        min_value=1,
        max_value=100,
        initial=70,
        label="Share of each API quota (%)",
        help_text=Source._meta.get_field("quota_share").help_text,
    )
    list_interval_seconds = WholeNumberField(
        name="list_interval_seconds",
        min_value=1,
        max_value=86_400,
        initial=5,
        label="List every (s)",
        help_text="How often each function's executions are listed.",
    )
    execution_interval_seconds = WholeNumberField(
        name="execution_interval_seconds",
        min_value=1,
        max_value=3_600,
        initial=3,
        label="Check a changing execution every (s)",
        help_text="One that keeps not changing is checked less and less often.",
    )
    reconcile_interval_seconds = WholeNumberField(
        name="reconcile_interval_seconds",
        min_value=10,
        max_value=86_400,
        initial=300,
        label="With a queue, list anyway every (s)",
        help_text=Source._meta.get_field("reconcile_interval_seconds").help_text,
    )
    endpoint_url = forms.URLField(
        label="Endpoint URL",
        required=False,
        max_length=200,
        assume_scheme="https",
        help_text="Blank: AWS itself, in the Region below. Another endpoint (the sandbox, "
        "AWS's local runner): its URL, e.g. http://127.0.0.1:9000.",
    )
    events_endpoint_url = forms.URLField(
        label="Queue's SQS endpoint",
        required=False,
        max_length=200,
        assume_scheme="https",
        help_text="Blank: SQS on AWS itself.",
    )

    class Meta:
        model = Source
        fields = FIELDS
        labels = {
            "name": "Name",
            "region": "Region",
            "credentials": "Credentials",
            "profile": "Profile",
            "role_arn": "Role to assume",
            "role_external_id": "ExternalId",
            "discover": "Also watch every durable function it has (ListFunctions)",
            "events_queue_url": "Status-event queue URL",
            "telemetry_queue_url": "Telemetry queue URL",
            "api_quotas": "Quotas of this account, where raised",
            "retention_days": "Keep ended executions (days)",
            "retention_by_function": "Per function",
        }
        help_texts = {
            "name": "Letters, digits, - and _; how pages and filters name it.",
            "region": "e.g. us-east-1. A local endpoint takes any Region; the sandbox uses "
            "us-east-1.",
            "credentials": "Where the keys come from (never stored in the console). "
            "Unsigned: for a local endpoint such as the sandbox; AWS refuses it.",
            "profile": "With “Named profile”: the profile in this server's AWS config.",
            "role_arn": "Optional: arn:aws:iam::123456789012:role/durable-console-reader, "
            "assumed through STS with the credentials above.",
            "role_external_id": "If the role's trust policy asks for one (sts:ExternalId).",
            "events_queue_url": "Optional: the SQS queue that receives Lambda's “Durable "
            "Execution Status Change” events (deploy/aws/status-events.yaml).",
            "telemetry_queue_url": "Optional: the SQS queue that receives the functions' own "
            "DurableExecutionTelemetry records (the SDK's telemetry plugin, docs/DEPLOYMENT.md): "
            "operations within seconds, the history read only as a reconciliation.",
            "api_quotas": 'Optional JSON, requests/s per API, e.g. {"GetDurableExecutionHistory": '
            "50}.",
            "retention_days": "Blank: forever. After this many days from its end, an execution "
            "is archived to the archive bucket and pruned from the console's database.",
            "retention_by_function": "Optional JSON, days per function name pattern, e.g. "
            '{"orders-*": 7, "audit-*": null} (null: forever); the most specific pattern wins.',
        }
        widgets = {
            "api_quotas": forms.Textarea(attrs={"rows": 2}),
            "retention_by_function": forms.Textarea(attrs={"rows": 2}),
        }
        error_messages = {
            "name": {
                "unique": "A source with this name exists already: choose another name.",
                "invalid": "Use only letters, digits, - and _ in a source's name.",
            },
            "api_quotas": {"invalid": 'Give valid JSON, e.g. {"GetDurableExecution": 60}.'},
            "retention_by_function": {"invalid": 'Give valid JSON, e.g. {"orders-*": 7}.'},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Short enough to read whole in the select on a phone; the help text says more.
        self.fields["credentials"].choices = [
            (Credentials.DEFAULT, "Default credential chain"),
            (Credentials.PROFILE, "Named profile"),
            (Credentials.NONE, "Unsigned (local endpoint)"),
        ]
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "form-check-input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            else:
                widget.attrs["class"] = "form-control"
            widget.attrs.setdefault("id", f"id_{name}")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if not name:
            raise ValidationError("Give the source a name.")
        return name

    def clean_retention_by_function(self) -> dict[str, Any]:
        overrides = self.cleaned_data.get("retention_by_function")
        if overrides is None:
            return {}
        if not isinstance(overrides, dict):
            raise ValidationError(
                'Give a JSON object of name pattern to days, e.g. {"orders-*": 7}.'
            )
        return overrides

    def clean_api_quotas(self) -> dict[str, Any]:
        # "null" or a blank field: no raised quota (the column holds an object, never null).
        quotas = self.cleaned_data.get("api_quotas")
        if quotas is None:
            return {}
        if not isinstance(quotas, dict):
            raise ValidationError(
                'Give a JSON object of API name to requests/s, e.g. {"GetDurableExecution": 60}.'
            )
        return quotas

    def clean_region(self) -> str:
        region = (self.cleaned_data.get("region") or "").strip()
        if not REGION.match(region):
            raise ValidationError(
                f"“{region[:40]}” is not a Region: write it as AWS does, e.g. us-east-1 or "
                "eu-west-2."
            )
        return region

    def clean_role_arn(self) -> str:
        arn = (self.cleaned_data.get("role_arn") or "").strip()
        if arn and not ROLE_ARN.match(arn):
            raise ValidationError(
                "A role ARN reads arn:aws:iam::ACCOUNT:role/NAME, with a 12-digit account, "
                "e.g. arn:aws:iam::123456789012:role/durable-console-reader."
            )
        return arn

    def clean_role_external_id(self) -> str:
        external_id = (self.cleaned_data.get("role_external_id") or "").strip()
        if external_id and not EXTERNAL_ID.match(external_id):
            raise ValidationError(
                "An ExternalId is 2 to 1,224 letters, digits and + = , . @ : / - _ (no spaces)."
            )
        return external_id

    def clean_events_queue_url(self) -> str:
        url = (self.cleaned_data.get("events_queue_url") or "").strip()
        if url and (not url.startswith(("https://", "http://")) or url.count("/") < 4):
            raise ValidationError(
                "Give the queue's URL as SQS shows it: "
                "https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE-NAME."
            )
        return url

    def clean_telemetry_queue_url(self) -> str:
        url = (self.cleaned_data.get("telemetry_queue_url") or "").strip()
        if url and (not url.startswith(("https://", "http://")) or url.count("/") < 4):
            raise ValidationError(
                "Give the queue's URL as SQS shows it: "
                "https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE-NAME."
            )
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        credentials = cleaned.get("credentials")
        endpoint = cleaned.get("endpoint_url")
        if credentials == Credentials.NONE and not endpoint and "endpoint_url" not in self.errors:
            self.add_error(
                "credentials",
                "AWS refuses unsigned requests: choose the default credential chain or a "
                "named profile, or give the URL of a local endpoint above.",
            )
        if credentials == Credentials.PROFILE and not cleaned.get("profile"):
            self.add_error("profile", "Name the profile, or choose another credentials mode.")
        if credentials != Credentials.PROFILE and cleaned.get("profile"):
            self.add_error(
                "profile", "A profile is used only with “Named profile”: choose it, or clear this."
            )
        if cleaned.get("role_arn") and credentials == Credentials.NONE:
            self.add_error(
                "role_arn",
                "Assuming a role needs signed requests: choose the default credential chain "
                "or a named profile.",
            )
        if cleaned.get("role_external_id") and not cleaned.get("role_arn"):
            self.add_error("role_external_id", "An ExternalId goes with a role: give its ARN.")
        if (
            not cleaned.get("function_names")
            and not cleaned.get("discover")
            and "function_names" not in self.errors
        ):
            self.add_error(
                "function_names",
                "Name at least one function, or tick discovery below: otherwise nothing is "
                "mirrored.",
            )
        if (
            cleaned.get("events_endpoint_url")
            and not cleaned.get("events_queue_url")
            and not cleaned.get("telemetry_queue_url")
        ):
            self.add_error(
                "events_endpoint_url", "An SQS endpoint goes with a queue: give its URL."
            )
        return cleaned
