"""Caliper 1.1 problem events (capa and grades): assessments submitted, saved, reset, graded and viewed.

The object is the page the problem sits on (the referer; `page` for the
browser's reset) and carries the raw payload: as is for server events, wrapped
as `{"event": ...}` for the browser's form-encoded strings. Server events merge
the whole context into the extra fields and most drop `session`; the grading
events without a referer are CT's passthrough cases (`base.passthrough`).
"""

from __future__ import annotations

from stream_app.transforms.caliper11.base import JSON, Builder, passthrough
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx


def _obj(b: Builder, obj_type: str, wrapped: bool = False, key: str = "referer") -> JSON:
    raw = b.r.event()
    return {"id": b.r.req(key), "type": obj_type, "extensions": {"event": raw} if wrapped else raw}


@CALIPER11.register("problem_reset")
def problem_reset(ctx: Ctx) -> JSON:
    """The browser's reset: the object is `page`, the form string goes to the extra fields."""
    b = Builder(ctx).person()
    b.add(course_id=b.r.ctx("course_id"), event=b.r.event()).ip()
    return b.build("AssessmentEvent", "Reset", {"id": b.r.req("page"), "type": "Assessment"})


@CALIPER11.register("problem_show")
def problem_show(ctx: Ctx) -> JSON:
    """The answer shown on request: a `DigitalResource` naming the problem."""
    b = Builder(ctx).person()
    b.add(course_id=b.r.ctx("course_id"), event=b.r.event()).ip()
    obj = {"id": b.r.req("referer"), "type": "DigitalResource", "extensions": {"problem": b.r.field("problem")}}
    return b.build("ViewEvent", "Viewed", obj)


@CALIPER11.register("problem_graded", "problem_save")
def browser_attempt(ctx: Ctx) -> JSON:
    """The browser's graded attempt or saved answer, with its raw payload wrapped."""
    b = Builder(ctx).person().course()
    if ctx.name == "problem_graded":
        return b.build("GradeEvent", "Graded", _obj(b, "Attempt", wrapped=True))
    return b.build("AssessmentEvent", "Paused", _obj(b, "Assessment", wrapped=True))


@CALIPER11.register("save_problem_success")
def save_problem_success(ctx: Ctx) -> JSON:
    """An answer saved: the server payload, with the courseware context picked field by field."""
    b = Builder(ctx).person().drop("session")
    b.add(**{key: b.r.ctx(key) for key in ("course_id", "asides", "course_user_tags", "module")}).ip()
    return b.build("AssessmentEvent", "Paused", _obj(b, "Assessment"))


@CALIPER11.register("problem_check", "problem_check_fail")
def problem_check(ctx: Ctx) -> JSON:
    """A submission: the server's payload as is, the browser's form string wrapped."""
    b = Builder(ctx).person().add_context().ip()
    server = b.r.opt("event_source") == "server"
    if server:
        b.drop("session")
    return b.build("AssessmentEvent", "Submitted", _obj(b, "Assessment", wrapped=not server))


# name -> (type, action, object type, drop session)
_SERVER: dict[str, tuple[str, str, str, bool]] = {
    "edx.problem.hint.demandhint_displayed": ("ViewEvent", "Viewed", "Frame", True),
    "edx.problem.hint.feedback_displayed": ("ViewEvent", "Viewed", "Frame", True),
    "showanswer": ("ViewEvent", "Viewed", "Frame", True),
    "reset_problem_fail": ("AssessmentEvent", "Reset", "Assessment", True),
    "edx.grades.problem.submitted": ("AssessmentEvent", "Submitted", "Assessment", False),
    "edx.grades.problem.state_deleted": ("AssessmentEvent", "Reset", "Assessment", False),
}


@CALIPER11.register(*_SERVER)
def server_problem_event(ctx: Ctx) -> JSON:
    """Hints, answers shown, failed resets, grade submissions: the payload and the whole context."""
    event_type, action, obj_type, no_session = _SERVER[ctx.name]
    b = Builder(ctx).person().add_context().ip()
    if no_session:
        b.drop("session")
    return b.build(event_type, action, _obj(b, obj_type))


@CALIPER11.register("reset_problem")
def reset_problem(ctx: Ctx) -> JSON:
    """A reset: CT re-copies the raw routing fields after merging the context."""
    b = Builder(ctx).person().add_context()
    b.add(**{key: b.r.req(key) for key in ("event_source", "event_type", "host", "ip", "page")}).drop("session")
    return b.build("AssessmentEvent", "Reset", _obj(b, "Assessment"))


@CALIPER11.register("save_problem_fail")
def save_problem_fail(ctx: Ctx) -> JSON:
    """A save refused: the LMS abandons the item."""
    b = Builder(ctx).lms().ip().add_context().drop("session")
    return b.build("Event", "Abandoned", _obj(b, "AssessmentItem"))


@CALIPER11.register("edx.grades.problem.rescored", "edx.grades.problem.score_overridden")
def problem_regraded(ctx: Ctx) -> JSON:
    """A rescore or score override on the learner's attempt (passthrough without a referer)."""
    b = Builder(ctx)
    if not b.r.opt("referer"):
        return passthrough(ctx)
    b.person().add_context().ip()
    if ctx.name == "edx.grades.problem.score_overridden":
        b.add(**{key: b.r.req(key) for key in ("event_source", "host", "session", "page")})
    return b.build("GradeEvent", "Graded", _obj(b, "Attempt"))


@CALIPER11.register("problem_rescore")
def problem_rescore(ctx: Ctx) -> JSON:
    """The instructor task's rescore: referer and username come from the context, not the top level."""
    b = Builder(ctx)
    context = b.r.context()
    if not (b.r.opt("referer") or context.get("referer")):
        return passthrough(ctx)
    rest = dict(context)
    for key in ("referer", "username"):
        if key not in rest:
            b.r.ctx(key)  # rejects: CT pops both without a default
    referer, username = rest.pop("referer"), rest.pop("username")
    b.person(named=False)
    b.actor = {"id": b.profile_url(b.r.opt("username")), "name": username, "type": "Person"}
    b.referrer = {"id": referer, "type": "WebPage"}
    b.add(**rest)
    return b.build("GradeEvent", "Graded", {"id": context.get("referer"), "type": "Attempt", "extensions": b.r.event()})
