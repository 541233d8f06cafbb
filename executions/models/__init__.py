"""The mirror: what the console knows about Lambda endpoints and their durable executions.

Views read only these tables; sync.py writes them. Every index names the query it serves.
Credentials are never stored here: a Source names where credentials come from (the
default chain or a named profile, optionally an STS role), never the keys themselves.
"""

from executions.models.archive import ArchivedExecution
from executions.models.executions import (
    NON_TERMINAL_STATUSES,
    TERMINAL_STATUSES,
    Execution,
    ExecutionManager,
    ExecutionStatus,
    HistoryEvent,
    Operation,
    OperationQuerySet,
    OperationStatus,
    StatusCount,
)
from executions.models.records import (
    AuditEntry,
    AuditOutcome,
    BulkJob,
    HeldTelemetryRecord,
    SetAsideMessage,
)
from executions.models.sources import Credentials, Function, Source

__all__ = [
    "ArchivedExecution",
    "NON_TERMINAL_STATUSES",
    "TERMINAL_STATUSES",
    "AuditEntry",
    "AuditOutcome",
    "BulkJob",
    "Credentials",
    "Execution",
    "ExecutionManager",
    "ExecutionStatus",
    "Function",
    "HeldTelemetryRecord",
    "HistoryEvent",
    "Operation",
    "OperationQuerySet",
    "OperationStatus",
    "SetAsideMessage",
    "Source",
    "StatusCount",
]
