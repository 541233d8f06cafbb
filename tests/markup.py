"""Read a page the way a person and a screen reader do: an element found by what names it
(an id, a data-testid, a role, a title), its text with the markup's whitespace collapsed,
and the attributes that carry behaviour (hx-trigger, href, checked). Assertions on these
hold when a class is added or attributes change places, and fail when what is shown or
what happens changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements that never have an end tag, so never hold text.
VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parts: list[str | Element] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What a person reads: the text inside (the DOM's textContent), its whitespace
        collapsed as a browser shows it."""
        return " ".join(self._text_content().split())

    def _text_content(self) -> str:
        return "".join(p if isinstance(p, str) else p._text_content() for p in self.parts)

    def has(self, name: str) -> bool:
        """Whether the attribute is there (a boolean one such as `checked` has no value)."""
        return name in self.attrs

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Elements inside this one (at any depth), in document order, of this tag and with
        these attribute values (`data_testid="x"` for data-testid; `class_="badge"` for a
        class among others)."""
        wanted = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
        found: list[Element] = []
        for part in self.parts:
            if isinstance(part, str):
                continue
            if (tag is None or part.tag == tag) and all(
                _matches(part, name, value) for name, value in wanted.items()
            ):
                found.append(part)
            found.extend(part.find_all(tag, **attrs))
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        """The one element of this tag with these attributes; fails if none or several."""
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} elements {tag or ''} {attrs}"
        return found[0]


def _matches(element: Element, name: str, value: str) -> bool:
    if name == "class":
        return value in element.attrs.get("class", "").split()
    return element.attrs.get(name) == value


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.open: list[Element] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.open[-1].parts.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].parts.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching open element; an end tag that matches none is ignored,
        # as a browser does.
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].parts.append(data)


def parse(page: str | bytes) -> Element:
    """A page or a fragment, as a tree of elements under one document element."""
    builder = _Builder()
    builder.feed(page.decode() if isinstance(page, bytes) else page)
    builder.close()
    return builder.root
