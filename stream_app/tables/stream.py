"""The worker's Faust tables and the `Lookup` over them.

`users` is partitioned like `events-by-actor` (same partition count, keys
hashed from the same JSON key bytes), so the enrich agent finds an event's user
in its local shard. `usernames` (username → user id) is global, so that any
worker can route an event that names its user only by username to the user's
partition. Courses, blocks and external-id types are small and global too.
Global tables are written through their changelog only (`put_global`) and read
back by every worker; `rebuild_unsafe_global_stores` deletes, once, the global
stores of a data dir written by a version that could skip their changes.
"""

from __future__ import annotations

import logging
import shutil
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from faust.streams import _current_event

from stream_app.application import app
from stream_app.errors import MissingDimension
from stream_app.tables.cache import ReadCache
from stream_app.tables.dimensions import (
    ID_TYPES,
    block_record,
    course_record,
    generated_external_id,
    is_user_id,
    key_by_user_id,
    team_record,
    user_record,
)
from stream_app.transforms.dimensions import Block, Course, Team, User

log = logging.getLogger(__name__)
_PARTITIONS = app.stream_settings.partitions
# In the table directory: its global stores hold only what this worker read back from their changelogs.
READ_BACK_MARK = "global-stores-read-back"
CACHES: dict[str, ReadCache] = {}


def _on_changelog(name: str) -> Any:
    async def on_changelog_event(event: Any) -> None:
        # Called before the record is applied, with no await in between (one-record buffers for
        # global tables; the users table is read only after its recovery has been applied).
        cache = CACHES.get(name)
        if cache is not None:
            cache.drop_serialized(event.message.key)

    return on_changelog_event


def _table(name: str, help: str) -> Any:
    table = app.Table(name, default=None, partitions=_PARTITIONS, help=help, key_type=str,
                      on_changelog_event=_on_changelog(name))
    CACHES[name] = ReadCache(table, keep_absent=False)
    return table


def _global_table(name: str, help: str) -> Any:
    # Every worker holds every partition and reads every change from the changelog, one record at a
    # time: Faust's default 1,000-record buffer is flushed only when full or at a rebalance, so a course
    # written by another worker stayed invisible here until then. Writes go through `put_global`.
    # One changelog partition: every worker reads all of a global table anyway, and each partition is one
    # more in every fetch the worker's consumer sends (the embedded broker spends CPU per partition per
    # fetch, even on empty ones: see BENCHMARKS.md, "fewer partitions per fetch").
    table = app.GlobalTable(name, default=None, use_partitioner=True, help=help, key_type=str, partitions=1,
                            recovery_buffer_size=1, on_changelog_event=_on_changelog(name))
    CACHES[name] = ReadCache(table)
    return table


@contextmanager
def processing(event: Any) -> Iterator[None]:
    """Make `event` Faust's current stream event while the body runs.

    Faust files a partitioned table's writes under the partition of the current event. Inside
    `take_events` batches that is whichever event was buffered last, so an agent that writes
    tables while working through a batch names each event in turn.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def put_user(user_id: str, record: Any) -> None:
    """Write or (None) delete a user record, in the current event's partition (the user's)."""
    CACHES["users"].drop(user_id)
    if record is None:
        users.pop(user_id, None)
    else:
        users[user_id] = record


def put_global(table: Any, key: str, value: Any) -> None:
    """Write one entry of a global table (None deletes it) through its changelog only.

    Faust's RocksDB store files a local write under the partition of the event being processed (a
    CDC topic's partition), while the changelog copy that every worker reads lands under the key's
    own partition; the writer then held two copies and, after the key was next written by another
    worker, kept reading the stale one. Producing only to the changelog, keyed and partitioned as
    Faust does, gives every worker, the writer included, one copy per key. The change is readable a
    moment later, once read back; events that need it meanwhile are held and retried.

    Sent without `Table.send_changelog`'s callback: it records the sent offset in the local store as
    applied, which is true of Faust's own writes (local first) but not of this one (applied only when
    read back). A rebalance or restart before the read-back then resumed the changelog past records
    this worker never applied, and it lost them for good: a worker whose `external_id_types` stayed
    empty held every event it enriched (issue 18, two workers).
    """
    table.changelog_topic.send_soon(
        key=key, value=value, partition=None, key_serializer=table.key_serializer,
        # A delete is a tombstone (no value), as Faust's own deletes.
        value_serializer="raw" if value is None else table.value_serializer,
        eager_partitioning=True)


users = _table("users", "user records by user id")
usernames = _global_table("usernames", "user id by username")
courses = _global_table("courses", "course overviews by course key")
blocks = _global_table("blocks", "course blocks by usage key")
external_id_types = _global_table("external_id_types", "external id type names by type id")
# Caliper 1.1 names cohort and team members (not the event's actor, so not in the local users shard)
# and team topics: a global id → username index and the course teams.
user_names = _global_table("user_names", "username by user id")
teams = _global_table("teams", "course teams (topic, course) by team id")

TABLES = {"users": users, "usernames": usernames, "courses": courses, "blocks": blocks,
          "external_id_types": external_id_types, "user_names": user_names, "teams": teams}


_USERS, _USERNAMES, _COURSES, _BLOCKS = CACHES["users"], CACHES["usernames"], CACHES["courses"], CACHES["blocks"]
_EXT_TYPES, _USER_NAMES, _TEAMS = CACHES["external_id_types"], CACHES["user_names"], CACHES["teams"]


async def _on_rebalance(*_: Any, **__: Any) -> None:
    # Partitions, and the table contents behind them, change hands at a rebalance.
    for cache in CACHES.values():
        cache.clear()


app.on_partitions_revoked.connect(_on_rebalance)
app.on_partitions_assigned.connect(_on_rebalance)


def rebuild_unsafe_global_stores(tabledir: Path) -> list[str]:
    """Delete the global tables' local stores once if an earlier version wrote them; returns what went.

    Before `put_global` stopped recording sent offsets as applied, a worker could hold a global
    store whose offset is past records it never applied, and would never read them again. Such a
    store is rebuilt from its changelog (all of it: a one-time cost at the first start after the
    upgrade). A table directory with the mark, or without any store yet, keeps what it has.
    """
    tabledir.mkdir(parents=True, exist_ok=True)
    mark = tabledir / READ_BACK_MARK
    if mark.exists():
        return []
    removed = []
    for name, table in TABLES.items():
        if not table.is_global:
            continue
        for path in sorted(tabledir.glob(f"{name}-*.db")) + sorted(tabledir.glob(f"{name}-backups")):
            shutil.rmtree(path)
            removed.append(path.name)
    if removed:
        log.warning("rebuilding the global tables' stores from their changelogs (written by an earlier version, "
                    "they may lack changes): removed %s", ", ".join(removed))
    mark.write_text("global stores hold only what their changelogs gave back\n")
    return removed


def routing_key(key: str) -> str:
    """The key to route an event by: the user id when this worker's username index knows the name."""
    return key_by_user_id(key, _USERNAMES.get)


class TableLookup:
    """`Lookup` over the tables; only valid inside a stream event of the right partition.

    Users without an external-id row of a type get the deterministic generated id; each
    generation is noted in `generated` so the agent can store it and publish it once.
    """

    def __init__(self, namespace: uuid.UUID | None, may_generate: bool = True) -> None:
        self.namespace = namespace
        # One lookup per event: generating is allowed only once the event has waited the grace
        # period, because a new user's external-id rows usually follow its auth_user row (and
        # after a failover the table may briefly lag its changelog): an id generated too early
        # would contradict the real row for ever.
        self.may_generate = may_generate
        self.generated: list[tuple[str, str, str]] = []  # (user id, id type, external id)

    def user_row(self, key: str | int) -> dict[str, Any] | None:
        """The stored user record for an actor key (id first, then username).

        Only a record in this event's partition can be read: an event routed by username
        before the index knew it finds nothing, is held, and is re-routed by id.
        """
        record = None
        if is_user_id(key):
            record = _USERS.get(str(int(key)))
        if record is None or not record.get("known"):
            user_id = _USERNAMES.get(str(key))
            record = _USERS.get(str(user_id)) if user_id is not None else None
        return record if record and record.get("known") else None

    def user(self, id_or_username: str | int) -> User | None:
        record = self.user_row(id_or_username)
        user = user_record(_EXT_TYPES, record, None)
        if user is None or record is None or self.namespace is None:
            return user
        if all(id_type in user.external_ids for id_type in ID_TYPES):
            return user  # the usual case: nothing to fill in, no copy of the user
        external = dict(user.external_ids)
        stored = record.get("generated") or {}
        for id_type in ID_TYPES:
            if id_type in external:
                continue
            if id_type in stored:
                external[id_type] = stored[id_type]
            elif not self.may_generate:
                raise MissingDimension("missing_external_id", id_type)
            else:
                value = external[id_type] = generated_external_id(self.namespace, id_type, record["id"])
                self.generated.append((str(record["id"]), id_type, value))
        return replace(user, external_ids=external)

    def course(self, course_id: str) -> Course | None:
        return course_record(course_id, _COURSES.get(course_id))

    def block(self, usage_key: str) -> Block | None:
        return block_record(usage_key, _BLOCKS.get(usage_key))

    def username(self, user_id: str | int) -> str | None:
        value = _USER_NAMES.get(str(user_id))
        return value if isinstance(value, str) else None

    def team(self, team_id: str) -> Team | None:
        return team_record(team_id, _TEAMS.get(team_id))
