"""Benchmark: rows/s of the ClickHouse sink's insert path into embedded chDB, next to a bare chDB insert.

Both sides insert the same xAPI statements (a real statement from the ERB golden
fixtures, ~1 KB, with a distinct id and time per row) into `xapi.xapi_events_all`
on embedded chDB, in batches of the router default (10,000 rows), in the same run:

- sink: from the xAPI output records (dicts as the Avro decoder yields them)
  through `statement_row` and `ClickHouseSink.insert` — row building, JSON
  serialisation and the insert.
- bare: the ready JSONEachRow text of the same rows, sent as one
  `INSERT ... FORMAT JSONEachRow` query per batch on the chDB session.

Each side runs `--repeat` times into an emptied table (alternating, best rate
kept). The target is sink >= 50% of bare. Run:

    python -m benchmarks.clickhouse [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from stream_app.delivery.routers import ClickHouseRouter
from stream_app.sinks.clickhouse import ClickHouseSink, statement_row
from stream_app.sinks.clickhouse.client import json_body

CASES = Path(__file__).resolve().parent.parent / "tests" / "golden" / "erb" / "cases"
FIXTURE = CASES / "problem_check(server)" / "xapi.json"


def records(count: int) -> list[dict[str, Any]]:
    """xAPI output records: the fixture statement with a distinct id and time per record."""
    statement = orjson.loads(FIXTURE.read_bytes())
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for n in range(count):
        event_id = str(uuid.UUID(int=n, version=4))
        emitted = start + timedelta(microseconds=n * 1_017)
        body = dict(statement, id=event_id, timestamp=emitted.isoformat())
        out.append({"event_id": event_id, "verb_id": body["verb"]["id"], "actor_id": "actor", "object_id": "object",
                    "course_id": None, "org": None, "emission_time": emitted, "event_name": "problem_check",
                    "statement": orjson.dumps(body).decode()})
    return out


def best_rate(prepare: Callable[[], None], run: Callable[[], int], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        prepare()
        started = time.perf_counter()
        count = run()
        best = max(best, count / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data = records(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        router = ClickHouseRouter(name="bench", url=f"chdb://{tmp}/ch", objects=("statements",))
        sink = ClickHouseSink.open(router)
        table = sink.table("statements")
        size = router.batch_size
        # The bare side's input: the same rows, already as JSONEachRow text per batch.
        bodies = [json_body([statement_row(r) for r in data[i:i + size]]) for i in range(0, len(data), size)]

        def empty() -> None:
            sink.client.command(f"TRUNCATE TABLE {table}")

        def through_sink() -> int:
            return sum(sink.insert("statements", [statement_row(r) for r in data[i:i + size]])
                       for i in range(0, len(data), size))

        def bare() -> int:
            session: Any = sink.client._session  # type: ignore[attr-defined]
            for body in bodies:
                session.query(f"INSERT INTO {table} FORMAT JSONEachRow\n".encode() + body)
            return len(data)

        sink_rates, bare_rates = [], []
        for _ in range(args.repeat):  # alternate so both sides see the same machine load
            sink_rates.append(best_rate(empty, through_sink, 1))
            bare_rates.append(best_rate(empty, bare, 1))
        stored = sink.query(f"SELECT count() AS n FROM {table} FINAL")[0]["n"]
        sink.close()

    sink_rate, bare_rate = max(sink_rates), max(bare_rates)
    print(f"python {platform.python_version()}, {platform.machine()}, rows {args.rows}, batch {size}, "
          f"statement {len(data[0]['statement'])} B, rows stored {stored}")
    print(f"sink (row building + batched insert): {sink_rate:,.0f} rows/s")
    print(f"bare chDB JSONEachRow insert:          {bare_rate:,.0f} rows/s")
    print(f"sink / bare: {sink_rate / bare_rate:.0%} (target >= 50%)")


if __name__ == "__main__":
    main()
