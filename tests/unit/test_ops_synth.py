"""Synthetic load: every generated event transforms, with the generated CDC, in both formats and without rejects."""

from __future__ import annotations

from collections import Counter

import orjson

from stream_app.ops.synth import MIX, Generator, cdc_records
from stream_app.pipeline import build_engine, process_raw
from stream_app.settings import Settings
from stream_app.tables.memory import MemoryLookup


def test_generated_events_transform_with_the_generated_cdc() -> None:
    lookup = MemoryLookup()
    lookup.load(cdc_records(users=30, courses=3))
    engine = build_engine(Settings())
    gen = Generator(users=30, courses=3, seed=1)
    names: Counter[str] = Counter()
    problems = []
    skipped = 0
    for _ in range(3000):
        event = gen.event()
        outcome = process_raw(orjson.dumps(event), engine, lookup, ("xapi", "caliper"))
        names[event["name"]] += 1
        if not engine.handles("xapi", event["name"]):
            # Real logs carry events outside ERB's default allow list too (edx.grades.problem.submitted).
            skipped += 1
            continue
        formats = {fmt for fmt, _actor, _record in outcome.outputs}
        if outcome.rejects or outcome.missing or "xapi" not in formats:
            problems.append((event["name"], outcome.rejects, outcome.missing, formats))
    assert problems == []
    assert skipped < 3000 * 0.1
    # The mix: every kind appears, video is the most common family.
    assert set(names) == {name for name, _ in MIX}
    assert sum(n for name, n in names.items() if name.endswith("video")) > 3000 * 0.35


def test_population_is_deterministic() -> None:
    first = [Generator(5, 2, seed=7, clock=lambda: __import__("datetime").datetime(2026, 1, 1)).event()
             for _ in range(1)]
    again = [Generator(5, 2, seed=7, clock=lambda: __import__("datetime").datetime(2026, 1, 1)).event()
             for _ in range(1)]
    assert first == again
    records = cdc_records(users=2, courses=1)
    assert Counter(r["topic"].rsplit(".", 1)[1] for r in records) == {
        "external_user_ids_externalidtype": 2, "auth_user": 2, "auth_userprofile": 2,
        "external_user_ids_externalid": 4, "course_overviews_courseoverview": 1, "course_blocks": 16}
