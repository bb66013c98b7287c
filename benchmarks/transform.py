"""Benchmark: transformation events/s per core for xAPI, Caliper and Caliper 1.1, against an orjson baseline.

Each measurement runs on one core (one thread) over the same corpus of varied
events: parse the JSON bytes, transform (xAPI or Caliper, default allow lists
and settings) and serialise every output with orjson. Caliper 1.1
(openedx-caliper-tracking parity) reads tracking-log lines, so it is measured
on its own corpus built the same way from CT's fixtures. The baseline does only
the orjson parse + serialise of the same events, in the same run, so the ratio
says how much the transformation itself costs. Run:

    python -m benchmarks.transform [--events N] [--repeat R] [--write]

`--write` replaces the transform section of BENCHMARKS.md with this run's table.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from benchmarks import corpus as corpus_module
from stream_app.tables.memory import MemoryLookup
from stream_app.transforms import Engine

CT_INPUT = corpus_module.ROOT / "tests" / "golden" / "caliper11" / "fixtures" / "input"

SECTION_START = "<!-- transform:start -->"
SECTION_END = "<!-- transform:end -->"


def _best_rate(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    best = 0.0
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = fn()
        elapsed = time.perf_counter() - started
        best = max(best, count / elapsed)
    return best, count


def ct_corpus(size: int, users: int = 1000) -> tuple[list[bytes], int]:
    """`size` tracking-log lines cycling through CT's fixtures (users and times varied), and the fixture count."""
    base = [orjson.loads(p.read_bytes()) for p in sorted(CT_INPUT.glob("*.json"))]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(size):
        event = copy.deepcopy(base[i % len(base)])
        uid = 1 + i % users
        if event.get("username"):
            event["username"] = f"learner{uid}"
        if isinstance(event.get("event"), dict) and "user_id" in event["event"]:
            event["event"]["user_id"] = uid  # cohort and team members are looked up
        event["time"] = (start + timedelta(milliseconds=i)).isoformat()
        out.append(orjson.dumps(event))
    return out, len(base)


def ct_lookup(users: int) -> MemoryLookup:
    """The corpus lookup plus the teams CT's fixtures name."""
    mem = corpus_module.lookup(users)
    team_ids: set[Any] = set()
    for path in CT_INPUT.glob("*.json"):
        payload = orjson.loads(path.read_bytes()).get("event")
        if isinstance(payload, dict) and isinstance(payload.get("team_id"), str):
            team_ids.add(payload["team_id"])
    for n, team_id in enumerate(sorted(team_ids)):
        mem.apply("openedx.cdc.teams_courseteam", {"id": n}, {"id": n, "team_id": team_id, "topic_id": "topic"})
    return mem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    events = corpus_module.corpus(args.events)
    lookup = corpus_module.lookup()
    engine = Engine(plugins=False)
    dumps, loads = orjson.dumps, orjson.loads

    def baseline() -> int:
        n = 0
        for raw in events:
            dumps(loads(raw))
            n += 1
        return n

    def run(fmt: str, events: list[bytes] = events, lookup: Any = lookup) -> Callable[[], int]:
        def go() -> int:
            n = 0
            for raw in events:
                result = engine.run(fmt, loads(raw), lookup)
                for item in result.output:
                    dumps(item)
                n += 1
            return n
        return go

    base_rate, _ = _best_rate(baseline, args.repeat)
    rows = [("baseline: orjson parse + serialise", base_rate, None)]
    for fmt in ("xapi", "caliper"):
        rate, _ = _best_rate(run(fmt), args.repeat)
        rows.append((f"{fmt}: parse + transform + serialise", rate, rate / base_rate))
    ct_events, ct_fixtures = ct_corpus(args.events)
    ct_base, _ = _best_rate(lambda: sum(1 for raw in ct_events if dumps(loads(raw))), args.repeat)
    rows.append(("baseline (CT corpus): orjson parse + serialise", ct_base, None))
    rate, _ = _best_rate(run("caliper11", ct_events, ct_lookup(1000)), args.repeat)
    rows.append(("caliper11 (CT corpus): parse + transform + serialise", rate, rate / ct_base))

    machine = f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores"
    lines = [
        f"Corpus: {len(events)} events cycling through the {len(corpus_module.fixture_events())} ERB fixture "
        f"events ({ct_fixtures} openedx-caliper-tracking fixture events for caliper11, against their own "
        f"baseline), 1,000 learners, default allow lists (events outside them count, producing nothing). "
        f"Best of {args.repeat} runs, one core. Machine: {machine}.",
        "",
        "| measurement | events/s (one core) | ratio to baseline |",
        "|---|---:|---:|",
    ]
    for label, rate, ratio in rows:
        lines.append(f"| {label} | {rate:,.0f} | {'1.00 (baseline)' if ratio is None else f'{ratio:.2f}'} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        _write(table, args)


def _write(table: str, args: argparse.Namespace) -> None:
    path = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    command = f"python -m benchmarks.transform --events {args.events} --repeat {args.repeat} --write"
    block = (f"{SECTION_START}\n## Transformation (`benchmarks/transform.py`)\n\n"
             f"Command: `{command}`\n\n{table}\n{SECTION_END}")
    if SECTION_START in text:
        head, rest = text.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
