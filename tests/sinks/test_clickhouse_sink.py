"""The Aspects-compatible ClickHouse sink on embedded chDB: rows land in Aspects' columns, re-sends collapse,
retirement erases personal data, and an incompatible existing table stops start-up with a clear message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from stream_app.sinks.clickhouse import (
    ClickHouseSink,
    ObjectNotEnabled,
    SchemaError,
    course_block_rows,
    course_enrollment_row,
    course_overview_row,
    external_id_rows,
    statement_row,
    user_profile_row,
)
from stream_app.sinks.clickhouse.enrollments import decode_enrollment
from stream_app.transforms.dimensions import User
from tests.sinks.conftest import chdb_router

CHANGED = datetime(2024, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
COURSE = "course-v1:edX+DemoX+Demo_Course"
USER = User(id=7, username="learner7", email="l7@example.org", name="Learner Seven",
            external_ids={"xapi": "00000000-0000-4000-8000-000007000001",
                          "caliper": "00000000-0000-4000-8000-000007000002"})


def xapi_record(n: int) -> dict[str, object]:
    """An xAPI output record as the Avro decoder yields it (timestamp-micros as an aware datetime)."""
    statement = {"id": f"00000000-0000-5000-8000-{n:012d}", "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"}}
    return {"event_id": statement["id"], "verb_id": statement["verb"]["id"], "actor_id": "a", "object_id": "o",
            "course_id": COURSE, "org": "edX", "emission_time": datetime(2024, 1, 2, 3, 4, 5, n, tzinfo=UTC),
            "event_name": "problem_check", "statement": orjson.dumps(statement).decode()}


def count(sink: ClickHouseSink, object_name: str, final: bool = True, where: str = "1") -> int:
    rows = sink.query(f"SELECT count() AS n FROM {sink.table(object_name)} {'FINAL' if final else ''} WHERE {where}")
    return int(rows[0]["n"])


def test_statements_land_in_xapi_events_all_and_resends_collapse(sink: ClickHouseSink) -> None:
    rows = [statement_row(xapi_record(n)) for n in range(3)]
    sink.insert("statements", rows)
    sink.insert("statements", rows[:2])  # a retry re-sends part of the batch
    got = sink.query(f"SELECT toString(event_id) AS id, toString(emission_time) AS t, event "
                     f"FROM {sink.table('statements')} FINAL ORDER BY t")
    assert sink.table("statements") == "`xapi`.`xapi_events_all`"
    assert [r["id"] for r in got] == [f"00000000-0000-5000-8000-{n:012d}" for n in range(3)]
    assert got[1]["t"] == "2024-01-02 03:04:05.000001"
    assert orjson.loads(got[0]["event"])["verb"]["id"] == "http://adlnet.gov/expapi/verbs/attempted"
    assert count(sink, "statements", final=False) == 5 and count(sink, "statements") == 3


def test_course_overview_and_blocks_rows(sink: ClickHouseSink) -> None:
    course = {"display_name": "Demonstration Course", "org": "edX", "start": 1704067200000, "self_paced": True}
    blocks = {
        "block-v1:edX+DemoX+Demo_Course+type@problem+block@p1": {"display_name": "P1", "block_type": "problem",
                                                                 "course_id": COURSE, "graded": True},
        "block-v1:edX+DemoX+Demo_Course+type@chapter+block@c1": {"display_name": "Week 1", "block_type": "chapter",
                                                                 "course_id": COURSE, "graded": False},
        "block-v1:edX+DemoX+Demo_Course+type@course+block@course": {"display_name": "Demo", "block_type": "course",
                                                                    "course_id": COURSE},
    }
    for _ in range(2):  # the same change sent twice
        sink.insert("course_overviews", [course_overview_row(COURSE, course, CHANGED)])
        sink.insert("course_blocks", course_block_rows(COURSE, blocks, CHANGED))
    (overview,) = sink.query(f"SELECT * FROM {sink.table('course_overviews')} FINAL")
    assert overview["course_key"] == COURSE and overview["org"] == "edX" and overview["self_paced"] is True
    assert overview["display_name"] == "Demonstration Course"
    assert overview["course_start"] == "2024-01-01 00:00:00+00:00"
    assert overview["time_last_dumped"] == "2024-03-01 12:00:00.250000+00:00"
    got = sink.query(f"SELECT location, display_name, order, xblock_data_json FROM {sink.table('course_blocks')} "
                     "FINAL ORDER BY order")
    assert [(r["display_name"], r["order"]) for r in got] == [("Demo", 1), ("Week 1", 2), ("P1", 3)]
    data = orjson.loads(got[2]["xblock_data_json"])
    assert data["block_type"] == "problem" and data["graded"] == 1 and data["course"] == "DemoX"
    assert data["run"] == "Demo_Course" and data["section"] == 0  # no tree order in our block records


def test_block_order_from_explicit_positions_numbers_sections_like_aspects() -> None:
    blocks = {f"b{i}": {"block_type": t, "order": i, "course_id": COURSE}
              for i, t in enumerate(["course", "chapter", "sequential", "vertical", "problem", "vertical",
                                     "chapter", "sequential", "about"])}
    rows = course_block_rows(COURSE, blocks, CHANGED)
    numbers = [(r["location"], orjson.loads(r["xblock_data_json"])) for r in rows]
    positions = [(loc, d["section"], d["subsection"], d["unit"]) for loc, d in numbers]
    assert positions == [("b0", 0, 0, 0), ("b1", 1, 0, 0), ("b2", 1, 1, 0), ("b3", 1, 1, 1), ("b4", 1, 1, 1),
                         ("b5", 1, 1, 2), ("b6", 2, 0, 0), ("b7", 2, 1, 0), ("b8", 0, 0, 0)]  # detached: 0


def test_users_and_enrollments_land_and_resends_collapse(sink: ClickHouseSink) -> None:
    enrollment = decode_enrollment({"id": 31}, {"before": None, "after": {
        "id": 31, "user_id": 7, "course_id": COURSE, "created": 1709294400000000, "is_active": 1,
        "mode": "audit"}, "op": "c", "ts_ms": 1709294400123})
    assert enrollment is not None and enrollment.row is not None
    for _ in range(2):
        sink.insert("user_profile", [user_profile_row(USER, CHANGED, {"country": "FR", "year_of_birth": 1990})])
        sink.insert("external_id", external_id_rows(USER, CHANGED))
        sink.insert("course_enrollment", [course_enrollment_row(enrollment.row, CHANGED, USER.username)])
    (profile,) = sink.query(f"SELECT * FROM {sink.table('user_profile')} FINAL")
    assert (profile["user_id"], profile["username"], profile["email"], profile["name"]) == (
        7, "learner7", "l7@example.org", "Learner Seven")
    assert profile["country"] == "FR" and profile["year_of_birth"] == "1990" and profile["gender"] == ""
    ids = sink.query(f"SELECT toString(external_user_id) AS x, external_id_type AS t FROM {sink.table('external_id')} "
                     "FINAL ORDER BY t")
    assert [(r["t"], r["x"]) for r in ids] == [("caliper", USER.external_ids["caliper"]),
                                              ("xapi", USER.external_ids["xapi"])]
    (enrolled,) = sink.query(f"SELECT * FROM {sink.table('course_enrollment')} FINAL")
    assert (enrolled["id"], enrolled["course_key"], enrolled["is_active"], enrolled["mode"]) == (
        31, COURSE, True, "audit")
    assert enrolled["username"] == "learner7" and enrolled["created"] == "2024-03-01 12:00:00+00:00"
    assert count(sink, "external_id", final=False) == 4 and count(sink, "external_id") == 2


def test_retired_user_personal_data_is_gone(sink: ClickHouseSink) -> None:
    other = User(id=8, username="learner8", external_ids={"xapi": "00000000-0000-4000-8000-000008000001"})
    enrollment = {"id": 1, "user_id": 7, "course_id": COURSE, "is_active": True, "mode": "verified"}
    for user in (USER, other):
        sink.insert("user_profile", [user_profile_row(user, CHANGED)])
        sink.insert("external_id", external_id_rows(user, CHANGED))
    sink.insert("course_enrollment", [course_enrollment_row(enrollment, CHANGED, "learner7")])
    sink.retire_user(7)
    assert count(sink, "user_profile", where="user_id = 7") == 0
    assert count(sink, "external_id", where="user_id = 7") == 0
    assert count(sink, "user_profile", where="user_id = 8") == 1 and count(sink, "external_id") == 1
    (enrolled,) = sink.query(f"SELECT username, mode FROM {sink.table('course_enrollment')} FINAL")
    assert enrolled == {"username": "", "mode": "verified"}  # the enrollment stays, nameless


def test_schema_creation_is_idempotent(tmp_path: Path) -> None:
    router = chdb_router(tmp_path / "ch")
    first = ClickHouseSink.open(router)
    first.insert("statements", [statement_row(xapi_record(1))])
    first.close()
    reopened = ClickHouseSink.open(router)  # CREATE ... IF NOT EXISTS and the check pass on our own tables
    try:
        assert count(reopened, "statements") == 1
    finally:
        reopened.close()


def test_incompatible_existing_table_names_table_and_column(tmp_path: Path) -> None:
    path = tmp_path / "ch"
    sink = ClickHouseSink.open(chdb_router(path, objects=("statements",), pii=False))
    sink.client.command("DROP TABLE event_sink.external_id")
    sink.client.command("CREATE TABLE event_sink.external_id (external_user_id String, external_id_type String, "
                        "username String, user_id Int32, dump_id UUID, time_last_dumped String) "
                        "ENGINE = MergeTree ORDER BY external_user_id")
    sink.close()
    with pytest.raises(SchemaError) as info:
        ClickHouseSink.open(chdb_router(path, objects=("statements",), pii=False))
    assert "event_sink.external_id" in str(info.value) and "'external_user_id' has type String" in str(info.value)


def test_personal_data_needs_pii(tmp_path: Path) -> None:
    sink = ClickHouseSink.open(chdb_router(tmp_path / "ch", objects=("statements",), pii=False))
    try:
        with pytest.raises(ObjectNotEnabled, match="'pii: true'"):
            sink.insert("user_profile", [user_profile_row(USER, CHANGED)])
    finally:
        sink.close()


def test_statement_times_are_exact_whatever_form_the_decoder_gives() -> None:
    aware = xapi_record(999_999)
    naive = dict(aware, emission_time=datetime(2024, 1, 2, 3, 4, 5, 999_999))  # taken as UTC
    micros = dict(aware, emission_time=1_704_164_645_999_999)  # timestamp-micros read without logical types
    assert {statement_row(r)["emission_time"] for r in (aware, naive, micros)} == {"1704164645.999999"}
    with pytest.raises(ValueError, match="missing_field:statement"):
        statement_row({k: v for k, v in aware.items() if k != "statement"})


def test_an_unreachable_server_is_a_clickhouse_error_the_agents_retry() -> None:
    # The real clickhouse-connect client against a port nobody listens on (no server installs here).
    from stream_app.devstack.processes import free_port
    from stream_app.sinks.clickhouse import ClickHouseError
    from stream_app.sinks.clickhouse.client import open_client

    with pytest.raises(ClickHouseError, match="cannot connect to http://127.0.0.1"):
        open_client(f"http://127.0.0.1:{free_port()}", timeout=2.0)


def test_personal_data_rows_from_hostile_cdc_values_are_row_errors_or_kept_as_written() -> None:
    from stream_app.sinks.clickhouse import RowError

    # A non-numeric user id cannot become Aspects' integer column: a RowError, which the agents dead-letter.
    with pytest.raises(RowError, match="invalid_field:user_id"):
        user_profile_row(User(id="not-a-number", username="x"), CHANGED, {})
    with pytest.raises(RowError, match="invalid_field:user_id"):
        external_id_rows(User(id="not-a-number", username="x", external_ids=USER.external_ids), CHANGED)
    # A time beyond any calendar is kept as written rather than raising.
    row = user_profile_row(USER, CHANGED, {"profile_image_uploaded_at": 10**30})
    assert row["profile_image_uploaded_at"] == str(10**30)
