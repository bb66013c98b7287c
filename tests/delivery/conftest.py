"""Delivery test fixtures: a real Ralph LRS per test (fresh store, since Ralph slows as its store grows)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_app.devstack.ralph import Ralph


@pytest.fixture
def ralph(tmp_path: Path) -> Iterator[Ralph]:
    """A started Ralph with an empty store; stopped after the test."""
    lrs = Ralph(tmp_path / "ralph")
    lrs.root.mkdir()
    try:
        lrs.start()
    except (RuntimeError, TimeoutError) as exc:
        pytest.fail(str(exc))
    try:
        yield lrs
    finally:
        lrs.stop()
