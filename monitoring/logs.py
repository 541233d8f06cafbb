"""Logs a machine can read: LOG_FORMAT=json writes one JSON object per line, with the
request id and the execution ARN where there is one; LOG_FORMAT=text (the default) keeps
the plain lines.

What a line is about comes from two context variables: `request_id` (set by
monitoring.middleware.RequestIdMiddleware for each web request) and `execution_arn` (set
by `bind_execution` where an execution is loaded: the execution pages and actions through
web.shortcuts.visible_execution, a sync in executions/sync.py). A log call may also pass
`extra={"execution_arn": ...}`, which wins. The web runs each request in a context of its
own (api.middleware.FreshContextMiddleware), and a Celery task starts and ends with both
cleared (`connect_celery`), so neither leaks into the next request or task.

Nothing here imports Django's models: console/settings.py builds LOGGING with
`logging_config` before the apps load.
"""

from __future__ import annotations

import contextvars
import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
execution_arn: contextvars.ContextVar[str] = contextvars.ContextVar("execution_arn", default="")

FORMATS = ("text", "json")

# A LogRecord's own attributes: anything else on a record came from `extra=` and is written
# as a field of its own.
_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "request_id", "execution_arn", "task_id", "task_name"}
)


def bind_execution(arn: str) -> contextvars.Token[str]:
    """What is logged from here on in this request or task is about this execution; the
    token given to `unbind` ends that (a sync of many executions in one loop)."""
    return execution_arn.set(arn or "")


def unbind(token: contextvars.Token[str]) -> None:
    try:
        execution_arn.reset(token)
    except ValueError:  # set in another context: nothing of ours to undo here
        execution_arn.set("")


def clear() -> None:
    request_id.set("")
    execution_arn.set("")


class ContextFilter(logging.Filter):
    """Puts the request id, the execution ARN and the Celery task (where there is one) on
    every record, unless the log call gave them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get()
        if not getattr(record, "execution_arn", ""):
            record.execution_arn = execution_arn.get()
        if not hasattr(record, "task_id"):
            task = _current_task()
            record.task_id = getattr(task.request, "id", "") if task is not None else ""
            record.task_name = getattr(task, "name", "") if task is not None else ""
        return True


def _current_task() -> Any:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover (celery is a requirement)
        return None
    task = current_task._get_current_object() if current_task else None
    return task if task is not None and getattr(task.request, "id", None) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One line of JSON per record: time (UTC, ISO 8601 with milliseconds), level,
    logger, message, request_id, execution_arn, the Celery task where there is one, the
    exception's traceback when one was logged, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
            "execution_arn": getattr(record, "execution_arn", "") or None,
        }
        if getattr(record, "task_id", ""):
            line["task_id"] = record.task_id
            line["task_name"] = getattr(record, "task_name", "")
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in line:
                line[key] = _jsonable(value)
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(log_format: str, level: str, access_level: str) -> dict[str, Any]:
    """Django's LOGGING for LOG_FORMAT `log_format` (text or json); anything else is
    refused with the reason (ValueError), rather than log in a form nobody asked for."""
    log_format = (log_format or "text").strip().lower()
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT: {log_format!r} is neither text nor json.")
    json_lines = log_format == "json"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "monitoring.logs.ContextFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "json": {"()": "monitoring.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "plain",
                "filters": ["context"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # botocore logs every request at DEBUG; keep it quieter than our own code.
            "botocore": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
            "django.server": {"level": access_level},  # runserver's request log
            # One line per request (method, path, status, duration, request id), from
            # monitoring.middleware: in JSON only, where it replaces the web server's own
            # access log; the text form keeps runserver's and gunicorn's.
            "console.access": {"level": access_level if json_lines else "CRITICAL"},
        },
    }


def connect_celery(app: Any, log_format: str) -> None:
    """Celery workers and beat log through the same LOGGING (Celery would otherwise set up
    its own text format), when it is JSON; and every task starts and ends with no request
    id and no execution ARN, so one task's ARN is never written on the next one's lines."""
    from celery import signals

    def _clear(**_: Any) -> None:
        clear()

    signals.task_prerun.connect(_clear, weak=False)
    signals.task_postrun.connect(_clear, weak=False)
    if log_format.strip().lower() != "json":
        return

    def _setup_logging(**_: Any) -> None:
        import logging.config

        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)

    # Connected, this replaces Celery's own set-up of the root logger.
    signals.setup_logging.connect(_setup_logging, weak=False)
