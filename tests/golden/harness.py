"""Loads golden cases and builds the engine in ERB's test environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stream_app.tables.memory import MemoryLookup
from stream_app.transforms import Engine, TransformSettings
from stream_app.transforms.filters import EventFilter

ERB_DIR = Path(__file__).parent / "erb"
CASES_DIRS = (ERB_DIR / "cases", Path(__file__).parent / "own" / "cases")
FORMATS = ("xapi", "caliper")

# ERB's test settings (tests/golden/erb/NOTICE.md). Its unit tests hand the transformer the timestamp
# text, so its fixtures hold the `replay` ids.
ERB_SETTINGS = TransformSettings(
    lms_root_url="http://localhost:18000",
    ifi="external_id",
    version_string="event-routing-backends@1.1.1",
    xapi_id_form="replay",
)


@dataclass(frozen=True)
class Case:
    name: str
    path: Path

    @property
    def event(self) -> dict[str, Any]:
        return orjson.loads((self.path / "event.json").read_bytes())

    def expected(self, fmt: str) -> tuple[str, Any] | None:
        """("output", json) | ("reject", reason) | None when the case has no expectation."""
        # A reject file wins: ERB ships expected output for its anonymous fixture but never compares it.
        reject = self.path / f"{fmt}.reject"
        if reject.exists():
            return "reject", reject.read_text().strip()
        for suffix in (".json", ".generated.json"):
            file = self.path / f"{fmt}{suffix}"
            if file.exists():
                return "output", orjson.loads(file.read_bytes())
        return None


def cases() -> list[Case]:
    return [Case(p.name, p) for d in CASES_DIRS for p in sorted(d.iterdir()) if p.is_dir()]


def erb_lookup() -> MemoryLookup:
    lookup = MemoryLookup(namespace=None)
    lookup.load_jsonl((ERB_DIR / "seed.jsonl").read_bytes().splitlines())
    return lookup


def erb_engine() -> Engine:
    """ERB's tests call transformers directly, so every registered name is allowed here."""
    # ERB's tests hand the fixture dict to the transformer as is: no replay-parser `data` copy.
    engine = Engine(ERB_SETTINGS, plugins=False, log_data=False)
    engine.filters = {fmt: EventFilter(frozenset(engine.registries[fmt])) for fmt in FORMATS}
    return engine
