"""Notification pages (staff): rules, their test messages, the delivery log; and Slack's
interactivity Request URL (signed by Slack, no sign-in: notify/slack.py)."""

from __future__ import annotations

from django.urls import path

from notify import slack, views

app_name = "notify"

urlpatterns = [
    path("notifications/", views.rules, name="rules"),
    path("notifications/new", views.rule_edit, name="rule_new"),
    path("notifications/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("notifications/<int:pk>/test", views.rule_test, name="rule_test"),
    path("notifications/<int:pk>/delete", views.rule_delete, name="rule_delete"),
    path("notifications/deliveries/", views.deliveries, name="deliveries"),
    path("slack/interactions", slack.interactions, name="slack_interactions"),
]
