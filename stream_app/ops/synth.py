"""Synthetic Open edX activity for `stream-app loadgen`: CDC rows for users and courses, and tracking events.

The population is deterministic for a seed: U learners (auth_user, profile,
xapi and caliper external ids), C courses (overview and a small outline of
chapters, sequentials, videos and problems). Events follow the rough mix of a
real course — mostly video, then navigation and problems, a few enrollments,
completions and grades — in the event-tracking shapes the transformation engine
supports, each stamped with the time it is generated so that `stream-app lag`
can measure event time → statement record. Everything is built here from
scratch; the shapes mirror what the LMS emits.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]
NAMESPACE = uuid.UUID("6f1c3a52-7d5e-4c1b-9a43-2b0f8c6d1e70")
HOST = "lms.loadgen.example.org"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
VIDEOS, PROBLEMS, SEQUENTIALS = 6, 6, 4


@dataclass(frozen=True, slots=True)
class Course:
    key: str
    org: str
    sequentials: tuple[str, ...]
    videos: tuple[str, ...]
    problems: tuple[str, ...]


def _hex(*parts: object) -> str:
    return uuid.uuid5(NAMESPACE, ":".join(map(str, parts))).hex


def make_course(index: int) -> Course:
    org = ("edX", "MITx", "HarvardX")[index % 3]
    key = f"course-v1:{org}+LG{index:03d}+2026_T1"

    def block(kind: str, n: int) -> str:
        return f"block-v1:{org}+LG{index:03d}+2026_T1+type@{kind}+block@{_hex(key, kind, n)}"

    return Course(key, org, tuple(block("sequential", n) for n in range(SEQUENTIALS)),
                  tuple(block("video", n) for n in range(VIDEOS)), tuple(block("problem", n) for n in range(PROBLEMS)))


def external_id(user_id: int, type_id: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"external:{type_id}:{user_id}"))


def _cdc(table: str, key: Any, row: JSON) -> JSON:
    return {"topic": f"openedx.cdc.{table}", "key": {"id": key},
            "value": {"before": None, "after": row, "op": "r", "ts_ms": 0}}


def cdc_records(users: int, courses: int) -> list[JSON]:
    """Debezium snapshot records (`{topic, key, value}`) for the population, dimension types first."""
    out = [_cdc("external_user_ids_externalidtype", i, {"id": i, "name": name})
           for i, name in ((1, "xapi"), (2, "caliper"))]
    for uid in range(1, users + 1):
        out.append(_cdc("auth_user", uid, {"id": uid, "username": f"lg_learner{uid}",
                                           "email": f"lg_learner{uid}@example.org", "is_active": True}))
        out.append(_cdc("auth_userprofile", uid, {"id": uid, "user_id": uid, "name": f"Learner {uid}"}))
        for type_id in (1, 2):
            row_id = uid * 2 + type_id - 2
            out.append(_cdc("external_user_ids_externalid", row_id, {
                "id": row_id, "user_id": uid, "external_id_type_id": type_id,
                "external_user_id": external_id(uid, type_id)}))
    for index in range(courses):
        course = make_course(index)
        out.append(_cdc("course_overviews_courseoverview", course.key,
                        {"id": course.key, "display_name": f"Load Generation {index}", "org": course.org}))
        for kind, keys in (("sequential", course.sequentials), ("video", course.videos),
                           ("problem", course.problems)):
            for n, usage_key in enumerate(keys):
                out.append(_cdc("course_blocks", usage_key, {
                    "location": usage_key, "display_name": f"{kind.title()} {n + 1}", "block_type": kind,
                    "course_key": course.key, "graded": kind == "problem"}))
    return out


class Generator:
    """Random events for the population; `event()` returns one event-tracking dict stamped now."""

    def __init__(self, users: int, courses: int, seed: int | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.users = users
        self.courses = [make_course(i) for i in range(courses)]
        self.random = random.Random(seed)
        self.clock = clock
        names = [name for name, _ in MIX]
        weights = [weight for _, weight in MIX]
        self._names, self._weights = names, weights

    def _context(self, uid: int, course: Course, source: str, module: str | None = None) -> JSON:
        page = f"https://{HOST}/courses/{course.key}/courseware/"
        context: JSON = {
            "course_id": course.key, "org_id": course.org, "user_id": uid, "username": f"lg_learner{uid}",
            "session": _hex("session", uid), "ip": f"10.0.{uid // 250 % 250}.{uid % 250}", "host": HOST,
            "agent": AGENT, "accept_language": "en-US,en;q=0.9", "path": "/event", "referer": page, "page": page,
            "event_source": source, "client_id": None,
        }
        if module is not None:
            context["module"] = {"display_name": "Problem", "usage_key": module}
        return context

    def event(self) -> JSON:
        rnd = self.random
        name = rnd.choices(self._names, self._weights)[0]
        uid = rnd.randint(1, self.users)
        course = rnd.choice(self.courses)
        stamp = self.clock().isoformat()
        data, context = BUILDERS[name](self, uid, course)
        return {"name": name, "timestamp": stamp, "context": context, "data": data}

    # -- one builder per family; they return (data, context) --------------------------------------
    def video(self, uid: int, course: Course, name: str) -> tuple[JSON, JSON]:
        rnd = self.random
        video = rnd.choice(course.videos)
        data: JSON = {"id": video.rsplit("@", 1)[1], "code": "html5", "duration": 300.0}
        if name == "seek_video":
            data.update(old_time=round(rnd.uniform(0, 300), 3), new_time=round(rnd.uniform(0, 300), 3),
                        type="onSlideSeek")
        elif name != "load_video":
            data["currentTime"] = 300.0 if name == "complete_video" else round(rnd.uniform(0, 300), 3)
        return data, self._context(uid, course, "browser")

    def navigation(self, uid: int, course: Course, name: str) -> tuple[JSON, JSON]:
        rnd = self.random
        sequential = rnd.choice(course.sequentials)
        jump = f"https://{HOST}/courses/{course.key}/jump_to/{sequential}"
        if name in ("edx.ui.lms.link_clicked", "edx.ui.lms.outline.selected"):
            data: JSON = {"current_url": f"https://{HOST}/courses/{course.key}/course/", "target_url": jump}
            if name == "edx.ui.lms.outline.selected":
                data.update(target_name="Lesson", widget_placement="accordion")
        else:
            tab = rnd.randint(1, 8)
            data = {"current_tab": tab, "id": sequential, "tab_count": 9, "widget_placement": "top"}
            if name == "edx.ui.lms.sequence.tab_selected":
                data["target_tab"] = rnd.randint(1, 9)
        return data, self._context(uid, course, "browser")

    def problem(self, uid: int, course: Course, name: str) -> tuple[JSON, JSON]:
        rnd = self.random
        problem = rnd.choice(course.problems)
        context = self._context(uid, course, "server", module=problem)
        if name == "showanswer":
            return {"problem_id": problem}, context
        correct = rnd.random() < 0.6
        if name == "edx.grades.problem.submitted":
            return {"course_id": course.key, "problem_id": problem, "user_id": str(uid),
                    "weighted_earned": 1 if correct else 0, "weighted_possible": 1,
                    "event_transaction_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                    "event_transaction_type": name}, context
        answer_id = f"{problem.rsplit('@', 1)[1]}_2_1"
        outcome = "correct" if correct else "incorrect"
        return {"problem_id": problem, "attempts": rnd.randint(1, 3), "grade": int(correct), "max_grade": 1,
                "success": outcome, "answers": {answer_id: "choice_1"},
                "correct_map": {answer_id: {"correctness": outcome, "npoints": None, "msg": "", "hint": "",
                                            "hintmode": None, "queuestate": None}},
                "submission": {answer_id: {"question": "Which one?", "answer": "Choice 1", "correct": correct,
                                           "input_type": "choicegroup", "response_type": "multiplechoiceresponse",
                                           "variant": "", "group_label": ""}},
                "state": {"done": True, "seed": 1}}, context

    def enrollment(self, uid: int, course: Course, name: str) -> tuple[JSON, JSON]:
        data = {"course_id": course.key, "user_id": uid, "mode": self.random.choice(("audit", "verified"))}
        return data, self._context(uid, course, "server")

    def grade(self, uid: int, course: Course, name: str) -> tuple[JSON, JSON]:
        return {"course_id": course.key, "user_id": uid}, self._context(uid, course, "server")

    def completion(self, uid: int, course: Course, name: str) -> tuple[JSON, JSON]:
        block = self.random.choice(course.problems + course.videos)
        data = {"user_id": uid, "course_id": course.key, "context_key": course.key, "block_id": block,
                "block_type": "problem" if "type@problem" in block else "video", "completion": 1.0, "is_new": True}
        return data, self._context(uid, course, "server")


# Relative frequencies (per 100 events), roughly those of a self-paced course's tracking log.
MIX: tuple[tuple[str, float], ...] = (
    ("load_video", 8), ("play_video", 14), ("pause_video", 10), ("seek_video", 5), ("stop_video", 3),
    ("complete_video", 3),
    ("edx.ui.lms.sequence.next_selected", 10), ("edx.ui.lms.sequence.previous_selected", 3),
    ("edx.ui.lms.sequence.tab_selected", 4), ("edx.ui.lms.outline.selected", 3), ("edx.ui.lms.link_clicked", 5),
    ("problem_check", 10), ("edx.grades.problem.submitted", 8), ("showanswer", 2),
    ("edx.course.enrollment.activated", 4), ("edx.course.enrollment.deactivated", 0.5),
    ("edx.completion.block_completion.changed", 3),
    ("edx.course.grade.passed.first_time", 1), ("edx.course.grade.now_passed", 0.5),
)
_FAMILIES: dict[str, Callable[[Generator, int, Course, str], tuple[JSON, JSON]]] = {
    "video": Generator.video, "edx.ui": Generator.navigation, "problem_check": Generator.problem,
    "edx.grades": Generator.problem, "showanswer": Generator.problem, "edx.course.enrollment": Generator.enrollment,
    "edx.course.grade": Generator.grade, "edx.completion": Generator.completion,
}


def _builder(name: str) -> Callable[[Generator, int, Course], tuple[JSON, JSON]]:
    family = next(fn for prefix, fn in _FAMILIES.items() if name.startswith(prefix) or name.endswith(prefix))
    return lambda gen, uid, course: family(gen, uid, course, name)


BUILDERS = {name: _builder(name) for name, _ in MIX}
