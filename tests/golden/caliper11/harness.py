"""Loads the openedx-caliper-tracking golden cases and reproduces the test environment CT's fixtures assume."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stream_app.transforms import Engine, TransformSettings
from stream_app.transforms.dimensions import EmptyLookup, Team

HERE = Path(__file__).parent
DIRS = (HERE / "fixtures", HERE / "own")
LMS = "http://localhost:18000"

# The constants CT's tests patch its lookups with (NOTICE.md).
TEAM_URL = f"{LMS}/courses/course-v1:edX+DemoX+Demo_Course/teams/#teams/Topic1ID/check-3429fc5983a84c8c8366a4477b03d91c"
CERTIFICATE_URL = f"{LMS}/certificates/user/8/course/course-v1:edx+cs-101+2018"
ABOUT_URL = f"{LMS}/courses/course-v1:edx+cs-101+2018/about"
MEMBER = "honor"


@dataclass(frozen=True)
class Case:
    name: str
    input: Path
    expected: Path

    @property
    def event(self) -> dict[str, Any]:
        return orjson.loads(self.input.read_bytes())

    @property
    def want(self) -> dict[str, Any]:
        return orjson.loads(self.expected.read_bytes())

    @property
    def passthrough(self) -> bool:
        """CT's expected file is the input itself plus `id: null`."""
        want = self.want
        return want.get("id", "") is None and {k: v for k, v in want.items() if k != "id"} == self.event


def cases() -> list[Case]:
    found = []
    for d in DIRS:
        for path in sorted((d / "input").glob("*.json")):
            found.append(Case(path.name.removesuffix(".json"), path, d / "expected" / path.name))
    return found


class MockLookup(EmptyLookup):
    """CT's test mocks: every user id is `honor`, every team has topic `Topic1ID`."""

    def username(self, user_id: str | int) -> str | None:
        return MEMBER

    def team(self, team_id: str) -> Team | None:
        return Team(team_id, "Topic1ID")


def engine(**settings: Any) -> Engine:
    return Engine(TransformSettings(lms_root_url=LMS, **settings), plugins=False)
