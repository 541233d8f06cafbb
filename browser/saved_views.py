"""Saved views: what one may hold, whether it still opens, and the pages that save, list,
rename, share and delete them (the model is browser/models.py).

A view is the query string of the executions list or of Needs attention. It is read by the
same code the page reads its URL with (`listing.ListFilter.from_query`, `params.choice`),
when it is saved (a filter the page would refuse is refused, with the page's reason) and
each time it is shown (the menu, the management page): a view that no longer opens (a
status or condition gone, a function deleted or outside what this person may see, a
parameter the page no longer knows) is shown with the reason, never dropped.

Opening a view is opening the page's own URL with that query, so the person's scope
(access/scope.py) applies to a shared view exactly as to a link: a view never shows anyone
more than they may see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, TooManyFieldsSent
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import roles, scope
from access.scope import Scope
from browser import listing
from browser.models import MAX_NAME, MAX_QUERY, SavedView, Sharing, ViewPage
from domain import status
from executions import attention
from executions.models import Function, Source
from web import params

# What each page reads from its URL (a view holds these and nothing else).
KEYS = {
    ViewPage.LIST: ("source", "function", "status", "name", "input", "from", "to"),
    ViewPage.ATTENTION: ("reason",),
}
# Where a view opens.
PAGE_URLS = {ViewPage.LIST: "browser:list", ViewPage.ATTENTION: "browser:attention"}
# The parameters of the list that are a place in it, not a filter.
POSITIONS = ("after", "before", "since")
# The navigation lists this many views; the management page lists them all.
MENU_LIMIT = 30


class Broken(ValueError):
    """A view's query does not open; the message says why, in words."""


def page_url(page: str, query: str) -> str:
    base = reverse(PAGE_URLS[ViewPage(page)])
    return f"{base}?{query}" if query else base


@dataclass
class Checked:
    """A view's query as read now: the form the page writes it in, its filters in words,
    and what stops it from opening ("" when it opens)."""

    query: str
    words: list[tuple[str, str]] = field(default_factory=list)
    problem: str = ""

    @property
    def summary(self) -> str:
        return " · ".join(f"{label}: {value}" for label, value in self.words)


class Checker:
    """Reads views' queries for one person (their scope), looking the sources and the
    functions they may see up once, however many views it reads."""

    def __init__(self, visible: Scope) -> None:
        self.visible = visible
        self._sources: dict[int, str] | None = None
        self._functions: dict[int, str] | None = None

    def sources(self) -> dict[int, str]:
        if self._sources is None:
            self._sources = dict(Source.objects.values_list("pk", "name"))
        return self._sources

    def functions(self) -> dict[int, str]:
        if self._functions is None:
            rows = self.visible.functions(Function.objects.select_related("source"))
            self._functions = {f.pk: f"{f} ({f.source.name})" for f in rows}
        return self._functions

    def check(self, page: str, query: str) -> Checked:
        try:
            return self._read(page, query)
        except Broken as broken:
            return Checked(query, problem=str(broken))

    def _read(self, page: str, query: str) -> Checked:
        if page not in ViewPage.values:
            raise Broken(f"It belongs to a page this console no longer has (“{page}”).")
        page = ViewPage(page)
        if len(query) > MAX_QUERY:
            raise Broken(f"Its filter is longer than {MAX_QUERY:,} characters.")
        try:
            data = QueryDict(query.lstrip("?"))
        except TooManyFieldsSent:
            raise Broken("Its filter has more parameters than any page reads.") from None
        known = KEYS[page]
        for key in data:
            if key in known:
                if key != "status" and len(data.getlist(key)) > 1:
                    raise Broken(f"It gives “{params.shown(key)}” more than once.")
                continue
            if page == ViewPage.LIST and key in POSITIONS:
                raise Broken(
                    f"“{key}” is a place in the list, not a filter: a saved view opens at the "
                    "newest executions that match."
                )
            raise Broken(
                f"“{params.shown(key)}” is not a filter of {page.label} (it knows "
                f"{', '.join(known)})."
            )
        try:
            if page == ViewPage.LIST:
                return self._list(data)
            return self._attention(data)
        except params.BadQuery as bad:
            raise Broken(str(bad)) from None

    def _list(self, data: QueryDict) -> Checked:
        flt = listing.ListFilter.from_query(data, self.visible.read)
        words: list[tuple[str, str]] = []
        if flt.source:
            name = self.sources().get(flt.source)
            if name is None:
                raise Broken(f"It filters by source #{flt.source}, which no longer exists.")
            words.append(("Source", name))
        if flt.function:
            name = self.functions().get(flt.function)
            if name is None:
                raise Broken(
                    f"It filters by function #{flt.function}, which no longer exists or is "
                    "not among the functions you may see."
                )
            words.append(("Function", name))
        if flt.statuses:
            words.append(("Status", ", ".join(status.label(s) for s in flt.statuses)))
        if flt.name:
            words.append(("Name contains", flt.name))
        if flt.input:
            words.append(("Input contains", flt.input))
        if flt.started_from:
            words.append(("Started from", f"{flt.started_from} UTC"))
        if flt.started_to:
            words.append(("Started until", f"{flt.started_to} UTC"))
        return Checked(flt.query(), words)

    def _attention(self, data: QueryDict) -> Checked:
        reason = params.choice(data, "reason", attention.BY_NAME)
        if not reason:
            return Checked("")
        return Checked(urlencode({"reason": reason}), [("Reason", attention.BY_NAME[reason].title)])


@dataclass
class Shown:
    """A view as a page shows it: where it opens, and whether it does."""

    view: SavedView
    checked: Checked
    may_change: bool

    @property
    def url(self) -> str:
        return page_url(self.view.page, self.checked.query)

    @property
    def broken(self) -> bool:
        return bool(self.checked.problem)


def visible_views(user: Any) -> QuerySet[SavedView]:
    """The person's own views and those shared with them: with everyone, or with a group
    they are in."""
    return SavedView.objects.filter(
        Q(owner=user)
        | Q(sharing=Sharing.EVERYONE)
        | Q(sharing=Sharing.GROUP, group__in=user.groups.all())
    ).select_related("owner", "group")


def shown(views: list[SavedView], user: Any, visible: Scope) -> list[Shown]:
    checker = Checker(visible)
    admin = roles.may_configure(user)
    return [
        Shown(v, checker.check(v.page, v.query), may_change=admin or v.owner_id == user.pk)
        for v in views
    ]


def menu(request: HttpRequest) -> dict[str, Any]:
    """The navigation's Views menu: the person's own views, then those shared with them."""
    user = request.user
    rows = list(visible_views(user)[: MENU_LIMIT + 1])
    more = len(rows) > MENU_LIMIT
    views = shown(rows[:MENU_LIMIT], user, scope.of_request(request))
    return {
        "mine": [v for v in views if v.view.owner_id == user.pk],
        "shared": [v for v in views if v.view.owner_id != user.pk],
        "more": more,
    }


# ---- the form ------------------------------------------------------------------------------


class SavedViewForm(forms.Form):
    """A new view (name, sharing, and the page's query it saves), or a view renamed or
    shared otherwise (its query stays: to change a filter, open the view and save it anew)."""

    name = forms.CharField(
        label="Name",
        max_length=MAX_NAME,
        error_messages={
            "required": "Give the view a name, to find it in the Views menu.",
            "max_length": f"A view's name is at most {MAX_NAME} characters.",
        },
    )
    share = forms.ChoiceField(
        label="Shared with",
        error_messages={
            "required": "Say who sees the view: just you, a group of yours, or everyone.",
            "invalid_choice": "A view is shared with just you, a group you are in, or "
            "everyone: choose one of those.",
        },
    )
    page = forms.ChoiceField(choices=ViewPage.choices, widget=forms.HiddenInput)
    query = forms.CharField(
        required=False,
        max_length=MAX_QUERY,
        widget=forms.HiddenInput,
        error_messages={
            "max_length": f"The filter is longer than {MAX_QUERY:,} characters, which no filter "
            "of these pages is."
        },
    )

    def __init__(
        self,
        *args: Any,
        owner: Any,
        visible: Scope,
        view: SavedView | None = None,
        by: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        # Who fills it in: the owner, or an admin changing another person's view.
        self.by = by or owner
        self.visible = visible
        self.view = view
        self.checked: Checked | None = None
        groups = list(owner.groups.order_by("name"))
        if view is not None and view.group_id and view.group not in groups:
            groups.append(view.group)  # the owner left it: a rename keeps the sharing
        choices = [("me", "Just me")]
        choices += [(f"group:{g.pk}", f"The group {g.name}") for g in groups]
        choices.append(("everyone", "Everyone"))
        self.fields["share"].choices = choices
        self.groups = {f"group:{g.pk}": g for g in groups}
        if view is not None:
            del self.fields["page"], self.fields["query"]
            self.initial.setdefault("name", view.name)
            self.initial.setdefault("share", _share_value(view))
        self.fields["name"].widget.attrs.update(
            {"class": "form-control", "autocomplete": "off", "maxlength": MAX_NAME}
        )
        self.fields["share"].widget.attrs["class"] = "form-select"

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["class"] = attrs.get("class", "") + " is-invalid"
                attrs["aria-invalid"] = "true"

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the view a name, to find it in the Views menu.")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise forms.ValidationError(
                "A view's name is one line of text: no line breaks, tabs or control characters."
            )
        others = SavedView.objects.filter(owner=self.owner, name__iexact=name)
        if self.view is not None:
            others = others.exclude(pk=self.view.pk)
        if others.exists():
            whose = "You already have" if self.by == self.owner else "Its owner already has"
            raise forms.ValidationError(f"{whose} a view named “{name}”: choose another name.")
        return name

    def clean_query(self) -> str:
        return self.cleaned_data.get("query", "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.view is None and "page" in data and "query" in data:
            checked = Checker(self.visible).check(data["page"], data["query"])
            if checked.problem:
                self.add_error("query", f"This filter cannot be saved: {checked.problem}")
            elif not checked.query:
                self.add_error(
                    "query",
                    "There is no filter to save: this is the whole page, which the navigation "
                    "already links. Choose a filter first, then save it.",
                )
            else:
                self.checked = checked
        return data

    def sharing(self) -> tuple[str, Group | None]:
        share = self.cleaned_data["share"]
        if share in self.groups:
            return Sharing.GROUP, self.groups[share]
        return (Sharing.EVERYONE if share == "everyone" else Sharing.ME), None


def _share_value(view: SavedView) -> str:
    if view.sharing == Sharing.GROUP and view.group_id:
        return f"group:{view.group_id}"
    return "everyone" if view.sharing == Sharing.EVERYONE else "me"


def save_control(request: HttpRequest, page: str, query: str) -> dict[str, Any]:
    """The "Save this view" control of the list and Needs attention: the filter it saves, in
    words, and the form."""
    form = SavedViewForm(
        owner=request.user,
        visible=scope.of_request(request),
        initial={"page": page, "query": query, "share": "me"},
    )
    checked = Checker(scope.of_request(request)).check(page, query)
    return {"save_form": form, "save_checked": checked, "save_page": page}


# ---- the pages -----------------------------------------------------------------------------


def _view_for(request: HttpRequest, pk: int) -> SavedView:
    """A view the person may change: their own, or any they can reach as an admin. One
    they cannot see is a 404; one shared with them but not theirs, a refusal that says
    whose it is."""
    admin = roles.may_configure(request.user)
    views = SavedView.objects.all() if admin else visible_views(request.user)
    view = views.select_related("owner", "group").filter(pk=pk).first()
    if view is None:
        raise Http404("There is no such saved view you can see.")
    if not admin and view.owner_id != request.user.pk:
        raise PermissionDenied(
            f"Only its owner, {view.owner.get_username()}, or an admin may rename, share or "
            f"delete the view “{view.name}”. To keep a view of your own like it, open it and "
            "use “Save this view”."
        )
    return view


def _form_page(
    request: HttpRequest, form: SavedViewForm, view: SavedView | None, status_code: int = 200
) -> HttpResponse:
    checked = form.checked
    if checked is None:
        if view is not None:
            checked = Checker(scope.of_request(request)).check(view.page, view.query)
        else:
            checked = Checker(scope.of_request(request)).check(
                form.data.get("page", ""), form.data.get("query", "")
            )
    page = view.page if view is not None else form.data.get("page", "")
    return render(
        request,
        "browser/saved_view_form.html",
        {
            "form": form,
            "view": view,
            "checked": checked,
            "page_label": ViewPage(page).label if page in ViewPage.values else "",
            "back_url": page_url(page, checked.query)
            if page in ViewPage.values and not checked.problem
            else reverse("browser:saved_views"),
        },
        status=status_code,
    )


@require_GET
def saved_views(request: HttpRequest) -> HttpResponse:
    """The person's views and those shared with them (every view, for admins), each with
    what it filters and whether it still opens."""
    user = request.user
    visible = scope.of_request(request)
    views = shown(list(visible_views(user)), user, visible)
    others: list[Shown] = []
    if roles.may_configure(user):
        rest = (
            SavedView.objects.exclude(pk__in=[v.view.pk for v in views])
            .select_related("owner", "group")
            .order_by("owner__username", "name")
        )
        others = shown(list(rest), user, visible)
    return render(
        request,
        "browser/saved_views.html",
        {
            "mine": [v for v in views if v.view.owner_id == user.pk],
            "shared": [v for v in views if v.view.owner_id != user.pk],
            "others": others,
        },
    )


@require_POST
def saved_view_new(request: HttpRequest) -> HttpResponse:
    visible = scope.of_request(request)
    form = SavedViewForm(request.POST, owner=request.user, visible=visible)
    if not form.is_valid():
        return _form_page(request, form, None, status_code=400)
    sharing, group = form.sharing()
    checked = form.checked
    assert checked is not None  # a valid new view was read by clean()
    try:
        with transaction.atomic():
            view = SavedView.objects.create(
                owner=request.user,
                name=form.cleaned_data["name"],
                page=form.cleaned_data["page"],
                query=checked.query,
                sharing=sharing,
                group=group,
            )
    except IntegrityError:  # the same name saved from another tab meanwhile
        form.add_error("name", "You already have a view of this name: choose another name.")
        return _form_page(request, form, None, status_code=400)
    messages.success(
        request,
        f"Saved the view “{view.name}”, shared with {_shared_words(view)}: it is in the Views "
        "menu. Its address is this page's.",
    )
    return redirect(page_url(view.page, view.query))


@require_http_methods(["GET", "POST"])
def saved_view_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename a view or share it otherwise (its owner, or an admin)."""
    view = _view_for(request, pk)
    visible = scope.of_request(request)
    if request.method == "GET":
        form = SavedViewForm(owner=view.owner, visible=visible, view=view, by=request.user)
        return _form_page(request, form, view)
    form = SavedViewForm(
        request.POST, owner=view.owner, visible=visible, view=view, by=request.user
    )
    if not form.is_valid():
        return _form_page(request, form, view, status_code=400)
    sharing, group = form.sharing()
    view.name = form.cleaned_data["name"]
    view.sharing, view.group = sharing, group
    view.updated_at = timezone.now()
    try:
        with transaction.atomic():
            view.save(update_fields=["name", "sharing", "group", "updated_at"])
    except IntegrityError:
        form.add_error("name", "A view of this name was saved meanwhile: choose another name.")
        return _form_page(request, form, view, status_code=400)
    messages.success(request, f"Saved the view “{view.name}”, shared with {_shared_words(view)}.")
    return redirect("browser:saved_views")


@require_http_methods(["GET", "POST"])
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm; POST deletes (its owner, or an admin)."""
    view = _view_for(request, pk)
    if request.method == "GET":
        checked = Checker(scope.of_request(request)).check(view.page, view.query)
        return render(request, "browser/saved_view_delete.html", {"view": view, "checked": checked})
    name = view.name
    view.delete()
    messages.success(
        request,
        f"Deleted the view “{name}”. Links to its address still open the page with its filter.",
    )
    return redirect("browser:saved_views")


def _shared_words(view: SavedView) -> str:
    if view.sharing == Sharing.GROUP and view.group_id:
        return f"the group {view.group.name}"
    return "everyone" if view.sharing == Sharing.EVERYONE else "just you"
