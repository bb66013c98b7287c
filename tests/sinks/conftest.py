"""Fixtures for the ClickHouse sink tests: a real embedded chDB database in a fresh directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_app.delivery.routers import CLICKHOUSE_OBJECTS, ClickHouseRouter
from stream_app.sinks.clickhouse import ClickHouseSink


def chdb_router(path: Path, **overrides: object) -> ClickHouseRouter:
    """A router on an embedded database, every object enabled (personal data too)."""
    fields: dict[str, object] = {"name": "aspects", "url": f"chdb://{path}", "objects": CLICKHOUSE_OBJECTS,
                                 "pii": True}
    fields.update(overrides)
    return ClickHouseRouter(**fields)  # type: ignore[arg-type]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[ClickHouseSink]:
    # chDB runs one embedded server per process: each test opens its own directory and closes it.
    opened = ClickHouseSink.open(chdb_router(tmp_path / "ch"))
    try:
        yield opened
    finally:
        opened.close()
