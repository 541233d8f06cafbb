"""Saved views: a filter of the executions list or of Needs attention, kept under a name by
the person who saved it, for themselves, a group of theirs, or everyone.

Here, beside the pages whose filters they hold: what a view may hold and why one no longer
opens is the list's own parser (browser/listing.py, browser/saved_views.py), which no room
below browser/ may import. A view is only a query string: it opens as the page's ordinary
URL, so the person's scope (access/scope.py) applies to it as to any link.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone

MAX_NAME = 100
# Longer than any filter the list takes (a name and an input of 256 characters each, every
# status, two dates), written with percent-escapes.
MAX_QUERY = 4000


class ViewPage(models.TextChoices):
    LIST = "list", "Executions"
    ATTENTION = "attention", "Needs attention"


class Sharing(models.TextChoices):
    ME = "me", "just me"
    GROUP = "group", "a group"
    EVERYONE = "everyone", "everyone"


class SavedView(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=MAX_NAME)
    page = models.CharField(max_length=16, choices=ViewPage.choices, default=ViewPage.LIST)
    # The page's query string as its URL holds it ("status=FAILED&function=4"), without a
    # page position: opening the view is opening that URL.
    query = models.CharField(max_length=MAX_QUERY)
    sharing = models.CharField(max_length=16, choices=Sharing.choices, default=Sharing.ME)
    # With sharing "group". A group deleted later leaves the view to its owner alone (the
    # view is theirs; deleting a group must not delete people's work).
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="saved_views"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_name_once"),
        ]
        indexes = [
            # The navigation's "shared with everyone" half of its query (every page).
            models.Index(fields=["sharing"], name="saved_view_sharing_idx"),
        ]
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_page_display()}, of {self.owner})"

    @property
    def shared_with(self) -> str:
        """In words: "just you", "the group payments", "everyone"."""
        if self.sharing == Sharing.EVERYONE:
            return "everyone"
        if self.sharing == Sharing.GROUP:
            if self.group_id is None:
                return "a group that no longer exists (so only its owner)"
            return f"the group {self.group.name}"
        return "only its owner"
