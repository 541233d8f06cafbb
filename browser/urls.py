from __future__ import annotations

from django.urls import path

from browser import (
    archive_views,
    attention,
    compare,
    detail,
    functions,
    graphs,
    health_views,
    saved_views,
    sources,
    views,
)

app_name = "browser"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("sync/", health_views.sync_health, name="sync_health"),
    path("sync/health.json", health_views.sync_health_json, name="sync_health_json"),
    # The archive (retention): search by name or ARN; an archived execution, read-only.
    path("archive/", archive_views.search, name="archive"),
    path("archive/<int:pk>/", archive_views.archived, name="archived"),
    # The Lambda endpoints the console watches (changed through actions/source_views.py).
    path("sources/", sources.source_list, name="sources"),
    path("sources/<int:pk>/", sources.source_detail, name="source"),
    # Needs attention: executions likely wrong, with the reason and the action (?reason=).
    path("attention/", attention.needs_attention, name="attention"),
    # Saved views: a filter of the list or of Needs attention, under a name (the Views menu).
    path("views/", saved_views.saved_views, name="saved_views"),
    path("views/new", saved_views.saved_view_new, name="saved_view_new"),
    path("views/<int:pk>/edit", saved_views.saved_view_edit, name="saved_view_edit"),
    path("views/<int:pk>/delete", saved_views.saved_view_delete, name="saved_view_delete"),
    path("executions/", views.execution_list, name="list"),
    # Polled by the list for the rows of running executions: ?ids=1,2,3
    path("executions/rows", views.execution_rows, name="rows"),
    # Polled by the list's newest page: how many newer executions match its filter.
    path("executions/news", views.execution_news, name="news"),
    # A function's overview: executions over time, durations, failing steps, counts now.
    path("functions/<int:pk>/", functions.function_overview, name="function"),
    # Two runs side by side: ?a=&b= (or the list's two selected ?ids=).
    path("executions/compare", compare.compare_view, name="compare"),
    path("executions/<int:pk>/", detail.execution_detail, name="detail"),
    path(
        "executions/<int:pk>/compare-previous",
        compare.compare_previous,
        name="compare_previous",
    ),
    path("executions/<int:pk>/header", detail.execution_header, name="header"),
    path("executions/<int:pk>/callback", detail.first_callback, name="first_callback"),
    path("executions/<int:pk>/export.json", detail.export_json, name="export"),
    path("executions/<int:pk>/graph.svg", graphs.graph_svg_view, name="graph_svg"),
    path("executions/<int:pk>/tree-rows", detail.tree_rows, name="tree_rows"),
    path(
        "executions/<int:pk>/operations/<str:operation_id>",
        detail.operation_panel,
        name="operation",
    ),
    path(
        "executions/<int:pk>/<slug:tab>/",
        detail.execution_detail,
        name="tab",
    ),
]
