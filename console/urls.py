from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    # LoginView is exempt from LoginRequiredMiddleware; LogoutView accepts POST only.
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Before the browser's URLs, so /executions/<id>/stop and friends are never taken for tabs.
    path("", include("executions.action_urls")),
    path("", include("executions.urls")),
]
