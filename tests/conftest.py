"""Shared pytest options and fixtures: `--regen-goldens`, and a real Ralph LRS per test (`ralph`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_app.devstack.ralph import Ralph


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-goldens",
        action="store_true",
        default=False,
        help="write <format>.generated.json for golden cases that have no expected file",
    )


@pytest.fixture
def ralph(tmp_path: Path) -> Iterator[Ralph]:
    """A started Ralph with an empty store (Ralph slows as its store grows); stopped after the test."""
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
