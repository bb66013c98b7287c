"""Agents under Faust's own `agent.test_context()`: a worker context around a test app, with recorders.

Each test gets a fresh app and context (`ctx`), as `stream_app.worker` builds them,
whose dead-letter writer and eager commits are replaced by recorders; the output
schemas go to confluent-kafka's in-process mock registry. Agents are registered
with `register(ctx, ...)` exactly as the worker does. No broker is needed: Faust's
test context feeds the agent through an in-memory channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stream_app import context
from stream_app.agents.statusview import StatusView
from stream_app.application import build_app
from stream_app.context import Context
from stream_app.output import Batch
from stream_app.settings import Settings


class Letters(list[tuple[str, str, dict[str, Any]]]):
    """Dead letters sent: (stage, reason, fields)."""

    def __call__(self, stage: str, reason: str, message: Any = None, **fields: Any) -> None:
        self.append((stage, reason, {**fields, **({"message": message} if message is not None else {})}))


class Commits:
    """Topic partitions asked to be committed."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    def commit_soon(self, tps: Any) -> None:
        self.asked.extend(tps)


class StoredAtOnce:
    """An output producer whose broker stores each record as it is produced: records kept in order."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes, Any]] = []
        self.closed = False

    def batch(self) -> Batch:
        return Batch(asyncio.get_running_loop(), lambda batch: lambda _error, _message: batch.on_delivered())

    def produce(self, topic: str, key: bytes | None, value: bytes, headers: Any = None, partition: int = -1,
                batch: Batch | None = None) -> None:
        self.records.append((topic, key, value, headers))
        if batch is not None:
            batch.sent += 1
            batch.report(None, None)  # type: ignore[arg-type]  # stored at once

    async def flush(self) -> None:
        return None

    def close(self, timeout: float = 10.0) -> None:
        self.closed = True


class ReadView(StatusView):
    """The delivery-status view with its topic read to the (empty) end: no consumer is started."""

    def start(self) -> None:
        self._ready.set()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    settings = Settings(app_id="agents-test", broker="kafka://127.0.0.1:9", schema_registry_url="mock://agents-test",
                        data_dir=str(tmp_path / "data"))
    app = build_app(settings)
    app.finalize()
    app.conf.store = "memory://"
    app.flow_control.resume()
    built = context.build(app, settings)
    built.dead_letter = Letters()
    built.commits = Commits()
    built.status_view = ReadView(settings, built.topics["delivery_status"].name)
    yield built
