"""Patch the LMS URL builders with CT's test constants for every test here, as CT's own tests do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stream_app.transforms.caliper11 import needs

from .harness import ABOUT_URL, CERTIFICATE_URL, TEAM_URL


@pytest.fixture(autouse=True)
def ct_mocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def team_url(*_: Any) -> str:
        return TEAM_URL

    def certificate_url(*_: Any) -> str:
        return CERTIFICATE_URL

    def about_url(*_: Any) -> str:
        return ABOUT_URL

    monkeypatch.setattr(needs, "team_url", team_url)
    monkeypatch.setattr(needs, "certificate_url", certificate_url)
    monkeypatch.setattr(needs, "about_url", about_url)
    yield
