"""Read-only queries on the sink (the worker's query view and `stream-app clickhouse query` share them), and the
one-line message when another process holds an embedded chDB directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stream_app.sinks.clickhouse import ClickHouseError, ClickHouseSink, open_client
from stream_app.sinks.clickhouse.client import held_by
from stream_app.sinks.clickhouse.readonly import MAX_ROWS, QueryRefused, bounded_select, run_select

HOLD = """
import sys, chdb.session as s
session = s.Session(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
session.close()
"""


@pytest.mark.parametrize("sql", [
    "DROP TABLE xapi.xapi_events_all",
    "INSERT INTO xapi.xapi_events_all SELECT * FROM xapi.xapi_events_all",
    "ALTER TABLE event_sink.user_profile DELETE WHERE 1",
    "SELECT 1; DROP TABLE xapi.xapi_events_all",
    "SELECT 1;;",
    "  ",
    "OPTIMIZE TABLE xapi.xapi_events_all FINAL",
    "SYSTEM SHUTDOWN",
    "-- SELECT\nDROP TABLE x",
])
def test_anything_but_one_select_is_refused_before_clickhouse_sees_it(sql: str) -> None:
    with pytest.raises(QueryRefused):
        bounded_select(sql)


def test_row_bounds() -> None:
    for limit in (0, MAX_ROWS + 1):
        with pytest.raises(QueryRefused):
            bounded_select("SELECT 1", limit)


def test_selects_run_bounded_and_read_only(sink: ClickHouseSink) -> None:
    table = sink.table("statements")
    rows = [{"event_id": f"00000000-0000-4000-8000-{i:012d}", "emission_time": "2026-01-01 00:00:00.000000",
             "event": "{}"} for i in range(5)]
    sink.insert("statements", rows)
    count = run_select(sink.query, f"SELECT count() AS n FROM {table} FINAL;")
    assert count.rows == [{"n": 5}] and not count.truncated  # a number, not ClickHouse's quoted UInt64
    first = run_select(sink.query, f"-- the first rows\nWITH 1 AS one SELECT event_id FROM {table} ORDER BY event_id "
                                   "-- trailing comment", limit=3)
    assert [r["event_id"][-1] for r in first.rows] == ["0", "1", "2"] and first.truncated
    assert first.as_dict()["count"] == 3
    # A SELECT that writes (a table function) is refused by ClickHouse's readonly mode.
    with pytest.raises(ClickHouseError, match="readonly"):
        run_select(sink.query, "SELECT * FROM url('http://127.0.0.1:9/', CSV, 'a String')")
    assert run_select(sink.query, f"SELECT count() AS n FROM {table}").rows == [{"n": 5}]


def test_a_directory_held_by_another_process_is_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "ch"
    assert held_by(str(path)) is None
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert held_by(str(path)) == holder.pid
        with pytest.raises(ClickHouseError) as info:
            open_client(f"chdb://{path}")
        message = str(info.value)
        assert f"chDB at {path} is in use by another process (pid {holder.pid}" in message
        assert "stream-app clickhouse query --worker" in message and "\n" not in message
        assert "EmbeddedServer" not in message
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    assert held_by(str(path)) is None  # released: opens again
    client = open_client(f"chdb://{path}")
    try:
        assert client.query("SELECT 1 AS x") == [{"x": 1}]
    finally:
        client.close()
