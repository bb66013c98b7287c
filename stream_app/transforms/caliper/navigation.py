"""Caliper transformers for navigation: links, outline selections and moves within a sequence (`NavigationEvent`).

A clicked link or an outline entry is addressed by its target URL; the sequence
events (next, previous, tab, and ERB's reading of `sequence.outline.selected`)
address the sequence block by `data.id` and describe the move in the object's
extensions. ERB deletes `data.id` from the shared event while doing so; we read
it without touching the event, which gives the same output.
"""

from __future__ import annotations

from typing import Any

from stream_app.transforms.caliper.base import JSON, caliper_event
from stream_app.transforms.caliper.registry import CALIPER
from stream_app.transforms.context import Ctx

_ENDING = {"edx.ui.lms.sequence.next_selected": "next unit", "edx.ui.lms.sequence.previous_selected": "previous unit"}


def _navigation(ctx: Ctx, obj: JSON, extensions: dict[str, Any]) -> JSON:
    course_id = ctx.get("context.course_id")
    if course_id:
        extensions["isPartOf"] = {"id": ctx.iri("course", course_id), "type": "CourseOffering"}
    # An all-None extensions dict is still set here and is pruned to `{}` later, as in ERB.
    if extensions:
        obj["extensions"] = extensions
    return caliper_event(ctx, "NavigationEvent", "NavigatedTo", obj)


@CALIPER.register("edx.ui.lms.link_clicked", "edx.ui.lms.outline.selected")
def page_navigation(ctx: Ctx) -> JSON:
    """A link or outline entry: the target URL, as is, is the object id."""
    page_type = "Webpage" if ctx.name == "edx.ui.lms.link_clicked" else "DigitalResource"
    obj: JSON = {"id": ctx.get_str("data.target_url", required=True), "type": page_type,
                 "name": ctx.get("data.target_name")}
    return _navigation(ctx, obj, {})


@CALIPER.register("edx.ui.lms.sequence.next_selected", "edx.ui.lms.sequence.previous_selected",
                  "edx.ui.lms.sequence.tab_selected", "edx.ui.lms.sequence.outline.selected")
def sequence_navigation(ctx: Ctx) -> JSON:
    """A move between the units of a sequence block; tab count, current tab and target go into extensions."""
    # ERB sends sequence.outline.selected down this path too (unlike xAPI), so it needs data.id.
    obj_type = "DigitalResource" if ctx.name == "edx.ui.lms.sequence.outline.selected" else "DigitalResourceCollection"
    obj: JSON = {"id": ctx.iri("xblock", ctx.get("data.id", required=True)), "type": obj_type, "name": "Unit"}
    extensions = {
        "tab_count": ctx.get("data.tab_count"),
        "current_tab": ctx.get("data.current_tab"),
        "target": _ENDING.get(ctx.name) or ctx.get("data.target_tab"),
    }
    return _navigation(ctx, obj, extensions)
