"""An in-memory `Lookup` fed by CDC records, for the transform CLI, tests and benchmarks.

It reads the same `{"topic", "key", "value"}` records the worker's tables are
fed with (applied in order: last write wins, deletes remove), so a seed file
checked with `stream-app transform --cdc` behaves as the worker would. Course
teams (`teams_courseteam`, needed only by Caliper 1.1 team URLs) are kept here
by `team_id`, since the shared dimension stores do not carry them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import orjson

from stream_app.errors import TransformError
from stream_app.tables.cdc import Change, decode
from stream_app.tables.dimensions import (
    DEFAULT_ID_NAMESPACE,
    DimensionStores,
    block_record,
    course_record,
    table_of,
    team_record,
    team_row,
    user_record,
    username_of,
)
from stream_app.transforms.dimensions import Block, Course, Team, User

TEAMS_TABLE = "teams_courseteam"


class MemoryLookup:
    """Dimension stores in dicts, with ERB's user resolution (id first, then username)."""

    def __init__(self, namespace: uuid.UUID | None = DEFAULT_ID_NAMESPACE) -> None:
        self.stores = DimensionStores()
        self.namespace = namespace
        # Resolved users by lookup key; any CDC change clears it (changes are rare next to events).
        self._users: dict[str | int, User | None] = {}
        self._courses: dict[str, Course | None] = {}
        self.teams: dict[str, Team] = {}

    def apply(self, topic: str, key: Any, value: Any) -> None:
        """Apply one CDC record; raises TransformError for an unknown table or a malformed record."""
        change = decode(key, value, table_of(topic))
        if change is not None and table_of(topic) == TEAMS_TABLE:
            self._apply_team(change)
        elif change is not None:
            self.stores.apply(table_of(topic), change)
            self._users.clear()
            self._courses.clear()

    def _apply_team(self, change: Change) -> None:
        found = team_row(change)
        if found is None:
            return
        team_id, row = found
        team = team_record(team_id, row)
        if team is None:
            self.teams.pop(team_id, None)
        else:
            self.teams[team_id] = team

    def load(self, records: Iterable[dict[str, Any]]) -> int:
        """Apply `{"topic", "key", "value"}` records in order; return how many were applied."""
        count = 0
        for record in records:
            if not isinstance(record, dict) or not isinstance(record.get("topic"), str):
                raise TransformError("invalid_cdc", "record_shape")
            self.apply(record["topic"], record.get("key"), record.get("value"))
            count += 1
        return count

    def load_jsonl(self, lines: Iterable[bytes | str]) -> int:
        """Apply a JSONL seed (one record per line; blank lines ignored)."""
        return self.load(orjson.loads(line) for line in lines if line.strip())

    def user(self, id_or_username: str | int) -> User | None:
        try:
            return self._users[id_or_username]
        except KeyError:
            user = self._users[id_or_username] = self._resolve(id_or_username)
            return user

    def _resolve(self, id_or_username: str | int) -> User | None:
        stores = self.stores
        record = None
        try:
            record = stores.users.get(str(int(id_or_username)))
        except (TypeError, ValueError, OverflowError):
            pass
        if record is None or not record.get("known"):
            user_id = stores.usernames.get(str(id_or_username))
            record = stores.users.get(user_id) if user_id is not None else None
        return user_record(stores.ext_types, record, self.namespace)

    def course(self, course_id: str) -> Course | None:
        try:
            return self._courses[course_id]
        except KeyError:
            course = self._courses[course_id] = course_record(course_id, self.stores.courses.get(course_id))
            return course

    def block(self, usage_key: str) -> Block | None:
        return block_record(usage_key, self.stores.blocks.get(usage_key))

    def username(self, user_id: str | int) -> str | None:
        try:
            record = self.stores.users.get(str(int(user_id)))
        except (TypeError, ValueError, OverflowError):
            return None
        return username_of(record)

    def team(self, team_id: str) -> Team | None:
        return self.teams.get(team_id)
