"""Caliper 1.1 navigation: `NavigationEvent`/`NavigatedTo` on the page reached, page close, page views.

The page is the referer for sequence moves (with the parsed payload as the
object's extensions), the clicked `target_url` for links and `page` for tool
access. Page views — events named by their URL path — take CT's separate path:
a `NavigatedTo` on the referer with the raw payload and the whole context.
"""

from __future__ import annotations

from stream_app.transforms.caliper11.base import JSON, Builder
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx

_SEQUENCE = ("edx.ui.lms.sequence.next_selected", "edx.ui.lms.sequence.previous_selected", "seq_next", "seq_prev",
             "seq_goto")


def _navigated(b: Builder, obj: JSON) -> JSON:
    return b.build("NavigationEvent", "NavigatedTo", obj)


@CALIPER11.register("edx.ui.lms.link_clicked")
def link_clicked(ctx: Ctx) -> JSON:
    """A link: the object is the clicked URL."""
    b = Builder(ctx).person().course()
    return _navigated(b, {"id": b.r.field("target_url"), "type": "WebPage"})


@CALIPER11.register("edx.course.tool.accessed")
def tool_accessed(ctx: Ctx) -> JSON:
    """A course tool: the object is the page; the raw payload goes to the extra fields."""
    b = Builder(ctx).person()
    b.add(event=b.r.event()).course()
    return _navigated(b, {"id": b.r.req("page"), "type": "WebPage"})


@CALIPER11.register(*_SEQUENCE)
def sequence_move(ctx: Ctx) -> JSON:
    """A move within a sequence: the referer, with the payload; the legacy names also keep `name`."""
    b = Builder(ctx).person().course()
    if ctx.name.startswith("seq_"):
        b.add(name=b.r.req("name"))
    if ctx.name in ("seq_next", "seq_prev"):
        b.add(event_source=b.r.req("event_source"))
    obj_type = "Page" if ctx.name == "seq_goto" else "WebPage"
    return _navigated(b, {"id": b.r.req("referer"), "type": obj_type, "extensions": b.r.payload()})


@CALIPER11.register("edx.course.student_notes.notes_page_viewed")
def notes_page_viewed(ctx: Ctx) -> JSON:
    """The notes page: course and org move from the extra fields into the object's extensions."""
    b = Builder(ctx).person()
    extensions = b.r.payload()
    extensions.update(course_id=b.r.ctx("course_id"), org_id=b.take("org_id"))
    b.add(ip=b.r.req("ip"), event_source=b.r.req("event_source"))
    return _navigated(b, {"id": b.r.req("referer"), "type": "WebPage", "extensions": extensions})


@CALIPER11.register("page_close")
def page_close(ctx: Ctx) -> JSON:
    """Leaving a page: an `Event`/`Removed` on the referer, with the whole context."""
    b = Builder(ctx).person().add_context().ip()
    return b.build("Event", "Removed", {"id": b.r.req("referer"), "type": "WebPage"})


def page_view(ctx: Ctx) -> JSON:
    """A page view (`event_type` is the URL path): CT names no actor and adds no IP here."""
    b = Builder(ctx).unnamed_person().add_context()
    obj = {"id": b.r.opt("referer"), "type": "WebPage", "extensions": b.r.opt("event")}
    return _navigated(b, obj)
