"""Apply CDC changes to dimension stores and read `User`/`Course`/`Block` records back.

Stores are plain `MutableMapping[str, dict]`: dicts for the in-memory lookup,
Faust tables in the worker, so both share these rules. Rows are kept as small
JSON-able dicts. External ids are stored per user keyed by *type id*, and type
names are resolved when a user is read, so rows may arrive in any order (an
external id before its type, a profile before its user).
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from stream_app.errors import TransformError
from stream_app.tables.cdc import Change
from stream_app.transforms.dimensions import Block, Course, User

Store = MutableMapping[str, Any]

# The default namespace for generated external ids; configurable per deployment.
DEFAULT_ID_NAMESPACE = uuid.UUID("5d6a4bb8-8a1c-5b9e-9f0e-6f70656e6564")
ID_TYPES = ("xapi", "caliper")

TABLES = (
    "auth_user",
    "auth_userprofile",
    "external_user_ids_externalid",
    "external_user_ids_externalidtype",
    "course_overviews_courseoverview",
    "course_blocks",
)


def table_of(topic: str) -> str:
    """The source table a CDC topic carries (the last dotted part of Debezium's topic name)."""
    return topic.rsplit(".", 1)[-1]


def generated_external_id(namespace: uuid.UUID, id_type: str, user_id: int | str) -> str:
    """The deterministic id given to a user with no external-id row of a type."""
    return str(uuid.uuid5(namespace, f"{id_type}:{user_id}"))


def _first(row: dict[str, Any], *names: str) -> Any:
    for name in names:
        if row.get(name) is not None:
            return row[name]
    return None


@dataclass
class DimensionStores:
    """The mutable state the CDC agents maintain."""

    users: Store = field(default_factory=dict)  # user id -> auth_user fields + profile name + ext
    usernames: Store = field(default_factory=dict)  # username -> user id
    ext_rows: Store = field(default_factory=dict)  # externalid row id -> {user_id, type_id}
    ext_types: Store = field(default_factory=dict)  # type id -> type name
    courses: Store = field(default_factory=dict)  # course key -> {display_name, org}
    blocks: Store = field(default_factory=dict)  # usage key -> block fields

    def apply(self, table: str, change: Change) -> None:
        """Apply one decoded change of a source table."""
        handler = _HANDLERS.get(table)
        if handler is None:
            raise TransformError("unknown_cdc_table", table)
        handler(self, change)


def _row_key(change: Change, *columns: str) -> str:
    row = change.row or {}
    value = _first(row, *columns) if row else None
    if value is None:
        value = change.key
    if value is None or isinstance(value, (dict, list)):
        raise TransformError("invalid_cdc", f"missing_key:{columns[0]}")
    return str(value)


def _user(stores: DimensionStores, user_id: str) -> dict[str, Any]:
    return dict(stores.users.get(user_id) or {"id": int(user_id) if user_id.isdigit() else user_id, "ext": {}})


def _auth_user(stores: DimensionStores, change: Change) -> None:
    user_id = _row_key(change, "id")
    old = stores.users.get(user_id)
    if change.op == "delete":
        # A deleted (or retired and purged) user loses every personal field we hold.
        if old is not None:
            if old.get("username") and stores.usernames.get(old["username"]) == user_id:
                del stores.usernames[old["username"]]
            del stores.users[user_id]
        return
    row = change.row or {}
    record = _user(stores, user_id)
    record.update(username=row.get("username"), email=row.get("email"), known=True)
    if old and old.get("username") and old["username"] != record["username"]:
        if stores.usernames.get(old["username"]) == user_id:
            del stores.usernames[old["username"]]
    stores.users[user_id] = record
    if record["username"]:
        stores.usernames[record["username"]] = user_id


def _auth_userprofile(stores: DimensionStores, change: Change) -> None:
    row = change.row or {}
    user_id = row.get("user_id")
    if user_id is None:
        return  # a tombstone for a profile row id: the user row carries no state from it we can find
    key = str(user_id)
    if key not in stores.users and change.op == "delete":
        return
    record = _user(stores, key)
    record["name"] = None if change.op == "delete" else row.get("name")
    stores.users[key] = record


def _externalid(stores: DimensionStores, change: Change) -> None:
    row_id = _row_key(change, "id")
    row = change.row or {}
    if change.op == "delete":
        link = stores.ext_rows.get(row_id) or ({"user_id": row.get("user_id"), "type_id": row.get("external_id_type_id")} if row else None)
        if link and link.get("user_id") is not None:
            key = str(link["user_id"])
            if key in stores.users:
                record = _user(stores, key)
                ext = dict(record.get("ext") or {})
                ext.pop(str(link["type_id"]), None)
                record["ext"] = ext
                stores.users[key] = record
        stores.ext_rows.pop(row_id, None)
        return
    user_id, type_id = row.get("user_id"), row.get("external_id_type_id")
    value = row.get("external_user_id")
    if user_id is None or type_id is None or not value:
        raise TransformError("invalid_cdc", "externalid_row")
    stores.ext_rows[row_id] = {"user_id": user_id, "type_id": type_id}
    record = _user(stores, str(user_id))
    ext = dict(record.get("ext") or {})
    ext[str(type_id)] = str(value)
    record["ext"] = ext
    stores.users[str(user_id)] = record


def _externalidtype(stores: DimensionStores, change: Change) -> None:
    type_id = _row_key(change, "id")
    if change.op == "delete":
        stores.ext_types.pop(type_id, None)
    else:
        stores.ext_types[type_id] = (change.row or {}).get("name")


def _course(stores: DimensionStores, change: Change) -> None:
    course_id = _row_key(change, "id", "course_id", "course_key")
    if change.op == "delete":
        stores.courses.pop(course_id, None)
        return
    row = change.row or {}
    stores.courses[course_id] = {"display_name": row.get("display_name"), "org": _first(row, "org", "display_org_with_default")}


def _block(stores: DimensionStores, change: Change) -> None:
    usage_key = _row_key(change, "location", "usage_key", "block_id")
    if change.op == "delete":
        stores.blocks.pop(usage_key, None)
        return
    row = change.row or {}
    stores.blocks[usage_key] = {
        "display_name": row.get("display_name"),
        "block_type": row.get("block_type"),
        "course_id": _first(row, "course_key", "course_id"),
        "graded": row.get("graded"),
    }


_HANDLERS = {
    "auth_user": _auth_user,
    "auth_userprofile": _auth_userprofile,
    "external_user_ids_externalid": _externalid,
    "external_user_ids_externalidtype": _externalidtype,
    "course_overviews_courseoverview": _course,
    "course_blocks": _block,
}


def user_record(
    stores: DimensionStores, record: dict[str, Any] | None, namespace: uuid.UUID | None
) -> User | None:
    """Build a `User` from a stored record; only users with an auth_user row are known.

    With a `namespace`, missing `xapi`/`caliper` external ids get their generated value.
    """
    if not record or not record.get("known"):
        return None
    external: dict[str, str] = {}
    for type_id, value in (record.get("ext") or {}).items():
        type_name = stores.ext_types.get(type_id)
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


def course_record(course_id: str, row: dict[str, Any] | None) -> Course | None:
    """Build a `Course` from a stored row."""
    if row is None:
        return None
    return Course(course_id=course_id, display_name=row.get("display_name"), org=row.get("org"))


def block_record(usage_key: str, row: dict[str, Any] | None) -> Block | None:
    """Build a `Block` from a stored row."""
    if row is None:
        return None
    return Block(usage_key=usage_key, **row)
