"""Debezium MySQL records (tests/debezium.py) in every encoding decode to what the same rows as JSON seeds give.

The expected side is our seed form written by hand (dashed UUIDs, ISO times,
booleans, numbers); the Debezium side comes from the connector builder, which
knows only Debezium's formats and edx-platform's column types.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from stream_app.errors import TransformError
from stream_app.sinks.clickhouse import course_enrollment_row, course_overview_row
from stream_app.tables.cdc import decode
from stream_app.tables.columns import COLUMNS as DECLARED
from stream_app.tables.debezium import decode_value
from stream_app.tables.dimensions import table_of
from stream_app.tables.memory import MemoryLookup
from tests.debezium import COLUMNS, Connector, unscaled_bytes

COURSE = "course-v1:edX+DemoX+Demo_Course"
XAPI_ID = uuid.UUID("32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb")
CALIPER_ID = uuid.UUID("6f1b0d2e-7c1a-4b59-9a35-1f4f8d9c0e21")
JOINED = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)  # ms precision: every time mode keeps it
START = datetime(2024, 2, 1, tzinfo=UTC)
END = datetime(2024, 6, 30, 23, 59, 59, 500000, tzinfo=UTC)

# The database, as Python values of edx-platform's columns.
ROWS: list[tuple[str, dict[str, Any]]] = [
    ("external_user_ids_externalidtype", {"id": 1, "created": JOINED, "modified": JOINED, "name": "xapi",
                                          "description": "xAPI"}),
    ("external_user_ids_externalidtype", {"id": 2, "created": JOINED, "modified": JOINED, "name": "caliper",
                                          "description": "Caliper"}),
    ("auth_user", {"id": 3, "password": "pbkdf2_sha256$x", "last_login": None, "is_superuser": False,
                   "username": "user3", "first_name": "", "last_name": "", "email": "edx@example.com",
                   "is_staff": False, "is_active": True, "date_joined": JOINED}),
    ("auth_userprofile", {"id": 30, "user_id": 3, "name": "Ed X", "meta": "", "courseware": "course.xml",
                          "language": "", "location": "", "year_of_birth": 1990, "gender": "f",
                          "level_of_education": "m", "mailing_address": None, "city": "Paris", "country": "FR",
                          "goals": None, "allow_certificate": True, "bio": None,
                          "profile_image_uploaded_at": JOINED, "phone_number": None, "state": None}),
    ("external_user_ids_externalid", {"id": 5, "created": JOINED, "modified": JOINED, "external_user_id": XAPI_ID,
                                      "external_id_type_id": 1, "user_id": 3}),
    ("external_user_ids_externalid", {"id": 6, "created": JOINED, "modified": JOINED,
                                      "external_user_id": CALIPER_ID, "external_id_type_id": 2, "user_id": 3}),
    ("course_overviews_courseoverview", {
        "created": JOINED, "modified": JOINED, "version": 19, "id": COURSE,
        "_location": "block-v1:edX+DemoX+Demo_Course+type@course+block@course", "display_name": "Demonstration Course",
        "display_number_with_default": "DemoX", "display_org_with_default": "edX", "start": START, "end": END,
        "advertised_start": None, "lowest_passing_grade": Decimal("0.50"), "days_early_for_beta": None,
        "mobile_available": True, "invitation_only": False, "enrollment_start": None, "enrollment_end": None,
        "max_student_enrollments_allowed": None, "announcement": None, "effort": "2h", "org": "edX",
        "self_paced": True, "language": "en", "entrance_exam_enabled": False, "enable_proctored_exams": False,
        "external_id": None}),
    ("student_courseenrollment", {"id": 11, "course_id": COURSE, "created": JOINED, "is_active": True,
                                  "mode": "audit", "user_id": 3}),
    ("teams_courseteam", {"id": 1, "team_id": "team-a", "name": "A", "course_id": COURSE, "topic_id": "topic-1",
                          "date_created": JOINED, "description": "", "country": "", "language": "",
                          "discussion_topic_id": "d1", "last_activity_at": JOINED, "team_size": 2,
                          "organization_protected": False}),
]
JOINED_TEXT = "2024-01-02T03:04:05.678000+00:00"
# The same database as a JSON seed would write it (our seed form).
SEED_FORM: dict[str, dict[str, Any]] = {
    "auth_user": {"id": 3, "password": "pbkdf2_sha256$x", "last_login": None, "is_superuser": False,
                  "username": "user3", "first_name": "", "last_name": "", "email": "edx@example.com",
                  "is_staff": False, "is_active": True, "date_joined": JOINED_TEXT},
    "course_overviews_courseoverview": {
        "created": JOINED_TEXT, "modified": JOINED_TEXT, "version": 19, "id": COURSE,
        "_location": "block-v1:edX+DemoX+Demo_Course+type@course+block@course", "display_name": "Demonstration Course",
        "display_number_with_default": "DemoX", "display_org_with_default": "edX",
        "start": "2024-02-01T00:00:00+00:00", "end": "2024-06-30T23:59:59.500000+00:00", "advertised_start": None,
        "lowest_passing_grade": 0.5, "days_early_for_beta": None, "mobile_available": True,
        "invitation_only": False, "enrollment_start": None, "enrollment_end": None,
        "max_student_enrollments_allowed": None, "announcement": None, "effort": "2h", "org": "edX",
        "self_paced": True, "language": "en", "entrance_exam_enabled": False, "enable_proctored_exams": False,
        "external_id": None},
    "student_courseenrollment": {"id": 11, "course_id": COURSE, "created": JOINED_TEXT, "is_active": True,
                                 "mode": "audit", "user_id": 3},
}
CONFIGS = [
    pytest.param(Connector(schemas=s, flatten=f, time_mode=t, decimal_mode=d, tinyint_boolean=b),
                 id=f"schemas={s}-flatten={f}-{t}-{d}-tinyint_boolean={b}")
    for s, f, t, d, b in itertools.product((False, True), (False, True), ("adaptive_time_microseconds", "connect"),
                                           ("precise", "double", "string"), (False, True))
]


def seed_lookup() -> MemoryLookup:
    """The database as JSON seeds (our format: dashed UUIDs, flags as booleans)."""
    lookup = MemoryLookup(namespace=None)
    records = [
        ("external_user_ids_externalidtype", {"id": 1, "name": "xapi", "description": "xAPI"}),
        ("external_user_ids_externalidtype", {"id": 2, "name": "caliper", "description": "Caliper"}),
        ("auth_user", {"id": 3, "username": "user3", "email": "edx@example.com", "is_active": True}),
        ("auth_userprofile", {"id": 30, "user_id": 3, "name": "Ed X", "courseware": "course.xml",
                              "year_of_birth": 1990, "gender": "f", "level_of_education": "m", "city": "Paris",
                              "country": "FR", "profile_image_uploaded_at": JOINED_TEXT}),
        ("external_user_ids_externalid", {"id": 5, "external_user_id": str(XAPI_ID), "external_id_type_id": 1,
                                          "user_id": 3}),
        ("external_user_ids_externalid", {"id": 6, "external_user_id": str(CALIPER_ID), "external_id_type_id": 2,
                                          "user_id": 3}),
        ("course_overviews_courseoverview", {"id": COURSE, "display_name": "Demonstration Course", "org": "edX"}),
        ("teams_courseteam", {"id": 1, "team_id": "team-a", "course_id": COURSE, "topic_id": "topic-1"}),
    ]
    for table, row in records:
        lookup.apply(f"openedx.cdc.{table}", {"id": row["id"]}, {"before": None, "after": row, "op": "r"})
    return lookup


def debezium_lookup(connector: Connector) -> MemoryLookup:
    lookup = MemoryLookup(namespace=None)
    for record in connector.snapshot(ROWS):
        if table_of(record["topic"]) != "student_courseenrollment":  # read by the ClickHouse sink only
            lookup.apply(record["topic"], record["key"], record["value"])
    return lookup


@pytest.mark.parametrize("connector", CONFIGS)
def test_every_encoding_stores_what_the_json_seed_stores(connector: Connector) -> None:
    got, want = debezium_lookup(connector), seed_lookup()
    assert got.stores == want.stores
    user = got.user(3)
    assert user is not None and user == want.user(3)
    # Django's UUIDField form, as ERB's actor.account.name: dashed, lower case.
    assert user.external_ids == {"xapi": str(XAPI_ID), "caliper": str(CALIPER_ID)}
    assert got.course(COURSE) == want.course(COURSE) and got.team("team-a") == want.team("team-a")


@pytest.mark.parametrize("connector", CONFIGS)
def test_every_encoding_decodes_rows_to_the_seed_form(connector: Connector) -> None:
    records = {table_of(r["topic"]): r for r in connector.snapshot(ROWS)}
    changed = datetime(2024, 3, 1, tzinfo=UTC)
    for table, seed_row in SEED_FORM.items():
        record = records[table]
        change = decode(record["key"], record["value"], table)
        assert change is not None and change.op == "upsert"
        row = {k: v for k, v in (change.row or {}).items() if not k.startswith("__")}
        assert row == seed_row, table
    # And the ClickHouse rows built from them are those of the seed rows.
    course = decode(records["course_overviews_courseoverview"]["key"],
                    records["course_overviews_courseoverview"]["value"], "course_overviews_courseoverview")
    assert course is not None and course.row is not None
    assert course_overview_row(COURSE, course.row, changed) == course_overview_row(
        COURSE, SEED_FORM["course_overviews_courseoverview"], changed)
    assert course_overview_row(COURSE, course.row, changed)["course_start"] == "2024-02-01 00:00:00+00:00"
    enrollment = decode(records["student_courseenrollment"]["key"], records["student_courseenrollment"]["value"],
                        "student_courseenrollment")
    assert enrollment is not None and enrollment.row is not None
    row = course_enrollment_row(enrollment.row, changed)
    assert row == course_enrollment_row(SEED_FORM["student_courseenrollment"], changed)
    assert row["is_active"] is True and row["created"] == "2024-01-02 03:04:05.678000+00:00"


def test_microseconds_survive_microtimestamp() -> None:
    connector = Connector(schemas=True)
    moment = datetime(2020, 7, 15, 6, 46, 41, 543562, tzinfo=UTC)
    (record,) = connector.create("auth_user", {**ROWS[2][1], "date_joined": moment})
    value = record["value"]
    assert value["payload"]["after"]["date_joined"] == 1594795601543562
    joined = [f for f in value["schema"]["fields"][1]["fields"] if f["field"] == "date_joined"]
    assert joined[0]["name"] == "io.debezium.time.MicroTimestamp"
    change = decode(record["key"], value, "auth_user")
    assert change is not None and change.row is not None
    assert change.row["date_joined"] == "2020-07-15T06:46:41.543562+00:00"
    # Without a schema the declared column type and the value's magnitude say the same.
    assert decode_value("auth_user", "date_joined", 1594795601543562) == "2020-07-15T06:46:41.543562+00:00"
    assert decode_value("auth_user", "date_joined", 1594795601543) == "2020-07-15T06:46:41.543000+00:00"


@pytest.mark.parametrize(("name", "value", "want"), [
    ("io.debezium.time.Timestamp", 1594795601543, "2020-07-15T06:46:41.543000+00:00"),
    ("org.apache.kafka.connect.data.Timestamp", 1594795601543, "2020-07-15T06:46:41.543000+00:00"),
    ("io.debezium.time.NanoTimestamp", 1594795601543562001, "2020-07-15T06:46:41.543562+00:00"),
    ("io.debezium.time.ZonedTimestamp", "2020-07-15T06:46:41.543562Z", "2020-07-15T06:46:41.543562+00:00"),
    ("io.debezium.time.ZonedTimestamp", "2020-07-15T08:46:41+02:00", "2020-07-15T06:46:41+00:00"),
    ("io.debezium.time.Date", 18458, "2020-07-15"),
    ("org.apache.kafka.connect.data.Date", 18458, "2020-07-15"),
])
def test_time_semantic_types(name: str, value: Any, want: str) -> None:
    # A column we declare nothing for: the schema alone decides.
    assert decode_value("teams_courseteam", "anything", value, {"type": "int64", "name": name}) == want


@pytest.mark.parametrize("amount", ["0.50", "-1.25", "0.00", "999.99", "-999.99", "0.01", "1.28", "-1.28"])
def test_decimal_in_every_handling_mode(amount: str) -> None:
    want = float(Decimal(amount))
    encoded = base64.b64encode(unscaled_bytes(Decimal(amount), 2)).decode()
    schema = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
              "parameters": {"scale": "2", "connect.decimal.precision": "5"}}
    table, column = "course_overviews_courseoverview", "lowest_passing_grade"
    assert decode_value(table, column, encoded, schema) == want  # precise, with schema
    assert decode_value(table, column, encoded) == want  # precise, no schema: the declared scale
    assert decode_value(table, column, amount) == want  # string
    assert decode_value(table, column, amount, {"type": "string"}) == want
    assert decode_value(table, column, float(amount)) == want  # double
    assert decode_value(table, column, float(amount), {"type": "double"}) == want


def test_decimal_scale_comes_from_the_schema_when_present() -> None:
    encoded = base64.b64encode(unscaled_bytes(Decimal("1.234"), 3)).decode()
    schema = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}}
    assert decode_value("course_overviews_courseoverview", "lowest_passing_grade", encoded, schema) == 1.234


@pytest.mark.parametrize("value", [0, 1, True, False, "true", "false"])
def test_tinyint_one_flags(value: Any) -> None:
    want = value in (1, True, "true")
    assert decode_value("student_courseenrollment", "is_active", value) is want
    assert decode_value("student_courseenrollment", "is_active", value, {"type": "int16"}) is want


@pytest.mark.parametrize("text", ["32e08e30f8ae4ce294a8c2bfe38a70cb", "32E08E30F8AE4CE294A8C2BFE38A70CB",
                                  "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"])
def test_char32_uuid_takes_djangos_form(text: str) -> None:
    got = decode_value("external_user_ids_externalid", "external_user_id", text, {"type": "string"})
    assert got == "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"


@pytest.mark.parametrize(("table", "column", "value"), [
    ("student_courseenrollment", "is_active", 2),
    ("student_courseenrollment", "created", "soon"),
    ("student_courseenrollment", "created", True),
    ("course_overviews_courseoverview", "lowest_passing_grade", "!!not base64"),
    ("course_overviews_courseoverview", "lowest_passing_grade", "1.2.3"),
])
def test_undecodable_values_are_clear_errors(table: str, column: str, value: Any) -> None:
    with pytest.raises(TransformError) as info:
        decode_value(table, column, value)
    assert info.value.reason == f"invalid_cdc:invalid_value:{column}"


def test_a_bad_value_rejects_its_record_with_the_column_named() -> None:
    record = {"before": None, "after": {"id": 1, "user_id": 3, "course_id": COURSE, "is_active": 7}, "op": "c"}
    with pytest.raises(TransformError) as info:
        decode({"id": 1}, record, "student_courseenrollment")
    assert info.value.reason == "invalid_cdc:invalid_value:is_active"


def test_builder_and_declarations_agree_on_edx_platforms_types() -> None:
    # Every column the decoder declares is one the builder knows with the matching MySQL type.
    kinds = {"uuid": "char(32)", "datetime": "datetime(6)", "bool": "tinyint(1)", "decimal": "decimal(5,2)"}
    for table, columns in DECLARED.items():
        for name, declared in columns.items():
            mysql = COLUMNS[table].get(name)
            if mysql is not None:
                assert mysql.rstrip("?") == kinds[declared.kind], (table, name)
    # And every builder column with such a type is declared.
    for table, columns in COLUMNS.items():
        for name, mysql in columns.items():
            if mysql.rstrip("?") in kinds.values():
                assert name in DECLARED[table], (table, name)
