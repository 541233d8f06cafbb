from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from django.views.generic import RedirectView

from access.signin import SignInView
from monitoring.views import metrics_view

FAVICON = settings.BASE_DIR / "static" / "favicon.ico"


@login_not_required
@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """The brand mark (static/favicon.svg, rendered at 16, 32 and 48 px), where browsers
    and bookmark tools look for it without reading the page."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    # Prometheus's scrape endpoint: a staff token or an allowed network (monitoring/views.py).
    path("metrics", metrics_view, name="metrics"),
    # LoginView is exempt from LoginRequiredMiddleware; LogoutView accepts POST only.
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One sign-in page for everything, so the rate limit cannot be side-stepped.
    path("admin/login/", RedirectView.as_view(url="/login/?next=/admin/")),
    path("admin/", admin.site.urls),
    # Before the browser's URLs, so /executions/<id>/stop and friends are never taken for tabs.
    path("", include("api.urls")),
    path("", include("access.urls")),
    path("", include("actions.urls")),
    path("", include("notify.urls")),
    path("", include("guardrails.urls")),
    path("", include("browser.urls")),
]

# The one 404 and 400 page for Django's own errors too; 403 is templates/403.html.
handler404 = "web.views.page_not_found"
handler400 = "web.views.bad_request"
