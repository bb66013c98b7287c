"""ERB's fixture database as edx-platform rows, for feeding through the Debezium builder (tests/debezium.py).

The users, external ids and courses are those of `erb/seed.jsonl` (ERB's test
fixtures); here they become full rows of edx-platform's tables with Python
values (`uuid.UUID` external ids, `datetime` times, flags, a `Decimal` grade),
so the builder encodes them as the MySQL connector would (char(32) UUIDs, µs
times, 0/1 flags, base64 DECIMALs) rather than in our seed format.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from stream_app.tables.dimensions import table_of
from tests.golden.harness import ERB_DIR

CREATED = datetime(2023, 4, 5, 6, 7, 8, 901234, tzinfo=UTC)


def _row(table: str, after: dict[str, Any]) -> dict[str, Any]:
    stamps = {"created": CREATED, "modified": CREATED}
    if table == "auth_user":
        return {"id": after["id"], "username": after["username"], "email": after["email"], "first_name": "",
                "last_name": "", "is_active": True, "is_staff": False, "is_superuser": False,
                "date_joined": CREATED, "last_login": None}
    if table == "external_user_ids_externalid":
        return {"id": after["id"], **stamps, "external_user_id": uuid.UUID(after["external_user_id"]),
                "external_id_type_id": after["external_id_type_id"], "user_id": after["user_id"]}
    if table == "external_user_ids_externalidtype":
        return {"id": after["id"], **stamps, "name": after["name"], "description": after.get("description", "")}
    if table == "course_overviews_courseoverview":
        course = after["id"]
        return {"id": course, **stamps, "version": 19, "_location": f"{course}+type@course+block@course",
                "display_name": after["display_name"], "display_number_with_default": course.split("+")[1],
                "display_org_with_default": after["org"], "org": after["org"], "start": CREATED, "end": None,
                "lowest_passing_grade": Decimal("0.50"), "self_paced": False, "mobile_available": True,
                "invitation_only": False, "entrance_exam_enabled": False, "enable_proctored_exams": False}
    raise AssertionError(f"ERB's seed has no table {table}")


def erb_database() -> list[tuple[str, dict[str, Any]]]:
    """(table, row) of every row of ERB's fixture database, in the seed's order."""
    rows = []
    for line in (ERB_DIR / "seed.jsonl").read_bytes().splitlines():
        if line.strip():
            record = orjson.loads(line)
            table = table_of(record["topic"])
            rows.append((table, _row(table, record["value"]["after"])))
    return rows
