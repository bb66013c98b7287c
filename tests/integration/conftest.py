"""Integration fixtures: the embedded Kafka-protocol broker (Tansu), started once per test session.

`broker` yields the bootstrap address `127.0.0.1:PORT` and sets
`STREAM_APP_BROKER_FLAVOR=tansu` (inherited by the processes tests start), as
ARCHITECTURE.md asks of anything that starts the embedded broker. The broker
keeps everything in memory and is killed at the end of the session; tests that
need a clean slate use topic names of their own (see `stack.py`). Its log goes
to a file in pytest's temporary directory, printed if it fails to start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_app.devstack.processes import start_broker, start_registry
from tests.integration.stack import Stack


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker on a free port for the whole session; yields `127.0.0.1:PORT`."""
    log_dir = tmp_path_factory.mktemp("broker")
    try:
        process, bootstrap = start_broker(log_dir)
    except (RuntimeError, TimeoutError) as exc:
        log = log_dir / "broker.log"
        pytest.fail(f"embedded broker did not start: {exc}\n{log.read_text(errors='replace') if log.exists() else ''}")
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STREAM_APP_BROKER_FLAVOR", "tansu")
            yield bootstrap
    finally:
        process.stop()


@pytest.fixture(scope="session")
def registry(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The development schema registry on the session broker (subjects are per topic, so per test)."""
    proc, url = start_registry(tmp_path_factory.mktemp("registry"), broker)
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path, broker: str, registry: str) -> Iterator[Stack]:
    """An isolated deployment (own topic names and app id) for one test; its workers stop afterwards."""
    s = Stack(tmp_path, broker, registry, request.node.name[:20].replace("_", "-"))
    try:
        yield s
    finally:
        s.stop_all()
