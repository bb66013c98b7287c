"""Real-shaped tracking-log lines, old (no `name`, only `event_type`) and recent (with `name`), for backfill tests.

Built from the tracking-log format the edX Research Guide documents ("Tracking
Logs": common fields `agent`, `context` with `course_id`/`org_id`/`user_id`/`path`,
`event`, `event_source` browser|server|mobile, `event_type`, `host`, `ip`,
`page`, `session`, `time`, `username`; `name` and `context.referer` appear only
in later logs), not from our seed format. Browser events carry `event` as a JSON
string (a query string for the old browser `problem_check`), server events as an
object; page views are named by their URL path. The users and courses are the
ones of `samples/cdc.jsonl` (learner1..learner20, course-v1:edX+DemoX+Demo_Course).

Each line says what it is for the tests: `named` (has `name`), or `nameless`,
with `expect` one of `statements` (ERB's transformers give statements for it,
with `name` copied from `event_type`), `legacy` (a transformer exists but fails
on the old shape for xAPI at least: no `context.referer`, no `data.id`; Caliper
1.2 still transforms the old server `problem_check`), `not_allowed` (no allow
list wants it: page_close, page views, seq_goto).

Per learner: 12 old lines (6 `statements`, 3 `legacy`, 3 `not_allowed`) and 3
recent ones; three learners. Per learner the old lines give 6 xAPI and 7
Caliper statements and 5 transformer failures (3 xAPI, 2 Caliper), the recent
ones 3 statements of each format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

COURSE = "course-v1:edX+DemoX+Demo_Course"
VIDEO = "0b9e39477cf34507a7a48f74be381fdd"
PROBLEM = f"block-v1:edX+DemoX+Demo_Course+type@problem+block@{'d' * 32}"
COURSEWARE = f"https://courses.example.org/courses/{COURSE}/courseware/Week_1/Lesson_1/"


@dataclass(frozen=True)
class Line:
    """One log line and what the tests expect of it."""

    raw: bytes
    kind: str  # named | nameless | bad
    expect: str  # statements | legacy | not_allowed | <bad-line reason>

    @property
    def event(self) -> dict[str, Any]:
        return orjson.loads(self.raw)  # type: ignore[no-any-return]


def _line(event_type: str, source: str, event: Any, user: int, second: int, name: bool = False,
          referer: str | None = None, page: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"course_id": COURSE, "org_id": "edX", "user_id": user,
                               "path": "/event" if source == "browser" else f"/courses/{COURSE}/xblock/handler"}
    if referer is not None:
        context["referer"] = referer
    line: dict[str, Any] = {
        "username": f"learner{user}", "event_source": source, "event_type": event_type,
        "ip": "192.0.2.17", "agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/36.0", "host": "courses.example.org",
        "session": "4f6ac3c1e2a2e1f8a3b9d1c2e3f4a5b6", "accept_language": "en-US,en;q=0.5",
        "time": f"2015-03-02T10:{second // 60:02d}:{second % 60:02d}.123456+00:00",
        "event": event, "page": page, "context": context,
    }
    if name:
        line["name"] = event_type
    return line


def _video(event_type: str, extra: dict[str, Any] | None = None) -> str:
    return orjson.dumps({"id": VIDEO, "code": "html5", **(extra or {})}).decode()


def _problem_check(user: int) -> dict[str, Any]:
    return {"problem_id": PROBLEM, "attempts": 1, "grade": 1, "max_grade": 1, "success": "correct",
            "answers": {f"{'d' * 32}_2_1": "choice_1"}, "state": {"seed": 1}, "correct_map": {}, "submission": {}}


def corpus() -> list[Line]:
    """Recent and old lines for several learners, in time order."""
    lines: list[Line] = []
    second = 0
    for user in (1, 2, 3):
        def add(kind: str, expect: str, line: dict[str, Any]) -> None:
            lines.append(Line(orjson.dumps(line), kind, expect))

        def at() -> int:
            nonlocal second
            second += 7
            return second

        # Old lines: only event_type.
        add("nameless", "statements", _line("load_video", "browser", _video("load_video"), user, at(), page=COURSEWARE))
        add("nameless", "statements", _line("play_video", "browser", _video("play_video", {"currentTime": 0}), user,
                                            at(), page=COURSEWARE))
        add("nameless", "statements", _line("pause_video", "browser", _video("pause_video", {"currentTime": 31.4}),
                                            user, at(), page=COURSEWARE))
        add("nameless", "statements", _line("seek_video", "browser", _video("seek_video", {
            "old_time": 31.4, "new_time": 60, "type": "onSlideSeek"}), user, at(), page=COURSEWARE))
        add("nameless", "statements", _line("stop_video", "browser", _video("stop_video", {"currentTime": 120}),
                                            user, at(), page=COURSEWARE))
        add("nameless", "statements", _line("edx.course.enrollment.activated", "server",
                                            {"course_id": COURSE, "user_id": user, "mode": "honor"}, user, at()))
        # An old server problem_check: no context.referer, which ERB's problem transformers need.
        add("nameless", "legacy", _line("problem_check", "server", _problem_check(user), user, at()))
        # The old browser problem_check: the answers as a query string.
        add("nameless", "legacy", _line("problem_check", "browser", f"input_{'d' * 32}_2_1=choice_1", user, at(),
                                        page=COURSEWARE))
        # An old player that logged no video id.
        add("nameless", "legacy", _line("play_video", "browser", orjson.dumps({"currentTime": 3, "code": "flash"})
                                        .decode(), user, at(), page=COURSEWARE))
        add("nameless", "not_allowed", _line("page_close", "browser", "", user, at(), page=COURSEWARE))
        add("nameless", "not_allowed", _line(f"/courses/{COURSE}/courseware/Week_1/", "server",
                                             {"POST": {}, "GET": {}}, user, at()))
        add("nameless", "not_allowed", _line("seq_goto", "browser", orjson.dumps({
            "old": 1, "new": 2, "id": f"block-v1:edX+DemoX+Demo_Course+type@sequential+block@{'e' * 32}"}).decode(),
            user, at(), page=COURSEWARE))
        # Recent lines: `name` set, and the referer the newer LMS adds to the context.
        add("named", "statements", _line("play_video", "browser", _video("play_video", {"currentTime": 5}), user, at(),
                                         name=True, referer=COURSEWARE, page=COURSEWARE))
        add("named", "statements", _line("problem_check", "server", _problem_check(user), user, at(), name=True,
                                         referer=COURSEWARE))
        add("named", "statements", _line("edx.course.enrollment.deactivated", "server",
                                         {"course_id": COURSE, "user_id": user, "mode": "honor"}, user, at(),
                                         name=True))
    return lines


def bad_lines() -> list[Line]:
    """Lines `stream-app load` refuses: not JSON, not an object, and one far over any broker's record limit."""
    huge = _line("problem_check", "server", {**_problem_check(1), "state": {"blob": "x" * 2_000_000}}, 1, 3000,
                 name=True, referer=COURSEWARE)
    return [Line(b'{"username": "learner1", "event_type": "play_video", "event": "{\\"id', "bad", "invalid_json"),
            Line(b'["not", "an", "object"]', "bad", "invalid_event:not_an_object"),
            Line(orjson.dumps(huge), "bad", "msg_size_too_large")]


def with_name(line: Line) -> bytes:
    """The line with `name` copied from `event_type`: what ERB's transformers are handed for a fair comparison."""
    event = line.event
    return orjson.dumps({**event, "name": event["event_type"]})
