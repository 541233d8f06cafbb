"""Sign-in with the identity provider, break-glass links, and a person's own account."""

from __future__ import annotations

from django.urls import path

from access import oidc, views

app_name = "access"

urlpatterns = [
    path("sso/login/", oidc.sign_in_start, name="sso_login"),
    path("sso/callback/", oidc.sign_in_callback, name="sso_callback"),
    path("sso/break-glass/<str:token>/", views.break_glass, name="break_glass"),
    path("account/", views.account, name="account"),
    path("account/sign-out-everywhere", views.sign_out_everywhere, name="sign_out_everywhere"),
]
