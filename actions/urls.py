"""URLs of operator actions (views.py), the approvals inbox and the audit log (pages.py),
the execution lookup and "Refresh now" (refresh.py), and changes to sources
(source_views.py)."""

from __future__ import annotations

from django.urls import path

from actions import bulk_answers, pages, policy_views, refresh, source_views, views
from web import converters  # noqa: F401  (registers <callback:…>)

app_name = "actions"

urlpatterns = [
    path("approvals/", pages.approvals, name="approvals"),
    path("approvals/count", pages.approvals_count, name="approvals_count"),
    path("approvals/rows", pages.approvals_rows, name="approvals_rows"),
    path("approvals/policies/", policy_views.policy_list, name="policies"),
    path("approvals/policies/new", policy_views.policy_edit, name="policy_new"),
    path("approvals/policies/<int:pk>/", policy_views.policy_edit, name="policy_edit"),
    path("approvals/policies/<int:pk>/delete", policy_views.policy_delete, name="policy_delete"),
    path("approvals/bulk", bulk_answers.bulk_answer, name="approvals_bulk"),
    path("approvals/jobs/<int:pk>/", bulk_answers.bulk_answer_job, name="bulk_answer_job"),
    path("audit/", pages.audit, name="audit"),
    # Changing sources (admins); their pages are browser:sources and browser:source.
    path("sources/new", source_views.source_edit, name="source_new"),
    path("sources/<int:pk>/edit", source_views.source_edit, name="source_edit"),
    path("sources/<int:pk>/pause", source_views.source_pause, name="source_pause"),
    path("sources/<int:pk>/resume", source_views.source_resume, name="source_resume"),
    path("sources/<int:pk>/test", source_views.source_test, name="source_test"),
    path("sources/<int:pk>/delete", source_views.source_delete, name="source_delete"),
    path("jobs/<int:pk>/", views.bulk_job, name="bulk_job"),
    path("jobs/<int:pk>/cancel", views.bulk_job_cancel, name="bulk_job_cancel"),
    path("executions/start/", views.start, name="start"),
    path("executions/bulk-stop", views.bulk_stop, name="bulk_stop"),
    # ARNs carry ':' '/' '$', so they travel in the query string: ?arn=...
    path("executions/lookup/", refresh.execution_lookup, name="lookup"),
    path("executions/<int:pk>/refresh", refresh.execution_refresh, name="refresh"),
    path("executions/<int:pk>/stop", views.stop, name="stop"),
    path("executions/<int:pk>/pause", views.pause, name="pause"),
    path("executions/<int:pk>/resume", views.resume, name="resume"),
    # The forms of a needs-attention row, loaded when opened.
    path("executions/<int:pk>/stop/form", views.execution_form, {"kind": "stop"}, name="stop_form"),
    path(
        "executions/<int:pk>/pause/form", views.execution_form, {"kind": "pause"}, name="pause_form"
    ),
    path("executions/<int:pk>/delete", views.delete, name="delete"),
    path("executions/<int:pk>/start-again", views.start_again, name="start_again"),
    # Callback ids are base64 and may hold '/', so they are matched as paths.
    path(
        "executions/<int:pk>/callbacks/<callback:callback_id>/succeed",
        views.callback_succeed,
        name="callback_succeed",
    ),
    path(
        "executions/<int:pk>/callbacks/<callback:callback_id>/fail",
        views.callback_fail,
        name="callback_fail",
    ),
    path(
        "executions/<int:pk>/callbacks/<callback:callback_id>/heartbeat",
        views.callback_heartbeat,
        name="callback_heartbeat",
    ),
    # A callback's forms by its operation id: polled while its callback id is being read.
    path(
        "executions/<int:pk>/operations/<str:operation_id>/callback",
        views.callback_forms_of,
        name="callback_forms_of",
    ),
    path(
        "executions/<int:pk>/callbacks/<callback:callback_id>/",
        views.callback_form,
        name="callback_form",
    ),
]
