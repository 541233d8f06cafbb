"""Durable executions as the mirror holds them: the execution, its history events and its
operation tree."""

from __future__ import annotations

from django.db import IntegrityError, models, transaction

from domain import operations, status
from executions.models.sources import Function, Source

# The API's status vocabularies, from domain/status.py (the one home of what they mean).
ExecutionStatus = models.TextChoices("ExecutionStatus", " ".join(status.EXECUTION_STATUSES))
OperationStatus = models.TextChoices("OperationStatus", " ".join(status.OPERATION_STATUSES))
TERMINAL_STATUSES = status.TERMINAL_EXECUTION_STATUSES
NON_TERMINAL_STATUSES = frozenset(status.EXECUTION_STATUSES) - TERMINAL_STATUSES
# The same, in a fixed order: partial indexes name it in their condition, and the queries
# they serve (executions/attention.py) must write it the same way for the planner to match.
LIVE_STATUSES = tuple(s for s in status.EXECUTION_STATUSES if s not in TERMINAL_STATUSES)


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
    # What a running execution waits for (domain.operations.waiting_for: "callback",
    # "timer", "retry", "poll"; "" while it computes), and until when for a timer.
    waiting_for = models.CharField(max_length=16, blank=True, default="")
    waiting_until = models.DateTimeField(null=True, blank=True)
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
    # Telemetry records (executions/telemetry.py): the emittedAt of the newest one applied
    # (its records flow: the scheduler reads its history only as a reconciliation), and
    # whether one that was applied had been truncated (operations or payloads dropped to
    # fit its message) and no history read has filled in what it dropped since.
    telemetry_at = models.DateTimeField(null=True, blank=True)
    telemetry_truncated = models.BooleanField(default=False)
    # When the sync found that AWS no longer has this ended execution (its history past
    # the function's RetentionPeriodInDays): the mirror's copy is the only one left.
    aws_deleted_at = models.DateTimeField(null=True, blank=True)
    # Started again from that execution through this console (actions.services.start,
    # the page's Start again or the API's start-again). Only the console writes it: the
    # sync updates named fields and never this one.
    started_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="started_again"
    )

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
            # The list of a function in one status, newest first: a person whose scope is
            # some functions reads each (function, status) as one range of it
            # (browser/listing.py), even a status none of them is in.
            models.Index(
                fields=["function", "status", "-started_at", "-id"], name="exec_function_status_idx"
            ),
            # The list filtered by source, newest first.
            models.Index(fields=["source", "-started_at", "-id"], name="exec_source_idx"),
            # The overview's recent failures: by status, newest end first.
            models.Index(fields=["status", "-ended_at", "-id"], name="exec_ended_idx"),
            # Name lookups (exact and prefix matches).
            models.Index(fields=["name"], name="exec_name_idx"),
            # The sync sweep: non-terminal executions, or terminal ones not fully read.
            models.Index(fields=["history_complete", "status"], name="exec_sweep_idx"),
            # The scheduler: executions that can change, by when they are due a check.
            models.Index(
                fields=["source", "history_complete", "next_check_at"], name="exec_due_idx"
            ),
            # Needs attention (executions/attention.py): executions not ended, by how many
            # operations they have (near AWS's 3,000); only live rows are in it.
            models.Index(
                fields=["operation_count"],
                condition=models.Q(status__in=LIVE_STATUSES),
                name="exec_live_ops_idx",
            ),
            # Needs attention: retry storms, running executions waiting to retry a step,
            # counted per function.
            models.Index(
                fields=["function"],
                condition=models.Q(status="RUNNING", waiting_for="retry"),
                name="exec_retry_wait_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def settled(self) -> bool:
        """Ended, and its history read to the end: the mirror will not change again."""
        return self.is_terminal and self.history_complete

    @property
    def mirror_state(self) -> str:
        """Changes whenever what a page shows of the execution can change: new events,
        a new status (listing and status events set it before the history is read), the
        history read to its end."""
        return f"{self.last_event_id}.{self.status}.{int(self.history_complete)}"

    @property
    def waiting(self) -> str:
        """What it waits for while it runs ("" when it computes or has ended)."""
        return self.waiting_for if self.status == "RUNNING" else ""

    @property
    def callbacks_waiting(self) -> int:
        """Callbacks waiting for an answer; none once the execution has ended."""
        return 0 if self.is_terminal else self.pending_callbacks


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


class OperationQuerySet(models.QuerySet):
    def pending_callbacks(self) -> OperationQuerySet:
        """Callbacks waiting for an answer (domain.operations.is_pending_callback)."""
        return self.filter(type=operations.CALLBACK, status=operations.PENDING_CALLBACK_STATUS)

    def awaiting_answer(self) -> OperationQuerySet:
        """What people are asked to answer: pending callbacks of executions that still
        run, with their execution, function and source. The inbox, its count in the
        navigation bar, the overview, bulk answers and the notifications all list these."""
        return (
            self.pending_callbacks()
            .exclude(execution__status__in=TERMINAL_STATUSES)
            .select_related("execution", "execution__function", "execution__source")
        )


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
    # The newest state a telemetry record reported for it (executions/telemetry.py:
    # status, attempt, times, error, result, emittedAt), None if none did. The columns
    # above hold whichever of that and the history is further along; a history read
    # folds its events and keeps this state where it is still ahead (executions/history.py).
    telemetry = models.JSONField(null=True, blank=True)

    objects = OperationQuerySet.as_manager()

    class Meta:
        ordering = ["execution", "first_event_id"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "operation_id"], name="operation_unique")
        ]
        indexes = [
            # Tree and tab rendering: an execution's operations in start order.
            models.Index(fields=["execution", "first_event_id"], name="op_order_idx"),
            # The tabs' visible part of a tree: an operation's children, and their counts.
            models.Index(
                fields=["execution", "parent_operation_id", "first_event_id"],
                name="op_parent_idx",
            ),
            # The approvals inbox: pending callbacks across all executions.
            models.Index(fields=["type", "status"], name="op_type_status_idx"),
            # Needs attention (executions/attention.py): operations by how many attempts
            # they needed; only those retried at all are in it.
            models.Index(
                fields=["attempt_count", "execution"],
                condition=models.Q(attempt_count__gte=2),
                name="op_retried_idx",
            ),
            # Needs attention: maps and parallels not done (fan-outs that may be growing).
            models.Index(
                fields=["execution"],
                condition=models.Q(subtype__in=["Map", "Parallel"], status="STARTED"),
                name="op_fanout_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.operation_id

    @property
    def label(self) -> str:
        return operations.label(self.name, self.subtype, self.type, self.operation_id)

    @property
    def is_pending_callback(self) -> bool:
        return operations.is_pending_callback(self.type, self.status)


class StatusCount(models.Model):
    """How many executions of a function are in each status, kept by the database itself
    (triggers on the execution table: migration 0006), so the list's counts are read, not
    counted: a few rows per function instead of a scan of a million executions."""

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["function", "status"], name="status_count_unique")
        ]

    def __str__(self) -> str:
        return f"{self.function_id} {self.status}: {self.count}"
