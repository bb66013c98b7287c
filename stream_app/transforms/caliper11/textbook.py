"""Caliper 1.1 PDF textbook events: navigation, search and zoom on the `Document`, viewer toggles as tool use.

Every object is addressed by the referer and carries the parsed payload as its
extensions, with two quirks of CT kept: some events drop the payload's `name`
(it only repeats the event name) and a page navigation keeps only `chapter`
and `page`.
"""

from __future__ import annotations

from stream_app.transforms.caliper11.base import JSON, Builder
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx

_NAV = ("NavigationEvent", "NavigatedTo", "Document")
_SIZE = ("Event", "ChangedSize", "Document")
_TOOL = ("ToolUseEvent", "Used", "SoftwareApplication")

# name -> ((type, action, object type), payload keys dropped)
_EVENTS: dict[str, tuple[tuple[str, str, str], tuple[str, ...]]] = {
    "book": (_NAV, ()),
    "textbook.pdf.chapter.navigated": (_NAV, ()),
    "textbook.pdf.page.scrolled": (_NAV, ("name",)),
    "textbook.pdf.search.navigatednext": (_NAV, ()),
    "textbook.pdf.thumbnail.navigated": (_NAV, ("name",)),
    "textbook.pdf.search.executed": (("Event", "Searched", "Document"), ("name",)),
    "textbook.pdf.display.scaled": (_SIZE, ()),
    "textbook.pdf.zoom.buttons.changed": (_SIZE, ()),
    "textbook.pdf.zoom.menu.changed": (_SIZE, ()),
    "textbook.pdf.outline.toggled": (_TOOL, ("name",)),
    "textbook.pdf.thumbnails.toggled": (_TOOL, ("name",)),
    "textbook.pdf.search.highlight.toggled": (_TOOL, ()),
    "textbook.pdf.searchcasesensitivity.toggled": (_TOOL, ()),
}


@CALIPER11.register(*_EVENTS, "textbook.pdf.page.navigated")
def textbook_event(ctx: Ctx) -> JSON:
    """One textbook interaction on the page it happened on."""
    b = Builder(ctx).person().course(required=False)
    if ctx.name == "textbook.pdf.page.navigated":
        (event_type, action, obj_type), extensions = _NAV, {k: b.r.field(k) for k in ("chapter", "page")}
    else:
        (event_type, action, obj_type), dropped = _EVENTS[ctx.name]
        extensions = b.r.payload_without(*dropped)
    return b.build(event_type, action, {"id": b.r.req("referer"), "type": obj_type, "extensions": extensions})
