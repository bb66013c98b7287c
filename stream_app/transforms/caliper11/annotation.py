"""Caliper 1.1 student notes and bookmarks: annotations, their listing, editing and use, on the referer.

Notes carry the parsed payload with the course (and usually the org, moved out
of the extra fields) added; bookmarks carry a fixed selection of payload
fields. A few events also record where they came from (`event_source`) or the
request path in the extra fields, as CT does.
"""

from __future__ import annotations

from stream_app.transforms.caliper11.base import JSON, Builder
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx

# name -> (type, action, object type, extra-field keys moved into the object, extra source fields)
_NOTES: dict[str, tuple[str, str, str, tuple[str, ...], tuple[str, ...]]] = {
    "edx.course.student_notes.viewed": ("ViewEvent", "Viewed", "Document", ("org_id",), ("event_source",)),
    "edx.course.student_notes.deleted": ("Event", "Deleted", "Document", ("org_id",), ()),
    "edx.course.student_notes.searched": ("Event", "Searched", "Document", ("org_id", "user_id"), ("event_source",)),
    "edx.course.student_notes.used_unit_link": ("NavigationEvent", "NavigatedTo", "WebPage", ("org_id",),
                                                ("event_source",)),
}


@CALIPER11.register(*_NOTES)
def note_event(ctx: Ctx) -> JSON:
    """A note viewed, deleted, searched, or its unit link followed."""
    event_type, action, obj_type, moved, sources = _NOTES[ctx.name]
    b = Builder(ctx).person()
    extensions = b.r.payload()
    extensions["course_id"] = b.r.ctx("course_id")
    for key in moved:
        extensions[key] = b.take(key)
    b.ip().add(**{key: b.r.req(key) for key in sources})
    return b.build(event_type, action, {"id": b.r.req("referer"), "type": obj_type, "extensions": extensions})


@CALIPER11.register("edx.course.student_notes.edited")
def note_edited(ctx: Ctx) -> JSON:
    """A note edited: course and org are copied (not moved) into the object."""
    b = Builder(ctx).person().ip()
    extensions = b.r.payload()
    extensions.update(course_id=b.r.ctx("course_id"), org_id=b.r.ctx("org_id"))
    return b.build("Event", "Modified", {"id": b.r.req("referer"), "type": "Document", "extensions": extensions})


@CALIPER11.register("edx.course.student_notes.added")
def note_added(ctx: Ctx) -> JSON:
    """A note added: the learner tags the page."""
    b = Builder(ctx).person()
    extensions = b.r.payload()
    extensions["course_id"] = b.r.ctx("course_id")
    b.ip().add(path=b.r.ctx("path"))
    return b.build("AnnotationEvent", "Tagged", {"id": b.r.req("referer"), "type": "DigitalResource",
                                                 "extensions": extensions})


@CALIPER11.register("edx.bookmark.listed")
def bookmarks_listed(ctx: Ctx) -> JSON:
    """The bookmarks page: paging fields of the payload."""
    b = Builder(ctx).person()
    b.add(ip=b.r.opt("ip"))
    payload = b.r.payload()
    keys = ("course_id", "page_number", "bookmarks_count", "page_size", "list_type")
    obj = {"id": b.r.req("referer"), "type": "WebPage", "extensions": {key: payload.get(key) for key in keys}}
    return b.build("NavigationEvent", "NavigatedTo", obj)


@CALIPER11.register("edx.bookmark.added")
def bookmark_added(ctx: Ctx) -> JSON:
    """A page bookmarked."""
    b = Builder(ctx).person().ip()
    b.add(path=b.r.ctx("path"))
    keys = ("course_id", "bookmark_id", "component_usage_id", "component_type")
    obj = {"id": b.r.req("referer"), "type": "Page", "extensions": {key: b.r.field(key) for key in keys}}
    return b.build("AnnotationEvent", "Bookmarked", obj)


@CALIPER11.register("edx.bookmark.accessed")
def bookmark_accessed(ctx: Ctx) -> JSON:
    """A bookmark followed."""
    b = Builder(ctx).person()
    b.add(course_id=b.r.ctx_opt("course_id"), ip=b.r.opt("ip"))
    return b.build("NavigationEvent", "NavigatedTo", {"id": b.r.opt("referer"), "type": "WebPage",
                                                      "extensions": b.r.payload()})


@CALIPER11.register("edx.bookmark.removed")
def bookmark_removed(ctx: Ctx) -> JSON:
    """A bookmark deleted."""
    b = Builder(ctx).person()
    b.add(ip=b.r.opt("ip"))
    return b.build("Event", "Deleted", {"id": b.r.opt("referer"), "type": "BookmarkAnnotation",
                                        "extensions": b.r.event()})
