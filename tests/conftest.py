"""Shared pytest options: `--regen-goldens` writes missing golden files on purpose."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-goldens",
        action="store_true",
        default=False,
        help="write <format>.generated.json for golden cases that have no expected file",
    )
