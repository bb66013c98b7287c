"""Shared pytest options and fixtures: `--regen-goldens`, a real Ralph LRS per test (`ralph`), and a check that
pytest-xdist honours `xdist_group` marks (the tests run on xdist workers: docs/development.md)."""

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


UNGROUPED = pytest.StashKey[set[str]]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under `--dist loadgroup`, note the grouped tests whose node id lacks its group suffix.

    xdist keeps a group on one worker by appending `@group` to the node ids; where that does not take
    (pytest-xdist issue #1386, pytest 9.2) the groups would be silently spread over the workers: those
    tests fail instead (an error raised here on a worker would reach the terminal without its message).
    """
    if config.getoption("loadgroup", default=False):
        config.stash[UNGROUPED] = {item.nodeid for item in items
                                   if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid}


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.nodeid in item.config.stash.get(UNGROUPED, set()):
        pytest.fail(f"pytest-xdist ignored this test's xdist_group mark with pytest {pytest.__version__} "
                    "(pytest-xdist issue #1386): install the pytest version pyproject.toml asks for", pytrace=False)


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
