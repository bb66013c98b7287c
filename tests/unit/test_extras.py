"""A command that needs a missing pip extra says which in one line (exit 1), before it reads its options."""

from __future__ import annotations

import sys

import pytest

from stream_app import extras
from stream_app.cli.main import main
from stream_app.extras import MissingExtra, installed, require


def missing(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    real = extras.installed
    monkeypatch.setattr(extras, "installed", lambda extra: extra not in names and real(extra))
    monkeypatch.setattr("stream_app.cli.needs.installed", extras.installed)


def run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["stream-app", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0)


def test_every_extra_names_the_module_it_installs() -> None:
    # The test environment has every extra (make install installs `dev`, which includes them).
    assert all(installed(extra) for extra in extras.EXTRAS)
    with pytest.raises(KeyError):
        installed("no-such-extra")


def test_require_raises_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(extras.EXTRAS, "chdb", "stream_app_no_such_module")  # as if chdb were not installed
    with pytest.raises(MissingExtra) as error:
        require("chdb", "ClickHouse at chdb://data/ch")
    assert str(error.value) == "ClickHouse at chdb://data/ch: needs the chdb extra: pip install 'stream-app[chdb]'"
    assert error.value.extra == "chdb"


def test_dev_without_the_dev_stack_extra_prints_one_line_before_checking_its_options(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    missing(monkeypatch, "dev-stack")
    # A --cdc file that does not exist would be an option error; the missing extra is reported first.
    assert run(monkeypatch, "dev", "--cdc", "/nonexistent/cdc.jsonl") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["stream-app dev: needs the dev-stack extra: pip install 'stream-app[dev-stack]'"]


def test_dev_help_still_shows_without_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    missing(monkeypatch, "dev-stack")
    assert run(monkeypatch, "dev", "--help") == 0
    assert "Usage: stream-app dev" in capsys.readouterr().out
