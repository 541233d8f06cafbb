"""The Lambda endpoints the console watches, and their functions."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class Credentials(models.TextChoices):
    DEFAULT = "default", "Default credential chain"
    PROFILE = "profile", "Named profile"
    NONE = "none", "Unsigned (local endpoints such as the sandbox)"


class Source(models.Model):
    """A Lambda endpoint to watch: an AWS account and region, or a local sandbox."""

    name = models.SlugField(max_length=64, unique=True)
    region = models.CharField(max_length=32, default="us-east-1")
    endpoint_url = models.URLField(blank=True, help_text="Blank means AWS itself.")
    credentials = models.CharField(
        max_length=16, choices=Credentials.choices, default=Credentials.DEFAULT
    )
    profile = models.CharField(
        max_length=128, blank=True, help_text="Profile name when credentials come from one."
    )
    role_arn = models.CharField(
        max_length=2048, blank=True, help_text="Optional role to assume through STS."
    )
    # The ExternalId the role's trust policy asks for (a role meant for a third party's
    # console usually does); not a secret, so it is stored like the role's ARN.
    role_external_id = models.CharField(
        max_length=1224, blank=True, help_text="ExternalId sent with AssumeRole, if the role asks."
    )
    function_names = models.JSONField(
        default=list,
        blank=True,
        help_text='Functions to watch, each "name" or "name:qualifier".',
    )
    discover = models.BooleanField(
        default=False, help_text="Also watch every function that has a DurableConfig."
    )
    list_interval_seconds = models.PositiveIntegerField(default=5)
    # How soon an execution that just changed is checked again; one that keeps not
    # changing backs off from here to SYNC_MAX_INTERVAL_SECONDS.
    execution_interval_seconds = models.PositiveIntegerField(default=3)
    quota_share = models.PositiveSmallIntegerField(
        default=70,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=(
            "Percent of each Lambda API quota (per account and Region) this console may "
            "spend; the rest is left for people and other tools. Sources on the same "
            "account and Region share one budget: give them the same share."
        ),
    )
    api_quotas = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Requests per second per API where the account's quotas differ from Lambda's "
            'defaults (raised through Service Quotas), e.g. {"GetDurableExecutionHistory": 50}.'
        ),
    )
    # What the backend can do beyond reading, learned once (executions.sync.learn_
    # capabilities) and remembered: {"PauseDurableExecution": false} for AWS's local
    # runner. Pages offer an action only where it is known to be there.
    capabilities = models.JSONField(default=dict, blank=True, editable=False)
    # Status events (EventBridge -> SQS, deploy/aws/status-events.yaml): with a queue, new
    # executions and status changes arrive within seconds, and listing becomes a slow
    # reconciliation every reconcile_interval_seconds.
    events_queue_url = models.CharField(
        max_length=2048,
        blank=True,
        help_text="SQS queue receiving Lambda's 'Durable Execution Status Change' events.",
    )
    events_endpoint_url = models.URLField(
        blank=True, help_text="The queue's SQS endpoint; blank means AWS itself."
    )
    # Telemetry (executions/telemetry.py): the SQS queue receiving the SDK's own
    # DurableExecutionTelemetry records (the telemetry plugin's SQSExporter, on-change and
    # full-tree; docs/DEPLOYMENT.md): each execution's operations within seconds, without
    # a history read; the history read becomes a rarer reconciliation. Read through
    # events_endpoint_url's SQS endpoint.
    telemetry_queue_url = models.CharField(
        max_length=2048,
        blank=True,
        help_text="SQS queue receiving the functions' DurableExecutionTelemetry records.",
    )
    reconcile_interval_seconds = models.PositiveIntegerField(
        default=300, help_text="With a queue: how often executions are listed anyway."
    )
    # Retention (executions/retention.py): how many days after it ended the mirror keeps an
    # execution before the prune archives it to S3 and deletes it; None keeps it forever.
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days an ended execution is kept, then archived and pruned; blank: forever.",
    )
    # Per function, by name pattern: {"orders-*": 7, "audit-*": null}; the most specific
    # pattern that matches wins (a name beats a pattern), null keeps forever.
    retention_by_function = models.JSONField(
        default=dict,
        blank=True,
        help_text='Days per function name pattern, overriding the source\'s: {"orders-*": 7}.',
    )
    # The prune's last run of this source (retention/tasks.py): when, its counts, and why
    # it stopped ("stopped": the archive's refusal), for the sync health page.
    last_prune = models.JSONField(default=dict, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Set when a poll fails and cleared by the next good one; pages show a
    # "stale since" banner from it.
    stale_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def supports(self, operation: str) -> bool:
        """Whether the backend is known to have `operation` (an optional one, such as
        PauseDurableExecution); unknown counts as no until it has been asked."""
        return bool(self.capabilities.get(operation))

    @property
    def is_aws(self) -> bool:
        return not self.endpoint_url

    @property
    def listing_interval_seconds(self) -> int:
        """How often its functions are listed: a reconciliation when events arrive."""
        if self.events_queue_url:
            return max(self.reconcile_interval_seconds, self.list_interval_seconds)
        return self.list_interval_seconds

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from executions.budget import READ_QUOTAS
        from executions.retention import retention_problem

        problem = retention_problem(self.retention_days)
        if problem:
            raise ValidationError({"retention_days": problem})
        overrides = self.retention_by_function or {}
        if not isinstance(overrides, dict):
            raise ValidationError(
                {"retention_by_function": 'Give a JSON object of pattern to days: {"orders-*": 7}.'}
            )
        for pattern, days in overrides.items():
            if not str(pattern).strip():
                raise ValidationError({"retention_by_function": "A pattern may not be blank."})
            problem = retention_problem(days)
            if problem:
                raise ValidationError({"retention_by_function": f"{pattern}: {problem}"})
        quotas = self.api_quotas or {}
        if not isinstance(quotas, dict):
            raise ValidationError({"api_quotas": "Give a JSON object of API name to rate."})
        for api, rate in quotas.items():
            if api not in READ_QUOTAS:
                raise ValidationError(
                    {"api_quotas": f"{api!r} is not budgeted; use one of {', '.join(READ_QUOTAS)}."}
                )
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
                raise ValidationError(
                    {"api_quotas": f"The quota of {api} must be a number of requests/s above 0."}
                )


class Function(models.Model):
    """A function (and qualifier) of a source whose executions are mirrored."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="functions")
    name = models.CharField(max_length=170)
    # Blank: no qualifier (the service lists $LATEST).
    qualifier = models.CharField(max_length=128, blank=True)
    arn = models.CharField(max_length=2048, blank=True)
    durable_config = models.JSONField(null=True, blank=True)
    explicit = models.BooleanField(default=False, help_text="Named on the source.")
    discovered = models.BooleanField(default=False, help_text="Found by ListFunctions.")
    last_listed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "qualifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "name", "qualifier"], name="function_unique_per_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}:{self.qualifier}" if self.qualifier else self.name
