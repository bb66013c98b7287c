"""`stream-app clickhouse dump` from a CDC seed file into a fresh embedded database: every object backfills,
a second dump sends only what changed, `--force` re-sends without double counting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from stream_app.cli.main import cli
from stream_app.sinks.clickhouse import ClickHouseSink
from tests.sinks.conftest import chdb_router

COURSE = "course-v1:edX+DemoX+Demo_Course"
BLOCK = "block-v1:edX+DemoX+Demo_Course+type@{}+block@{}"


def cdc(table: str, key: Any, after: dict[str, Any] | None, ts_ms: int, op: str = "r") -> dict[str, Any]:
    return {"topic": f"openedx.cdc.{table}", "key": {"id": key},
            "value": {"before": None if op != "d" else after, "after": None if op == "d" else after, "op": op,
                      "ts_ms": ts_ms}}


SEED = [
    cdc("external_user_ids_externalidtype", 1, {"id": 1, "name": "xapi"}, 1000),
    cdc("auth_user", 1, {"id": 1, "username": "ada", "email": "ada@example.org"}, 1000),
    cdc("auth_userprofile", 11, {"id": 11, "user_id": 1, "name": "Ada L", "country": "GB"}, 1000),
    cdc("external_user_ids_externalid", 3, {"id": 3, "user_id": 1, "external_id_type_id": 1,
                                            "external_user_id": "00000000-0000-4000-8000-000001000001"}, 1000),
    cdc("auth_user", 2, {"id": 2, "username": "bob", "email": "bob@example.org"}, 1000),  # no external id row
    cdc("auth_user", 3, {"id": 3, "username": "gone", "email": "gone@example.org"}, 1000),
    cdc("auth_user", 3, {"id": 3}, 1500, op="d"),  # deleted before the dump: never sent
    cdc("course_overviews_courseoverview", COURSE, {"id": COURSE, "display_name": "Demo", "org": "edX",
                                                    "start": 1704067200000, "self_paced": 1}, 1000),
    cdc("course_blocks", "c", {"location": BLOCK.format("course", "course"), "display_name": "Demo",
                               "block_type": "course", "course_key": COURSE}, 1000),
    cdc("course_blocks", "v", {"location": BLOCK.format("video", "v1"), "display_name": "Intro video",
                               "block_type": "video", "course_key": COURSE, "graded": False}, 1000),
    cdc("student_courseenrollment", 5, {"id": 5, "user_id": 1, "course_id": COURSE, "created": 1704067200000000,
                                        "is_active": True, "mode": "audit"}, 1000),
    cdc("student_courseenrollment", 6, {"id": 6, "user_id": 2, "course_id": COURSE, "created": 1704067200000000,
                                        "is_active": True, "mode": "verified"}, 1000),
]
OBJECTS = ("course_overviews", "course_blocks", "user_profile", "external_id", "course_enrollment")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    routers = tmp_path / "routers.yaml"
    routers.write_text(f"routers:\n  - name: aspects\n    type: clickhouse\n    url: chdb://{tmp_path / 'ch'}\n"
                       "    pii: true\n  - name: lrs\n    format: xapi\n    url: http://lrs.example.org/\n")
    seed = tmp_path / "seed.jsonl"
    write_seed(seed, SEED)
    return routers, seed, tmp_path / "ch"


def write_seed(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def run_dump(routers: Path, seed: Path, obj: str, *extra: str) -> Result:
    result = CliRunner().invoke(cli, ["clickhouse", "dump", "--object", obj, "--routers-file", str(routers),
                                      "--cdc", str(seed), *extra])
    assert result.exit_code == 0, result.output
    return result


def select(path: Path, obj: str, columns: str = "*", order: str = "1") -> list[dict[str, Any]]:
    sink = ClickHouseSink.open(chdb_router(path))
    try:
        return sink.query(f"SELECT {columns} FROM {sink.table(obj)} FINAL ORDER BY {order}")
    finally:
        sink.close()


def test_dump_backfills_a_fresh_database(setup: tuple[Path, Path, Path]) -> None:
    routers, seed, path = setup
    for obj in OBJECTS:
        run_dump(routers, seed, obj)
    (course,) = select(path, "course_overviews")
    assert (course["course_key"], course["display_name"], course["self_paced"]) == (COURSE, "Demo", True)
    assert course["course_start"] == "2024-01-01 00:00:00+00:00"
    assert course["time_last_dumped"] == "1970-01-01 00:00:01.000000+00:00"  # the change's ts_ms, not the clock
    blocks = select(path, "course_blocks", "location, display_name, order", "order")
    assert [(b["display_name"], b["order"]) for b in blocks] == [("Demo", 1), ("Intro video", 2)]
    profiles = select(path, "user_profile", "user_id, username, name, country", "user_id")
    assert profiles == [{"user_id": 1, "username": "ada", "name": "Ada L", "country": "GB"},
                        {"user_id": 2, "username": "bob", "name": "", "country": ""}]
    ids = select(path, "external_id", "user_id, external_id_type, toString(external_user_id) AS x", "user_id, 2")
    assert ("00000000-0000-4000-8000-000001000001" in {i["x"] for i in ids})
    # bob has no external-id rows: he gets the generated ids his statements carry.
    assert sorted((i["user_id"], i["external_id_type"]) for i in ids) == [(1, "caliper"), (1, "xapi"),
                                                                         (2, "caliper"), (2, "xapi")]
    enrollments = select(path, "course_enrollment", "id, user_id, username, mode", "id")
    assert enrollments == [{"id": 5, "user_id": 1, "username": "ada", "mode": "audit"},
                           {"id": 6, "user_id": 2, "username": "bob", "mode": "verified"}]


def test_dump_sends_only_changes_unless_forced(setup: tuple[Path, Path, Path]) -> None:
    routers, seed, path = setup
    first = run_dump(routers, seed, "user_profile")
    assert "records: 2; rows sent: 2; unchanged: 0" in first.stderr
    again = run_dump(routers, seed, "user_profile")
    assert "records: 2; rows sent: 0; unchanged: 2" in again.stderr
    write_seed(seed, [*SEED, cdc("auth_userprofile", 11, {"id": 11, "user_id": 1, "name": "Ada Lovelace"}, 2000)])
    changed = run_dump(routers, seed, "user_profile")
    assert "records: 2; rows sent: 1; unchanged: 1" in changed.stderr
    forced = run_dump(routers, seed, "user_profile", "--force", "--batch-size", "1")
    assert "records: 2; rows sent: 2; unchanged: 0" in forced.stderr
    rows = select(path, "user_profile", "user_id, name, time_last_dumped", "user_id, time_last_dumped")
    # Aspects keeps a row per change and reads the latest; the forced re-send added nothing.
    assert [(r["user_id"], r["name"]) for r in rows] == [(1, "Ada L"), (1, "Ada Lovelace"), (2, "")]


def test_personal_data_needs_pii_on_the_router(setup: tuple[Path, Path, Path]) -> None:
    routers, seed, _ = setup
    routers.write_text(routers.read_text().replace("    pii: true\n", ""))
    result = CliRunner().invoke(cli, ["clickhouse", "dump", "--object", "external_id", "--routers-file",
                                      str(routers), "--cdc", str(seed)])
    assert result.exit_code != 0 and "does not send external_id: add it to 'objects' and 'pii: true'" in result.output


def test_retire_command_erases_personal_data(setup: tuple[Path, Path, Path]) -> None:
    routers, seed, path = setup
    for obj in ("user_profile", "external_id", "course_enrollment"):
        run_dump(routers, seed, obj)
    result = CliRunner().invoke(cli, ["clickhouse", "retire", "1", "--routers-file", str(routers)])
    assert result.exit_code == 0, result.output
    assert [r["user_id"] for r in select(path, "user_profile", "user_id")] == [2]
    assert {r["user_id"] for r in select(path, "external_id", "user_id")} == {2}
    assert select(path, "course_enrollment", "id, username", "id") == [{"id": 5, "username": ""},
                                                                     {"id": 6, "username": "bob"}]
