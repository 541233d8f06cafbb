"""The mirror: what the console knows about Lambda endpoints and their durable executions.

Views read only these tables; sync.py writes them. Every index names the query it serves.
Credentials are never stored here: a Source names where credentials come from (the
default chain or a named profile, optionally an STS role), never the keys themselves.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models, transaction
from django.utils import timezone


class ExecutionStatus(models.TextChoices):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"
    PAUSING = "PAUSING"
    PAUSED = "PAUSED"
    DELETING = "DELETING"


TERMINAL_STATUSES = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.STOPPED,
    }
)
NON_TERMINAL_STATUSES = frozenset(set(ExecutionStatus) - TERMINAL_STATUSES)


class OperationStatus(models.TextChoices):
    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


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
    reconcile_interval_seconds = models.PositiveIntegerField(
        default=300, help_text="With a queue: how often executions are listed anyway."
    )
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


class ExecutionManager(models.Manager):
    def insert_once(self, arn: str, **fields: object) -> tuple[Execution, bool]:
        """Insert an execution seen for the first time: (its row, True); or, when another
        worker inserted it a moment ago, (that row, False)."""
        try:
            with transaction.atomic():
                return self.create(arn=arn, **fields), True
        except IntegrityError:
            return self.get(arn=arn), False


class Execution(models.Model):
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=256)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="executions")
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="executions")
    qualifier = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=128, blank=True)
    input_payload = models.TextField(null=True, blank=True)  # noqa: DJ001 (None: no payload)
    input_truncated = models.BooleanField(default=False)
    result_payload = models.TextField(null=True, blank=True)  # noqa: DJ001 (None: no payload)
    result_truncated = models.BooleanField(default=False)
    error = models.JSONField(null=True, blank=True)
    error_truncated = models.BooleanField(default=False)
    # Denormalised from the operation tree for the list page.
    operation_count = models.PositiveIntegerField(default=0)
    operation_counts = models.JSONField(default=dict, blank=True)
    pending_callbacks = models.PositiveIntegerField(default=0)
    # Incremental history reading: events up to last_event_id are stored.
    last_event_id = models.PositiveIntegerField(default=0)
    # True once a terminal execution's history has been read to its end; such an
    # execution is never fetched again.
    history_complete = models.BooleanField(default=False)
    # When the execution was last checked against its endpoint (pages: "checked 4 s ago").
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True)
    sync_error_at = models.DateTimeField(null=True, blank=True)
    # The scheduler (executions/schedule.py): when to check next (None: as soon as the
    # budget allows, e.g. first sight), the current back-off interval, and the earliest
    # moment the history names in the future (a wait's end, a retry, a callback deadline).
    next_check_at = models.DateTimeField(null=True, blank=True)
    # The time of the newest status event applied (events can arrive out of order).
    status_event_at = models.DateTimeField(null=True, blank=True)
    check_interval = models.FloatField(default=0)
    wake_at = models.DateTimeField(null=True, blank=True)
    # The raw GetDurableExecution (or list) record, as the API returned it.
    raw = models.JSONField(default=dict, blank=True)

    objects = ExecutionManager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The execution list: newest first, keyset-paginated on (started_at, id).
            models.Index(fields=["-started_at", "-id"], name="exec_started_idx"),
            # The list filtered by status (one or several), newest first.
            models.Index(fields=["status", "-started_at", "-id"], name="exec_status_idx"),
            # The list filtered by function, newest first; and "newest seen per function".
            models.Index(fields=["function", "-started_at", "-id"], name="exec_function_idx"),
            # The list filtered by source, newest first.
            models.Index(fields=["source", "-started_at", "-id"], name="exec_source_idx"),
            # Name lookups (exact and prefix matches).
            models.Index(fields=["name"], name="exec_name_idx"),
            # The sync sweep: non-terminal executions, or terminal ones not fully read.
            models.Index(fields=["history_complete", "status"], name="exec_sweep_idx"),
            # The scheduler: executions that can change, by when they are due a check.
            models.Index(
                fields=["source", "history_complete", "next_check_at"], name="exec_due_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class HistoryEvent(models.Model):
    """One event of GetDurableExecutionHistory, every field kept."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="events")
    event_id = models.PositiveIntegerField()
    event_type = models.CharField(max_length=64)
    sub_type = models.CharField(max_length=64, blank=True)
    operation_id = models.CharField(max_length=256, blank=True)
    name = models.TextField(blank=True)
    parent_id = models.CharField(max_length=256, blank=True)
    timestamp = models.DateTimeField(null=True)
    # The event's *Details object, and the whole event as the API returned it.
    details = models.JSONField(default=dict, blank=True)
    raw = models.JSONField(default=dict)

    class Meta:
        ordering = ["execution", "event_id"]
        constraints = [
            # Events are inserted once: a replayed page cannot duplicate one.
            models.UniqueConstraint(fields=["execution", "event_id"], name="event_unique")
        ]
        indexes = [
            # The events tab filtered by event type.
            models.Index(fields=["execution", "event_type", "event_id"], name="event_type_idx"),
            # The events tab filtered by operation.
            models.Index(fields=["execution", "operation_id", "event_id"], name="event_op_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.event_type}"


class Operation(models.Model):
    """One node of an execution's operation tree (see executions/tree.py)."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="operations")
    operation_id = models.CharField(max_length=256)
    parent_operation_id = models.CharField(max_length=256, blank=True)
    name = models.TextField(blank=True)
    type = models.CharField(max_length=32)
    subtype = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=OperationStatus.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    callback_id = models.TextField(blank=True)
    wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    wait_scheduled_end = models.DateTimeField(null=True, blank=True)
    invoke_function = models.CharField(max_length=2048, blank=True)
    child_execution_arn = models.CharField(max_length=2048, blank=True)
    input_payload = models.TextField(null=True, blank=True)  # noqa: DJ001 (None: no payload)
    result_payload = models.TextField(null=True, blank=True)  # noqa: DJ001 (None: no payload)
    result_truncated = models.BooleanField(default=False)
    error = models.JSONField(null=True, blank=True)
    retries = models.JSONField(default=list, blank=True)
    first_event_id = models.PositiveIntegerField(default=0)
    last_event_id = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["execution", "first_event_id"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "operation_id"], name="operation_unique")
        ]
        indexes = [
            # Tree and tab rendering: an execution's operations in start order.
            models.Index(fields=["execution", "first_event_id"], name="op_order_idx"),
            # The approvals inbox: pending callbacks across all executions.
            models.Index(fields=["type", "status"], name="op_type_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.operation_id

    @property
    def is_pending_callback(self) -> bool:
        return self.type == "CALLBACK" and self.status == OperationStatus.STARTED


class SetAsideMessage(models.Model):
    """A status event message the console could not use, kept with its reason (it is
    deleted from the queue, so it is not read again and again)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="set_aside")
    message_id = models.CharField(max_length=128)
    body = models.TextField()
    reason = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # The sync health page: a source's newest set-aside messages.
            models.Index(fields=["source", "-received_at"], name="set_aside_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id}: {self.reason}"


class AuditOutcome(models.TextChoices):
    PENDING = "PENDING", "Sent, awaiting the backend"
    SUCCEEDED = "SUCCEEDED", "Done"
    FAILED = "FAILED", "The backend refused it"


class AuditEntry(models.Model):
    """One operator action, written before the API call and completed after it.

    Append-only from the UI: the admin shows entries read-only and nothing deletes them.
    """

    user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the record survives the user's deletion.
    username = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=32)
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_name = models.CharField(max_length=64, blank=True)
    execution_arn = models.CharField(max_length=2048, blank=True)
    callback_id = models.TextField(blank=True)
    # What was sent (callback result, error fields, start input), as text.
    payload = models.TextField(blank=True)
    outcome = models.CharField(
        max_length=16, choices=AuditOutcome.choices, default=AuditOutcome.PENDING
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The audit page: newest first, optionally filtered by action or user.
            models.Index(fields=["-created_at", "-id"], name="audit_created_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
            models.Index(fields=["username", "-created_at"], name="audit_user_idx"),
            # Everything done to one execution.
            models.Index(fields=["execution_arn"], name="audit_arn_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.action}"


class BulkJob(models.Model):
    """A bulk action (stop many executions) run by Celery, with its progress."""

    user = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    execution_ids = models.JSONField(default=list)
    parameters = models.JSONField(default=dict, blank=True)
    # [{"arn": ..., "name": ..., "error": ...}] for every execution the action failed on.
    failures = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} of {self.total}"

    @property
    def finished(self) -> bool:
        return self.finished_at is not None
