"""The enrichment a transformer may use: users, courses, blocks and teams, and the lookup interface.

Transformers never query anything: the engine resolves the event's user and
course through a `Lookup` before calling them. Two implementations exist: the
in-memory one fed by CDC records (`stream_app.tables.memory`, for the CLI and
tests) and the Faust tables of the worker. Both return these frozen records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class User:
    """A learner: auth_user + auth_userprofile + external ids by type name (`xapi`, `caliper`, ...)."""

    id: int
    username: str
    email: str | None = None
    name: str | None = None
    external_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Course:
    """A course overview row: its key, display name and org."""

    course_id: str
    display_name: str | None = None
    org: str | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """A course block (usage key) with its display name and type."""

    usage_key: str
    display_name: str | None = None
    block_type: str | None = None
    course_id: str | None = None
    graded: bool | None = None


@dataclass(frozen=True, slots=True)
class Team:
    """A course team (teams_courseteam): its id and the topic it belongs to (Caliper 1.1 team URLs)."""

    team_id: str
    topic_id: str
    course_id: str | None = None


class Lookup(Protocol):
    """What the engine needs to enrich an event; every method answers None when unknown."""

    def user(self, id_or_username: str | int) -> User | None:
        """Resolve like ERB: an integer-looking value as a user id first, then as a username."""
        ...

    def course(self, course_id: str) -> Course | None:
        """Return the course overview for a course key."""
        ...

    def block(self, usage_key: str) -> Block | None:
        """Return the block for a usage key."""
        ...

    def username(self, user_id: str | int) -> str | None:
        """The username of any user by id (not only the event's actor: Caliper 1.1 names members)."""
        ...

    def team(self, team_id: str) -> Team | None:
        """Return the course team for a team id."""
        ...


class EmptyLookup:
    """A lookup that knows nobody: every user and course is unknown."""

    def user(self, id_or_username: str | int) -> User | None:
        return None

    def course(self, course_id: str) -> Course | None:
        return None

    def block(self, usage_key: str) -> Block | None:
        return None

    def username(self, user_id: str | int) -> str | None:
        return None

    def team(self, team_id: str) -> Team | None:
        return None


class EventLookup:
    """One event's view of a `Lookup`: each user and course is read once for all output formats.

    An event transformed to xAPI and Caliper (and its record's `org`) would otherwise read the
    same user and course from the tables three times. Made per event and dropped after it, so it
    never serves a stale value; failures are not remembered (they propagate, as without it).
    """

    __slots__ = ("_lookup", "_users", "_courses")

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._users: dict[str | int, User | None] = {}
        self._courses: dict[str, Course | None] = {}

    def user(self, id_or_username: str | int) -> User | None:
        if id_or_username in self._users:
            return self._users[id_or_username]
        user = self._users[id_or_username] = self._lookup.user(id_or_username)
        return user

    def course(self, course_id: str) -> Course | None:
        if course_id in self._courses:
            return self._courses[course_id]
        course = self._courses[course_id] = self._lookup.course(course_id)
        return course

    def block(self, usage_key: str) -> Block | None:
        return self._lookup.block(usage_key)

    def username(self, user_id: str | int) -> str | None:
        return self._lookup.username(user_id)

    def team(self, team_id: str) -> Team | None:
        return self._lookup.team(team_id)
