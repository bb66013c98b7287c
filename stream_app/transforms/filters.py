"""Which event names each format transforms: ERB's default allow lists, or the operator's own.

An operator may replace a format's list with names and/or regular expressions
(`re:`-prefixed entries, matched against the whole name). The defaults are
ERB's settings lists; intersected with the registries they give ERB's effective
sets (63 xAPI, 24 Caliper). Names allowed but without a transformer (two video
language-menu events for xAPI, two course-grade events for Caliper) are
reported as `unsupported_event`, as ERB logs "Could not get transformer".
Caliper 1.1 (openedx-caliper-tracking parity) allows CT's 155 names. Page
views (every name that is a URL path, `/courses/...`) are left out by default,
since CT wrote them only to its local log and never delivered them;
`with_page_views()` adds them to a list (the `caliper11_page_views` setting).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from stream_app.transforms.caliper11.names import NAMES as CALIPER11_NAMES
from stream_app.transforms.caliper11.names import PAGE_VIEW_PATTERN

_VIDEO = (
    "load_video", "edx.video.loaded", "play_video", "edx.video.played", "complete_video",
    "edx.video.completed", "stop_video", "edx.video.stopped", "pause_video", "edx.video.paused",
    "seek_video", "edx.video.position.changed",
)
_NAVIGATION = (
    "edx.ui.lms.link_clicked", "edx.ui.lms.sequence.outline.selected", "edx.ui.lms.outline.selected",
    "edx.ui.lms.sequence.next_selected", "edx.ui.lms.sequence.previous_selected",
    "edx.ui.lms.sequence.tab_selected",
)
_PROBLEM = ("showanswer", "edx.problem.hint.demandhint_displayed", "problem_check")
_COURSE_GRADE = ("edx.course.grade.passed.first_time", "edx.course.grade.now_passed", "edx.course.grade.now_failed")
_FORUM = tuple(
    f"edx.forum.{obj}.{action}"
    for obj, actions in (
        ("thread", ("created", "deleted", "edited", "viewed", "reported", "unreported", "voted")),
        ("response", ("created", "deleted", "edited", "reported", "unreported", "voted")),
        ("comment", ("created", "deleted", "edited", "reported", "unreported")),
    )
    for action in actions
)
_EXAMS = tuple(
    f"edx.special_exam.{kind}.attempt.{step}"
    for kind in ("timed", "practice", "proctored")
    for step in ("created", "submitted")
)

DEFAULT_XAPI_EVENTS: frozenset[str] = frozenset(
    (
        "edx.course.enrollment.activated", "edx.course.enrollment.deactivated", "edx.course.enrollment.mode_changed",
        "edx.grades.subsection.grade_calculated", "edx.grades.course.grade_calculated",
        "edx.completion.block_completion.changed",
        "hide_transcript", "edx.video.transcript.hidden", "show_transcript", "edx.video.transcript.shown",
        "speed_change_video", "video_hide_cc_menu", "edx.video.closed_captions.shown",
        "edx.video.closed_captions.hidden", "edx.video.language_menu.hidden", "video_show_cc_menu",
        "edx.video.language_menu.shown",
    )
    + _EXAMS + _FORUM + _NAVIGATION + _PROBLEM + _VIDEO + _COURSE_GRADE
)

DEFAULT_CALIPER_EVENTS: frozenset[str] = frozenset(
    ("edx.course.enrollment.activated", "edx.course.enrollment.deactivated")
    + _NAVIGATION + _PROBLEM + _VIDEO + _COURSE_GRADE
)

DEFAULTS: dict[str, frozenset[str]] = {
    "xapi": DEFAULT_XAPI_EVENTS, "caliper": DEFAULT_CALIPER_EVENTS, "caliper11": CALIPER11_NAMES,
}

REGEX_PREFIX = "re:"


@dataclass(frozen=True, slots=True)
class EventFilter:
    """An allow list: exact names plus whole-name regular expressions."""

    names: frozenset[str]
    patterns: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> EventFilter:
        """Build from entries; `re:<pattern>` entries are regexes. Raises ValueError on a bad regex."""
        names: set[str] = set()
        patterns: list[re.Pattern[str]] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            if entry.startswith(REGEX_PREFIX):
                try:
                    patterns.append(re.compile(entry[len(REGEX_PREFIX):]))
                except re.error as exc:
                    raise ValueError(f"invalid regular expression in allow list: {entry!r}: {exc}") from exc
            else:
                names.add(entry)
        return cls(frozenset(names), tuple(patterns))

    @classmethod
    def default(cls, fmt: str) -> EventFilter:
        """The default allow list for a format (ERB's, or CT's delivered names for Caliper 1.1)."""
        return cls(DEFAULTS[fmt])

    def adding(self, names: Iterable[str]) -> EventFilter:
        """This list plus these exact names (the names plugins register, for the default lists)."""
        return EventFilter(self.names | frozenset(names), self.patterns)

    def with_page_views(self) -> EventFilter:
        """This list plus page views (names that are URL paths), which Caliper 1.1 transforms as CT did."""
        return EventFilter(self.names, (*self.patterns, re.compile(PAGE_VIEW_PATTERN)))

    def allows(self, name: str) -> bool:
        """True when the name is listed or fully matches one of the patterns."""
        if name in self.names:
            return True
        # Checked per event and per format: skip building a generator when there are no patterns.
        return bool(self.patterns) and any(p.fullmatch(name) for p in self.patterns)
