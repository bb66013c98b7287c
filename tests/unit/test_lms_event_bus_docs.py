"""docs/lms-event-bus.md gives the LMS the event names our default allow lists transform, no more, no less.

(The page's whole LMS settings block is run by tests/integration/test_lms_event_bus.py.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from stream_app.transforms.filters import DEFAULTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "lms-event-bus.md"


def documented_tracking_logs() -> list[str]:
    """The `EVENT_BUS_TRACKING_LOGS = [...]` list of the page's LMS settings."""
    match = re.search(r"^EVENT_BUS_TRACKING_LOGS = (\[.*?^\])", DOC.read_text(), re.MULTILINE | re.DOTALL)
    assert match is not None, "docs/lms-event-bus.md has no EVENT_BUS_TRACKING_LOGS list"
    names = ast.literal_eval(match.group(1))
    assert isinstance(names, list) and all(isinstance(n, str) for n in names)
    return names


def test_the_lms_publishes_exactly_the_names_of_the_default_allow_lists() -> None:
    names = documented_tracking_logs()
    assert names == sorted(set(names)), "keep the list sorted and without repeats"
    assert set(names) == DEFAULTS["xapi"] | DEFAULTS["caliper"]
