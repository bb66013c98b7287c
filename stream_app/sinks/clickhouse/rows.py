"""Row builders: our records (xAPI output, course, block, user, enrollment) as rows of Aspects' tables.

Every builder is a pure function. The event-sink rows carry Aspects'
`dump_id` and `time_last_dumped`; here both derive from the *source change*
(`changed_at`: the Debezium `ts_ms`, or the Kafka timestamp of the changelog
record), never from the clock, so re-sending a row reproduces it byte for byte
and the ReplacingMergeTree keeps one copy, while a later change sorts after the
earlier one as Aspects' "most recent row" queries expect. Times use Aspects'
text form, `YYYY-MM-DD HH:MM:SS.ffffff+00:00` (Python's `str()` of a UTC
datetime, which its serializers emit).

Block order (`course_blocks.order`, and the section/subsection/unit numbers in
`xblock_data_json`): Aspects walks the course tree depth-first, which our block
records do not describe (they carry no parent or position). When the records
carry an integer `order` (a CDC producer that knows the tree may add it) we use
it and number sections, subsections and units as Aspects does. Otherwise blocks
are ordered by depth in the course hierarchy (course, chapter, sequential,
vertical, then leaf blocks) and then by usage key — stable across dumps, so rows
do not churn — and the section/subsection/unit numbers are 0 ("unknown").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from stream_app.errors import StreamAppError
from stream_app.tables.dimensions import PROFILE_FIELDS
from stream_app.transforms.dimensions import User

Row = dict[str, Any]

_NAMESPACE = uuid.UUID("4f0c6a53-1b1e-5f8a-9d3c-636c69636b68")  # namespace of deterministic dump ids
# Block types xblock keeps outside the course tree (about pages, static tabs, course info updates).
DETACHED_TYPES = frozenset({"about", "static_tab", "course_info"})
_DEPTH = {"course": 0, "chapter": 1, "sequential": 2, "vertical": 3}


class RowError(StreamAppError, ValueError):
    """A record cannot become a row (a missing key, a malformed id); the message says which field."""


# -- times ----------------------------------------------------------------------------------------
def from_epoch(value: int | float) -> datetime:
    """A UTC datetime from epoch seconds, milliseconds, microseconds or nanoseconds (by magnitude).

    Debezium encodes MySQL DATETIME columns as milliseconds or microseconds depending on the
    column precision and connector settings; the magnitude tells them apart for any date after 1973.
    """
    magnitude = abs(value)
    divisor = 1 if magnitude < 1e11 else 1e3 if magnitude < 1e14 else 1e6 if magnitude < 1e17 else 1e9
    return datetime.fromtimestamp(value / divisor, tz=UTC)


def changed_at(ms: int | None) -> datetime:
    """The `changed_at` of a change from its time in epoch ms (Debezium `ts_ms` or the Kafka record time).

    No time at all gives a fixed epoch: the row stays deterministic and the last insert wins.
    """
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms or 0)


def aspects_time(value: Any) -> str:
    """Aspects' text form of a time (`str()` of an aware datetime); '' for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return str(moment.astimezone(UTC))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return str(from_epoch(value))
        except (OverflowError, ValueError, OSError):
            return str(value)  # out of any calendar: keep it as the source wrote it
    text = str(value)
    try:
        return aspects_time(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text  # not a time we understand: keep it as the source wrote it


def dump_time(changed_at: datetime) -> str:
    """`time_last_dumped`: always with microseconds, as Aspects parses it (`%Y-%m-%d %H:%M:%S.%f+00:00`)."""
    moment = changed_at if changed_at.tzinfo else changed_at.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def dump_id(table: str, key: str, time_last_dumped: str) -> str:
    """A deterministic `dump_id`: the same change gives the same id on every send."""
    return str(uuid.uuid5(_NAMESPACE, f"{table}|{key}|{time_last_dumped}"))


def _dumped(table: str, key: str, changed_at: datetime) -> Row:
    when = dump_time(changed_at)
    return {"dump_id": dump_id(table, key, when), "time_last_dumped": when}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# -- statements -----------------------------------------------------------------------------------
def _epoch_text(value: Any, field: str) -> str:
    # Epoch seconds as text are read the same way whatever the server's time zone is.
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        # int() of the float timestamp is exact: with a non-zero microsecond the float is at least
        # 1 µs away from an integer, far more than its rounding error; with zero it is an integer.
        return f"{int(moment.timestamp())}.{moment.microsecond:06d}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value // 1_000_000}.{value % 1_000_000:06d}"  # Avro timestamp-micros without logical types
    raise RowError(f"invalid_field:{field}")


def statement_row(record: Mapping[str, Any]) -> Row:
    """An `xapi_events_all` row from an xAPI output record (the Avro decoder's dict)."""
    try:
        event_id, statement = record["event_id"], record["statement"]
        emission = record["emission_time"]
    except KeyError as exc:
        raise RowError(f"missing_field:{exc.args[0]}") from None
    return {"event_id": str(event_id), "emission_time": _epoch_text(emission, "emission_time"),
            "event": statement if isinstance(statement, str) else orjson.dumps(statement).decode()}


# -- courses and blocks ---------------------------------------------------------------------------
def course_parts(course_key: str) -> tuple[str, str, str]:
    """(org, course, run) of a course key (`course-v1:Org+Course+Run`, `ccx-v1:...`, or `Org/Course/Run`)."""
    body = course_key.split(":", 1)[1] if ":" in course_key else course_key
    parts = body.split("+") if "+" in body else body.split("/")
    parts = [p for p in parts if "@" not in p]  # drop ccx@N and the like
    return (parts + ["", "", ""])[0], (parts + ["", "", ""])[1], (parts + ["", "", ""])[2]


def course_overview_row(course_id: str, record: Mapping[str, Any], changed_at: datetime) -> Row:
    """A `course_overviews` row from our course record; the CDC row's extra columns are used when present."""
    org = record.get("org") or record.get("display_org_with_default") or course_parts(course_id)[0]
    data = {key: record.get(key) for key in ("advertised_start", "announcement", "lowest_passing_grade",
                                              "invitation_only", "max_student_enrollments_allowed", "effort",
                                              "enable_proctored_exams", "entrance_exam_enabled", "external_id",
                                              "language") if key in record}
    return {
        "org": _text(org), "course_key": course_id, "display_name": _text(record.get("display_name")),
        "course_start": aspects_time(record.get("start")), "course_end": aspects_time(record.get("end")),
        "enrollment_start": aspects_time(record.get("enrollment_start")),
        "enrollment_end": aspects_time(record.get("enrollment_end")),
        "self_paced": bool(record.get("self_paced") or False),
        "course_data_json": orjson.dumps(data).decode(),
        "created": aspects_time(record.get("created")),
        # Aspects reads `modified` as "last published"; without it, the change time stands in.
        "modified": aspects_time(record.get("modified")) or dump_time(changed_at),
        **_dumped("course_overviews", course_id, changed_at),
    }


def _block_sort_key(item: tuple[str, Mapping[str, Any]]) -> tuple[int, int, str]:
    usage_key, record = item
    order = record.get("order")
    explicit = order if isinstance(order, int) and not isinstance(order, bool) else 1 << 30
    return explicit, _DEPTH.get(str(record.get("block_type")), 4), usage_key


def course_block_rows(course_id: str, blocks: Mapping[str, Mapping[str, Any]], changed_at: datetime,
                      org: str | None = None) -> list[Row]:
    """The `course_blocks` rows of one course, numbered by the block order documented above."""
    ordered = sorted(blocks.items(), key=_block_sort_key)
    tree_known = bool(ordered) and all(isinstance(r.get("order"), int) for _, r in ordered)
    course_org, course, run = course_parts(course_id)
    section = subsection = unit = 0
    rows = []
    for index, (usage_key, record) in enumerate(ordered, start=1):
        block_type = _text(record.get("block_type")) or usage_key.split("type@", 1)[-1].split("+", 1)[0]
        detached = block_type in DETACHED_TYPES
        if tree_known and not detached:
            if block_type == "chapter":
                section, subsection, unit = section + 1, 0, 0
            elif block_type == "sequential":
                subsection, unit = subsection + 1, 0
            elif block_type == "vertical":
                unit += 1
        position = (section, subsection, unit) if tree_known and not detached else (0, 0, 0)
        data = {"course": course, "run": run, "block_type": block_type, "detached": int(detached),
                "graded": int(bool(record.get("graded"))), "completion_mode": _text(record.get("completion_mode")),
                "section": position[0], "subsection": position[1], "unit": position[2],
                "tags": record.get("tags") or {}}
        rows.append({
            "org": org or course_org, "course_key": course_id, "location": usage_key,
            "display_name": _text(record.get("display_name")), "xblock_data_json": orjson.dumps(data).decode(),
            "order": index, "edited_on": aspects_time(record.get("edited_on")) or dump_time(changed_at),
            **_dumped("course_blocks", usage_key, changed_at),
        })
    return rows


# -- users ----------------------------------------------------------------------------------------
def _user_id(user: User) -> int:
    """Aspects' integer user id (a CDC row with a non-numeric id cannot become a row)."""
    try:
        return int(user.id)
    except (TypeError, ValueError):
        raise RowError("invalid_field:user_id") from None


def user_profile_row(user: User, changed_at: datetime, profile: Mapping[str, Any] | None = None) -> Row:
    """A `user_profile` row. Our user record keeps no profile row id, so `id` is the user id (one
    profile per user); the other profile columns come from the CDC profile row when given."""
    profile = profile or {}
    user_id = _user_id(user)
    row: Row = {"id": user_id, "user_id": user_id, "name": _text(user.name or profile.get("name")),
                "username": user.username, "email": _text(user.email)}
    for key in PROFILE_FIELDS:
        value = profile.get(key)
        row[key] = aspects_time(value) if key == "profile_image_uploaded_at" else _text(value)
    row.update(_dumped("user_profile", str(user.id), changed_at))
    return row


def external_id_rows(user: User, changed_at: datetime) -> list[Row]:
    """One `external_id` row per external id of the user (type names as the LMS spells them)."""
    rows, user_id = [], _user_id(user)
    for id_type, value in sorted(user.external_ids.items()):
        try:
            external = str(uuid.UUID(str(value)))
        except ValueError:
            raise RowError(f"invalid_field:external_ids.{id_type}") from None
        rows.append({"external_user_id": external, "external_id_type": id_type, "username": user.username,
                     "user_id": user_id, **_dumped("external_id", f"{external}|{id_type}", changed_at)})
    return rows


# -- enrollments ----------------------------------------------------------------------------------
def course_enrollment_row(row: Mapping[str, Any], changed_at: datetime, username: str | None = None) -> Row:
    """A `course_enrollment` row from a `student_courseenrollment` CDC row (see `enrollments.py`)."""
    try:
        enrollment_id, user_id, course_key = int(row["id"]), int(row["user_id"]), str(row["course_id"])
    except KeyError as exc:
        raise RowError(f"missing_field:{exc.args[0]}") from None
    except (TypeError, ValueError):
        raise RowError("invalid_field:id") from None
    active = row.get("is_active")
    return {"id": enrollment_id, "course_key": course_key, "created": aspects_time(row.get("created")),
            "is_active": active is True or active == 1 or (isinstance(active, str) and active.lower() == "true"),
            "mode": _text(row.get("mode")), "username": _text(username or row.get("username")),
            "user_id": user_id, **_dumped("course_enrollment", str(enrollment_id), changed_at)}


def rows_by_course(blocks: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """Group (usage key, block record) pairs by their course key."""
    grouped: dict[str, dict[str, Mapping[str, Any]]] = {}
    for usage_key, record in blocks:
        course = record.get("course_id")
        if course:
            grouped.setdefault(str(course), {})[usage_key] = record
    return grouped
