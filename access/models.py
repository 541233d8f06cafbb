"""Who a person is to the console, beyond Django's User: the identities they sign in with
(an OpenID provider's subject, an ALB's), where each of their roles came from, when their
sessions must end, and the one-time break-glass links an administrator made."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


class Identity(models.Model):
    """An identity provider's account, tied to one user. A person is found by (issuer,
    subject), never by a user name the provider sends: a name can be chosen or change,
    and a provider saying "admin" must not become the console's local admin."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities"
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    # The claims of the last sign-in (name, email, groups), for the admin pages.
    claims = models.JSONField(default=dict, blank=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="identity_once"),
        ]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class RoleSource(models.TextChoices):
    PROVIDER = "provider", "the identity provider's groups"
    MANUAL = "manual", "a grant by hand"


class RoleGrant(models.Model):
    """One role a user holds, and where it came from. A user's roles are the union of
    their grants; grants from the identity provider are replaced at every sign-in and
    session refresh, so leaving a group there takes the role away here, while a grant made
    by hand stays until someone takes it back."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.CharField(max_length=32)
    # Where it holds: a source (None: every source) and a function name pattern (blank:
    # every function). A grant without either is the role everywhere.
    scope_source = models.ForeignKey(
        "executions.Source", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    function_pattern = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=16, choices=RoleSource.choices)
    # The groups that gave it (from the provider), or who granted it (by hand).
    detail = models.CharField(max_length=500, blank=True)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "scope_source", "function_pattern", "source"],
                name="grant_once",
            ),
        ]
        ordering = ["role", "source"]

    def __str__(self) -> str:
        return f"{self.role} ({self.get_source_display()}: {self.detail})"

    @property
    def is_global(self) -> bool:
        return self.scope_source_id is None and not self.function_pattern

    @property
    def where(self) -> str:
        """'' for everywhere, else 'on payments-* in prod'."""
        if self.is_global:
            return ""
        place = f" in {self.scope_source.name}" if self.scope_source_id else ""
        return f"on {self.function_pattern or 'every function'}{place}"


class SessionRule(models.Model):
    """Per user: sessions that began before `valid_from` have ended ("sign out
    everywhere", a role taken away)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="session_rule"
    )
    valid_from = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"sessions of {self.user} from {self.valid_from:%Y-%m-%d %H:%M}"


class ProviderSession(models.Model):
    """What a session signed in with OpenID Connect keeps of the provider: its refresh
    token, and when the person's groups were last read. In a row of its own, not in the
    session, so that two requests of one page saving the session at once cannot bring an
    old refresh token back after the provider rotated it."""

    session_key = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    refresh_token = models.TextField(blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"provider session of {self.user}, checked {self.checked_at:%Y-%m-%d %H:%M}"


class BreakGlassLink(models.Model):
    """A one-time sign-in link for a local account, made on the server by `manage.py
    breakglass` for when the identity provider is down. Only its digest is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_from = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"break-glass link for {self.user}, made {self.created_at:%Y-%m-%d %H:%M}"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class TokenScope(models.TextChoices):
    READ = "read", "read"
    ACT = "act", "read and act"


class ApiToken(models.Model):
    """A token for the HTTP API (api/): shown once when made, kept as its digest; it acts
    as its user, within that user's roles and scope, and never beyond its own scope (a
    read token acts on nothing)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The first characters, to tell tokens apart in lists and logs (not enough to use one).
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.READ)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="token_name_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
