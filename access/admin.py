"""The admin's user pages show where each role came from (the identity provider's groups,
or by hand) and the identities a person signs in with; roles by hand are changed with
`manage.py grant` (or here), every change in the audit log. API tokens are listed read
only (made on the account page or by `manage.py token`, so their secret is shown once), and
revoked here with an action, written to the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from access import api_tokens
from access.models import ApiToken, Identity, RoleGrant
from access.signin import audit_entry


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    extra = 0
    fields = ["role", "scope_source", "function_pattern", "source", "detail", "granted_at"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "roles, and where each came from"

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        # Grants come from sign-ins and `manage.py grant`, which keep the groups in step.
        return False


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["issuer", "subject", "last_sign_in_at", "claims"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ConsoleUserAdmin(UserAdmin):
    inlines = [RoleGrantInline, IdentityInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read only: a token is made where its secret can be shown once (the account page,
    `manage.py token`); here it can only be revoked, which the audit log records. Not
    deleted: a deleted token would answer "unknown" where a revoked one says when."""

    list_display = ["name", "user", "prefix", "scope", "created_at", "expires_at"]
    list_display += ["last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    fields = ["user", "name", "prefix", "scope", "created_at", "expires_at"]
    fields += ["last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke_tokens"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens (refused at once)")
    def revoke_tokens(self, request: Any, queryset: Any) -> None:
        revoked = 0
        for token in queryset.select_related("user"):
            if api_tokens.revoke(token):
                revoked += 1
                audit_entry(
                    "token_revoked",
                    request.user.get_username(),
                    request,
                    request.user,
                    f"{api_tokens.described(token)}, in the admin",
                )
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
