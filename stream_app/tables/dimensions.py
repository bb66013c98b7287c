"""Apply CDC changes to dimension state and read `User`/`Course`/`Block` records back.

The rules are pure functions over small JSON-able dicts, so the in-memory
lookup (`DimensionStores`, dicts) and the worker (Faust tables, partitioned by
user id) share them. A user record gathers auth_user, the profile (its name
for statements, the columns Aspects' `user_profile` sink copies under
`profile`) and the external ids keyed by *type id*; type names are resolved when a user is read,
so rows may arrive in any order (an external id before its type, a profile
before its user). Deleting an external id needs the row's before image
(Debezium's default for MySQL, which Open edX runs); a bare tombstone after it
changes nothing more.

Deletes in any order (a user's rows come from three topics that interleave freely). A
users-table entry is a *user* (`known`: its auth_user row was seen; the only entries
lookups and the web view show), *pending* child rows (no auth_user row yet, e.g. a fresh
snapshot's profile; merged when the auth_user row arrives, removed when their own deletes
empty them), or a *deletion marker* `{"id", "deleted": true}` that an auth_user delete
leaves instead of the record. A later child-row change of a marked user (a cascade's
child delete read after the parent's, a late update) is dropped with reason
`user_deleted`, a child delete of a user never seen with `unknown_user` (`skip_reason`;
the worker counts `stream_app_cdc_dropped_total{table, reason}`), so no stub is ever
re-created; an auth_user row for a marked id replaces the marker. Memory is bounded by the
number of users ever deleted: one ~30-byte marker each, without personal data, in the
RocksDB-backed (on-disk) users table with a compacted changelog (ids are never reused, so a
marker never needs to expire); pending entries live only until their auth_user row
arrives. Courses come from one topic keyed and ordered by course id, so a course's delete
and tombstone remove it and only a newer row of it brings it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream_app.errors import TransformError
from stream_app.tables.cdc import Change
from stream_app.transforms.dimensions import Block, Course, Team, User
from stream_app.transforms.settings import DEFAULT_ID_NAMESPACE as DEFAULT_ID_NAMESPACE  # re-exported for the tables

Store = MutableMapping[str, Any]


class Readable(Protocol):
    """What a dimension read needs of a store: a dict, a Faust table or a `ReadCache`."""

    def get(self, key: str, /) -> Any: ...

JSON = dict[str, Any]

ID_TYPES = ("xapi", "caliper")
USER_TABLES = ("auth_user", "auth_userprofile", "external_user_ids_externalid")
# The auth_userprofile columns Aspects' user_profile table holds (besides name, kept on its own).
PROFILE_FIELDS = ("meta", "courseware", "language", "location", "year_of_birth", "gender", "level_of_education",
                  "mailing_address", "city", "country", "state", "goals", "bio", "profile_image_uploaded_at",
                  "phone_number")
TABLES = USER_TABLES + ("external_user_ids_externalidtype", "course_overviews_courseoverview", "course_blocks")


def table_of(topic: str) -> str:
    """The source table a CDC topic carries (the last dotted part of Debezium's topic name)."""
    return topic.rsplit(".", 1)[-1]


def generated_external_id(namespace: uuid.UUID, id_type: str, user_id: int | str) -> str:
    """The deterministic id given to a user with no external-id row of a type."""
    return str(uuid.uuid5(namespace, f"{id_type}:{user_id}"))


def _first(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if row.get(name) is not None:
            return row[name]
    return None


def row_key(change: Change, *columns: str) -> str:
    """The row's key: the first present column, else the record key."""
    value = _first(change.row, *columns) if change.row else None
    if value is None:
        value = change.key
    if value is None or isinstance(value, (dict, list)):
        raise TransformError("invalid_cdc", f"missing_key:{columns[0]}")
    return str(value)


# -- users --------------------------------------------------------------------------------------
def user_key_of(table: str, change: Change) -> str | None:
    """The user id a user-table change belongs to; None for a tombstone that names no user."""
    if table == "auth_user":
        return row_key(change, "id")
    user_id = (change.row or {}).get("user_id")
    if user_id is None or isinstance(user_id, (dict, list)):
        if change.row is None:
            return None
        raise TransformError("invalid_cdc", "missing_key:user_id")
    return str(user_id)


def _user_id(user_id: str) -> int | str:
    return int(user_id) if user_id.isdigit() else user_id


def is_deleted(record: JSON | None) -> bool:
    """Whether a users-table entry is a deletion marker (the user's auth_user row was deleted)."""
    return bool(record and record.get("deleted"))


def skip_reason(record: JSON | None, table: str, change: Change) -> str | None:
    """Why a user-row change is not applied to the stored entry (None: it is applied)."""
    if table == "auth_user":
        return None
    if is_deleted(record):
        return "user_deleted"
    if record is None and change.op == "delete":
        return "unknown_user"
    return None


def apply_user_change(record: JSON | None, user_id: str, table: str, change: Change) -> JSON | None:
    """The users-table entry after one change (see the module docstring); None removes it.

    An auth_user delete leaves a deletion marker (all personal data goes); a change `skip_reason`
    names leaves the entry as it was.
    """
    row = change.row or {}
    if table == "auth_user" and change.op == "delete":
        return {"id": _user_id(user_id), "deleted": True}
    if skip_reason(record, table, change) is not None:
        return record
    if is_deleted(record):
        record = None  # an auth_user row for a deleted id: a new user
    new: JSON = dict(record) if record else {"id": _user_id(user_id), "ext": {}}
    if table == "auth_user":
        new.update(username=row.get("username"), email=row.get("email"), known=True)
    elif table == "auth_userprofile":
        deleted = change.op == "delete"
        new["name"] = None if deleted else row.get("name")
        # Only set columns, to keep records small: most profiles leave most of them empty.
        new["profile"] = None if deleted else {k: row[k] for k in PROFILE_FIELDS if row.get(k) not in (None, "")}
    elif table == "external_user_ids_externalid":
        type_id = row.get("external_id_type_id")
        if type_id is None:
            raise TransformError("invalid_cdc", "externalid_row")
        ext = dict(new.get("ext") or {})
        if change.op == "delete":
            ext.pop(str(type_id), None)
        else:
            value = row.get("external_user_id")
            if not value:
                raise TransformError("invalid_cdc", "externalid_row")
            ext[str(type_id)] = str(value)
        new["ext"] = ext
    else:
        raise TransformError("unknown_cdc_table", table)
    if not new.get("known") and not new.get("ext") and new.get("name") is None and new.get("profile") is None:
        return None  # pending rows that their own deletes emptied: nothing to keep
    return new


def username_updates(old: JSON | None, new: JSON | None) -> list[tuple[str, JSON | None]]:
    """Changes to the username index implied by a user-record change: (username, record or None)."""
    old_name = (old or {}).get("username")
    new_name = (new or {}).get("username")
    updates: list[tuple[str, JSON | None]] = []
    if old_name and old_name != new_name:
        updates.append((old_name, None))
    if new_name and new is not None and new.get("known"):
        updates.append((new_name, new))
    return updates


def user_record(ext_types: Readable, record: JSON | None, namespace: uuid.UUID | None) -> User | None:
    """Build a `User` from a stored record; only users with an auth_user row are known.

    With a `namespace`, missing `xapi`/`caliper` external ids get their generated value.
    """
    if not record or not record.get("known"):
        return None
    external: dict[str, str] = {}
    for type_id, value in (record.get("ext") or {}).items():
        type_name = ext_types.get(type_id)
        if type_name:
            external[str(type_name).lower()] = value
    if namespace is not None:
        for id_type in ID_TYPES:
            if id_type not in external:
                external[id_type] = generated_external_id(namespace, id_type, record["id"])
    return User(
        id=record["id"],
        username=record.get("username") or "",
        email=record.get("email"),
        name=record.get("name"),
        external_ids=external,
    )


# -- courses, blocks, external id types --------------------------------------------------------
def course_row(change: Change) -> tuple[str, JSON | None]:
    """(course key, stored row or None for a delete)."""
    course_id = row_key(change, "id", "course_id", "course_key")
    if change.op == "delete":
        return course_id, None
    row = change.row or {}
    return course_id, {"display_name": row.get("display_name"), "org": _first(row, "org", "display_org_with_default")}


def block_row(change: Change) -> tuple[str, JSON | None]:
    """(usage key, stored row or None for a delete)."""
    usage_key = row_key(change, "location", "usage_key", "block_id")
    if change.op == "delete":
        return usage_key, None
    row = change.row or {}
    return usage_key, {
        "display_name": row.get("display_name"),
        "block_type": row.get("block_type"),
        "course_id": _first(row, "course_key", "course_id"),
        "graded": row.get("graded"),
    }


def external_id_type_row(change: Change) -> tuple[str, str | None]:
    """(type id, type name or None for a delete)."""
    type_id = row_key(change, "id")
    return type_id, None if change.op == "delete" else (change.row or {}).get("name")


def team_row(change: Change) -> tuple[str, JSON | None] | None:
    """A teams_courseteam change as (team_id, row or None to delete); None when it names no team_id.

    The table's primary key is a numeric id, but Caliper 1.1 looks teams up by `team_id`: a bare
    tombstone (key only) cannot be mapped and changes nothing; Debezium's delete carries `before`.
    """
    row = change.row or {}
    team_id = row.get("team_id")
    if team_id is None:
        if change.op == "delete":
            return None
        raise TransformError("invalid_cdc", "missing_key:team_id")
    if change.op == "delete":
        return str(team_id), None
    topic_id = row.get("topic_id")
    if not isinstance(topic_id, str) or not topic_id:
        raise TransformError("invalid_cdc", "teams_row")
    course_id = row.get("course_id")
    return str(team_id), {"topic_id": topic_id, "course_id": course_id if isinstance(course_id, str) else None}


def team_record(team_id: str, row: Mapping[str, Any] | None) -> Team | None:
    """The Team of a stored teams row."""
    if not row:
        return None
    return Team(team_id, str(row["topic_id"]), row.get("course_id"))


def username_of(record: JSON | None) -> str | None:
    """The username of a known user record (for the id → username index)."""
    if not record or not record.get("known"):
        return None
    username = record.get("username")
    return username if isinstance(username, str) and username else None


def course_record(course_id: str, row: Mapping[str, Any] | None) -> Course | None:
    """Build a `Course` from a stored row."""
    if row is None:
        return None
    return Course(course_id=course_id, display_name=row.get("display_name"), org=row.get("org"))


def block_record(usage_key: str, row: Mapping[str, Any] | None) -> Block | None:
    """Build a `Block` from a stored row."""
    if row is None:
        return None
    return Block(usage_key=usage_key, **row)


def _put(store: Store, key: str, value: Any) -> None:
    if value is None:
        store.pop(key, None)
    else:
        store[key] = value


@dataclass
class DimensionStores:
    """Dimension state in plain mappings (the in-memory lookup's; the worker splits it over tables)."""

    users: Store = field(default_factory=dict)  # user id -> user record
    usernames: Store = field(default_factory=dict)  # username -> user id
    ext_types: Store = field(default_factory=dict)  # type id -> type name
    courses: Store = field(default_factory=dict)  # course key -> {display_name, org}
    blocks: Store = field(default_factory=dict)  # usage key -> block fields

    def apply(self, table: str, change: Change) -> None:
        """Apply one decoded change of a source table."""
        if table in USER_TABLES:
            user_id = user_key_of(table, change)
            if user_id is None:
                return
            old = self.users.get(user_id)
            if skip_reason(old, table, change) is not None:
                return
            new = apply_user_change(old, user_id, table, change)
            _put(self.users, user_id, new)
            for username, record in username_updates(old, new):
                _put(self.usernames, username, None if record is None else user_id)
        elif table == "external_user_ids_externalidtype":
            _put(self.ext_types, *external_id_type_row(change))
        elif table == "course_overviews_courseoverview":
            _put(self.courses, *course_row(change))
        elif table == "course_blocks":
            _put(self.blocks, *block_row(change))
        else:
            raise TransformError("unknown_cdc_table", table)


def is_user_id(key: Any) -> bool:
    """Whether an actor key is a user id (ERB tries the integer id before the username)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return True
    return isinstance(key, str) and key.strip().lstrip("-").isdigit()


def key_by_user_id(key: str, user_id_of: Callable[[str], Any]) -> str:
    """The key to route an event by: its user id, looked up by `user_id_of` when the key is a username
    (the username itself when the index does not know it yet)."""
    if is_user_id(key):
        return key
    user_id = user_id_of(key)
    return str(user_id) if user_id is not None else key
