from django.urls import path

from guardrails import views

app_name = "guardrails"

urlpatterns = [
    path("guardrails/", views.guardrail_list, name="list"),
    path("guardrails/new", views.guardrail_edit, name="new"),
    path("guardrails/<int:pk>/", views.guardrail_detail, name="detail"),
    path("guardrails/<int:pk>/edit", views.guardrail_edit, name="edit"),
    path("guardrails/<int:pk>/mode", views.guardrail_mode, name="mode"),
    path("guardrails/<int:pk>/delete", views.guardrail_delete, name="delete"),
]
