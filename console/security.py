"""Security pieces Django 5.2 does not ship: a Content-Security-Policy header and a
rate limit on sign-in attempts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY to every response that has none.

    The console has no inline script, no inline event handler and no style attribute,
    so the default policy allows only our own origin for scripts and styles.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            header = (
                "Content-Security-Policy-Report-Only"
                if settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
                else "Content-Security-Policy"
            )
            response[header] = policy
        return response


def _client_ip(request: HttpRequest) -> str:
    # Behind a proxy, set LOGIN_RATE_LIMIT_IP_HEADER (e.g. HTTP_X_FORWARDED_FOR) to the
    # header it sets; never trust that header without a proxy in front.
    header = settings.LOGIN_RATE_LIMIT_IP_HEADER
    if header and request.META.get(header):
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "unknown")


class RateLimitedLoginView(auth_views.LoginView):
    """Django's login view, refusing a client after too many failed attempts.

    Failures are counted per client address and per username, so neither guessing many
    passwords for one account nor one password across many accounts gets far.
    """

    redirect_authenticated_user = True

    def _keys(self, request: HttpRequest) -> list[str]:
        username = (request.POST.get("username") or "").strip().lower()[:150]
        return [f"login-fail:ip:{_client_ip(request)}", f"login-fail:user:{username}"]

    def _blocked(self, request: HttpRequest) -> bool:
        limit = settings.LOGIN_RATE_LIMIT_ATTEMPTS
        return any((cache.get(key) or 0) >= limit for key in self._keys(request))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self._blocked(request):
            minutes = max(1, settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS // 60)
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                f"Too many failed sign-in attempts. Wait {minutes} minutes and try again.",
            )
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        window = settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS
        for key in self._keys(self.request):
            cache.add(key, 0, window)
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, window)
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        cache.delete_many(self._keys(self.request))
        return super().form_valid(form)
