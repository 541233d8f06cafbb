"""The admin's user pages show where each role came from (the identity provider's groups,
or by hand) and the identities a person signs in with; roles by hand are changed with
`manage.py grant` (or here), every change in the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from access.models import Identity, RoleGrant


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
