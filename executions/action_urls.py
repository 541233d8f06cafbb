"""URLs of operator actions, the approvals inbox and the audit log (action_views.py)."""

from __future__ import annotations

from django.urls import path

from executions import action_views as views

app_name = "actions"

urlpatterns = [
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/count", views.approvals_count, name="approvals_count"),
    path("audit/", views.audit, name="audit"),
    path("jobs/<int:pk>/", views.bulk_job, name="bulk_job"),
    path("executions/start/", views.start, name="start"),
    path("executions/bulk-stop", views.bulk_stop, name="bulk_stop"),
    path("executions/<int:pk>/stop", views.stop, name="stop"),
    path("executions/<int:pk>/pause", views.pause, name="pause"),
    path("executions/<int:pk>/resume", views.resume, name="resume"),
    # Callback ids are base64 and may hold '/', so they are matched as paths.
    path(
        "executions/<int:pk>/callbacks/<path:callback_id>/succeed",
        views.callback_succeed,
        name="callback_succeed",
    ),
    path(
        "executions/<int:pk>/callbacks/<path:callback_id>/fail",
        views.callback_fail,
        name="callback_fail",
    ),
    path(
        "executions/<int:pk>/callbacks/<path:callback_id>/heartbeat",
        views.callback_heartbeat,
        name="callback_heartbeat",
    ),
    path(
        "executions/<int:pk>/callbacks/<path:callback_id>/",
        views.callback_form,
        name="callback_form",
    ),
]
