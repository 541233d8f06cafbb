"""Sign-in with the identity provider, break-glass links, and a person's own account (with
their API tokens; every token for staff)."""

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
    path("account/tokens/new", views.token_create, name="token_create"),
    path("account/tokens/<int:pk>/revoke", views.token_revoke, name="token_revoke"),
    path("account/tokens/all", views.tokens_all, name="tokens_all"),
]
