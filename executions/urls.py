from __future__ import annotations

from django.urls import path

from . import graphs, health_views, views

app_name = "executions"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("sync/", health_views.sync_health, name="sync_health"),
    path("sync/health.json", health_views.sync_health_json, name="sync_health_json"),
    path("executions/", views.execution_list, name="list"),
    # Polled by the list for the rows of running executions: ?ids=1,2,3
    path("executions/rows", views.execution_rows, name="rows"),
    # ARNs carry ':' '/' '$', so they travel in the query string: ?arn=...
    path("executions/lookup/", views.execution_lookup, name="lookup"),
    path("executions/<int:pk>/", views.execution_detail, name="detail"),
    path("executions/<int:pk>/header", views.execution_header, name="header"),
    path("executions/<int:pk>/refresh", views.execution_refresh, name="refresh"),
    path("executions/<int:pk>/export.json", views.export_json, name="export"),
    path("executions/<int:pk>/graph.svg", graphs.graph_svg_view, name="graph_svg"),
    path("executions/<int:pk>/tree-rows", views.tree_rows, name="tree_rows"),
    path(
        "executions/<int:pk>/operations/<str:operation_id>",
        views.operation_panel,
        name="operation",
    ),
    path(
        "executions/<int:pk>/<slug:tab>/",
        views.execution_detail,
        name="tab",
    ),
]
