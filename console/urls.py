from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # LoginView is exempt from LoginRequiredMiddleware; LogoutView accepts POST only.
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One sign-in page for everything, so the rate limit cannot be side-stepped.
    path("admin/login/", RedirectView.as_view(url="/login/?next=/admin/")),
    path("admin/", admin.site.urls),
    # Before the browser's URLs, so /executions/<id>/stop and friends are never taken for tabs.
    path("", include("actions.urls")),
    path("", include("browser.urls")),
]
