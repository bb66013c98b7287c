"""xAPI transformers for navigation: links, outline selections and sequence tabs (verb `navigated`)."""

from __future__ import annotations

from stream_app.transforms.context import Ctx
from stream_app.transforms.xapi import vocab
from stream_app.transforms.xapi.base import JSON, context, statement
from stream_app.transforms.xapi.registry import XAPI


@XAPI.register("edx.ui.lms.link_clicked")
def link_clicked(ctx: Ctx) -> JSON:
    """The link's target URL, as is, is the object id."""
    obj = {"id": ctx.get("data.target_url", required=True), "objectType": "Activity",
           "definition": {"type": vocab.ACT_LINK}}
    return statement(ctx, vocab.verb("navigated"), obj)


@XAPI.register("edx.ui.lms.sequence.outline.selected", "edx.ui.lms.outline.selected")
def outline_selected(ctx: Ctx) -> JSON:
    """A module chosen in the course outline."""
    definition: JSON = {"type": vocab.ACT_MODULE}
    target_name = ctx.get("data.target_name")
    if target_name is not None:
        definition["name"] = {vocab.EN: target_name}
    obj: JSON = {"id": ctx.get("data.target_url"), "objectType": "Activity", "definition": definition}
    return statement(ctx, vocab.verb("navigated"), obj)


_ENDING = {"edx.ui.lms.sequence.next_selected": "next unit", "edx.ui.lms.sequence.previous_selected": "previous unit"}


@XAPI.register("edx.ui.lms.sequence.next_selected", "edx.ui.lms.sequence.previous_selected",
               "edx.ui.lms.sequence.tab_selected")
def tab_navigation(ctx: Ctx) -> JSON:
    """Moving between units of a sequence; the positions go into context extensions."""
    ending = ctx.get("data.target_tab") if ctx.name == "edx.ui.lms.sequence.tab_selected" else _ENDING[ctx.name]
    definition: JSON = {"type": vocab.ACT_RESOURCE}
    tab_count = ctx.get("data.tab_count")
    definition["extensions"] = {} if tab_count is None else {vocab.EXT_TOTAL_ITEMS: tab_count}
    obj: JSON = {"id": ctx.iri("xblock", ctx.get("data.id")), "objectType": "Activity", "definition": definition}
    extensions = {vocab.EXT_STARTING_POSITION: ctx.get("data.current_tab"), vocab.EXT_ENDING_POSITION: ending}
    return statement(ctx, vocab.verb("navigated"), obj, context_=context(ctx, extensions))
