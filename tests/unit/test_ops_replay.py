"""Replay planning without a broker: time parsing, argument checks and the printed plan."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stream_app.cli.main import cli
from stream_app.ops.offsets import PartitionPlan, ReplayError, Target, format_plan, parse_time


def test_times_are_iso_8601_and_naive_means_utc() -> None:
    assert parse_time("2024-01-01T00:00:00Z") == 1704067200000
    assert parse_time("2024-01-01T00:00:00") == 1704067200000
    assert parse_time("2024-01-01T01:00:00+01:00") == 1704067200000
    assert parse_time("2024-01-01") == 1704067200000
    with pytest.raises(ReplayError, match="ISO 8601"):
        parse_time("yesterday")


def test_plan_shows_what_is_read_again_and_skipped() -> None:
    plans = [PartitionPlan(0, 120, 100, 0, 130), PartitionPlan(1, None, 5, 0, 10), PartitionPlan(2, 3, 9, 0, 9)]
    text = format_plan("stream_app", "openedx.tracking", Target(timestamp_ms=1704067200000), plans)
    assert "reset to the first record at or after 2024-01-01T00:00:00+00:00" in text
    lines = text.splitlines()
    assert lines[2].split() == ["0", "120", "100", "+20"]
    assert lines[3].split() == ["1", "-", "5", "-5"]  # no commit yet: it would have started at 0
    assert lines[4].split() == ["2", "3", "9", "-6"]
    assert lines[-1] == "records the group will read again: 20; records it will skip: 11"


def test_exactly_one_target_is_required() -> None:
    runner = CliRunner()
    assert "exactly one of" in runner.invoke(cli, ["replay"]).output
    both = runner.invoke(cli, ["replay", "--to-earliest", "--to-offset", "3"])
    assert both.exit_code != 0 and "exactly one of" in both.output
    bad = runner.invoke(cli, ["replay", "--to-datetime", "soon"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
