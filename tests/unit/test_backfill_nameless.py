"""Backfills of old logs: lines without `name` under each STREAM_APP_NAMELESS_EVENTS rule, as docs/backfill.md says.

The worker's logic (`pipeline.route` then `pipeline.process`) runs on real-shaped
old and recent tracking-log lines (tests/oldlogs.py) with the sample CDC seed:
- `event_type` (default): old lines are transformed with their event_type as the
  name, exactly as ERB's transformers transform them with `name` copied in; their
  transformer failures go to stage `legacy`, recent lines' to stage `transform`;
- `skip`: old lines are skipped as `no_name` (ERB's replay), recent lines give the
  same statements as before.
Also: the digest mail leaves legacy dead letters out, `/metrics` shows them under
stage="legacy", and `stream-app transform` and `stream-app load` count the lines.
"""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from stream_app.cli.main import cli
from stream_app.delivery.alerts import Alerter
from stream_app.metrics import count_families
from stream_app.ops.limits import SizeLimit
from stream_app.ops.load import DryRun, load
from stream_app.ops.sources import expand
from stream_app.pipeline import process, process_raw, route
from stream_app.settings import Settings
from stream_app.tables.memory import MemoryLookup
from stream_app.transforms import Engine, TransformSettings
from stream_app.transforms.engine import ERB_FORMATS
from tests.oldlogs import COURSEWARE, Line, bad_lines, corpus, with_name

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "samples" / "cdc.jsonl"
FORMATS = ("xapi", "caliper")


def lookup() -> MemoryLookup:
    found = MemoryLookup()
    found.load_jsonl(SEED.read_bytes().splitlines())
    return found


def engine(rule: str) -> Engine:
    return Engine(TransformSettings(nameless_events=rule), plugins=False)  # type: ignore[arg-type]


def run_worker_logic(rule: str, lines: list[Line]) -> dict[str, Any]:
    """What the worker does with each line: statements per format, skips and dead letters by (stage, reason)."""
    eng, found = engine(rule), lookup()
    out: dict[str, list[dict[str, Any]]] = {fmt: [] for fmt in FORMATS}
    skipped: Counter[str] = Counter()
    dead: Counter[tuple[str, str]] = Counter()
    dead_by_kind: Counter[tuple[str, str]] = Counter()
    for line in lines:
        routed = route(line.raw, eng, FORMATS)
        if routed.skip:
            skipped[routed.skip] += 1
            continue
        assert routed.reject is None, line.raw
        assert routed.parsed is not None  # the worker transforms what ingest parsed: the same here
        outcome = process(routed.parsed.event, eng, found, FORMATS, routed.parsed.fallback)
        assert outcome.missing is None  # every learner and course is in the seed
        for fmt, _actor, record in outcome.outputs:
            out[fmt].append(orjson.loads(record["statement" if fmt == "xapi" else "event"]))
        for fmt, reason in outcome.rejects:
            stage = outcome.stage(fmt, reason)
            dead[(stage, reason.split(":", 1)[0])] += 1
            dead_by_kind[(line.kind, stage)] += 1
    return {"out": out, "skipped": skipped, "dead": dead, "dead_by_kind": dead_by_kind}


def erb_with_name(lines: list[Line]) -> dict[str, list[dict[str, Any]]]:
    """What ERB's transformers give when `name` is copied from `event_type` (the engine on the named copies)."""
    eng, found = engine("event_type"), lookup()
    return {fmt: [item for line in lines for item in eng.run(fmt, orjson.loads(with_name(line)), found).output]
            for fmt in FORMATS}


def test_default_takes_event_type_as_the_name_and_gives_erbs_output_for_it() -> None:
    lines = corpus()
    got = run_worker_logic("event_type", lines)
    # Exactly ERB's transformers' output with `name` copied from `event_type`, statement ids included.
    assert got["out"] == erb_with_name(lines)
    # As tests/oldlogs.py documents: per learner 6 + 3 xAPI and 7 + 3 Caliper statements, three learners.
    assert {fmt: len(items) for fmt, items in got["out"].items()} == {"xapi": 27, "caliper": 30}
    assert got["skipped"] == Counter({"not_allowed": 9})
    # Failures only the fallback reached are stage legacy (3 xAPI + 2 Caliper per learner); none is "transform".
    assert got["dead"] == Counter({("legacy", "missing_field"): 15})
    assert got["dead_by_kind"] == Counter({("nameless", "legacy"): 15})
    legacy_lines = [line for line in lines if line.expect == "legacy"]
    assert legacy_lines and all(
        any(engine("event_type").run(fmt, line.event, lookup()).legacy for fmt in FORMATS) for line in legacy_lines)


def test_skip_skips_every_line_without_name_as_no_name_and_keeps_the_recent_ones() -> None:
    lines = corpus()
    got = run_worker_logic("skip", lines)
    named = [line for line in lines if line.kind == "named"]
    nameless = [line for line in lines if line.kind == "nameless"]
    assert got["skipped"] == Counter({"no_name": len(nameless)}) and len(nameless) == 36
    assert got["out"] == erb_with_name(named)  # the statements ERB's replay would give: recent lines only
    assert {fmt: len(items) for fmt, items in got["out"].items()} == {"xapi": 9, "caliper": 9}
    assert not got["dead"]


def test_recent_lines_fail_as_before_with_stage_transform() -> None:
    # A recent (named) problem_check without a referer is a real failure: stage transform, as before.
    line = next(line for line in corpus() if line.kind == "nameless" and line.expect == "legacy")
    named = Line(with_name(line), "named", "legacy")
    got = run_worker_logic("event_type", [named])
    assert got["dead"] and all(stage == "transform" for stage, _ in got["dead"])


def test_caliper11_reads_event_type_whatever_the_rule() -> None:
    old = next(line for line in corpus() if line.kind == "nameless" and line.event["event_type"] == "play_video")
    raw = orjson.dumps({**old.event, "referer": COURSEWARE, "event": orjson.dumps(
        {**orjson.loads(old.event["event"]), "duration": 180}).decode()})  # what CT's era logged besides
    for rule in ("event_type", "skip"):
        eng = engine(rule)
        assert route(raw, eng, ("caliper11",)).key is not None
        assert len(process_raw(raw, eng, lookup(), ("caliper11",)).outputs) == 1
    assert route(raw, engine("skip"), ("xapi", "caliper11")).key is not None  # caliper11 still wants it
    # Its failures are CT-parity failures, never legacy: CT keys on event_type.
    failed = process_raw(old.raw, engine("event_type"), lookup(), ("caliper11",))
    assert failed.rejects and failed.stage("caliper11", failed.rejects[0][1]) == "transform"
    assert "caliper11" not in ERB_FORMATS


def test_legacy_dead_letters_are_not_mailed_but_delivery_ones_are() -> None:
    from stream_app.agents.alerts import Rules
    from stream_app.topics import topics

    rules = Rules.of(Settings(), topics())

    sent: list[tuple[str, str]] = []

    class Mailer:
        async def send(self, subject: str, body: str) -> None:
            sent.append((subject, body))

    alerter = Alerter(Mailer(), window=900)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    legacy = {"stage": "legacy", "reason": "missing_field:context.referer", "router": "campus-lrs",
              "event_name": "problem_check", "time": now.isoformat()}
    for _ in range(5):
        rules.feed(alerter, rules.dead_letter, legacy, now.timestamp())
    assert asyncio.run(alerter.flush(now)) == 0 and sent == []  # nothing to mail for legacy ones
    rules.feed(alerter, rules.dead_letter, {**legacy, "stage": "deliver", "reason": "http_400"}, now.timestamp())
    assert asyncio.run(alerter.flush(now)) == 1
    assert "http_400: 1" in sent[0][1] and "missing_field" not in sent[0][1]


def test_metrics_carry_stage_legacy() -> None:
    families = {f.name: f for f in count_families(Counter({"dead_letter:legacy:missing_field": 15,
                                                           "dead_letter:transform:missing_field": 2,
                                                           "skipped:no_name": 36}))}
    dead = {tuple(sorted(s.labels.items())): s.value for s in families["stream_app_dead_letters"].samples}
    assert dead[(("reason", "missing_field"), ("stage", "legacy"))] == 15
    assert dead[(("reason", "missing_field"), ("stage", "transform"))] == 2
    skipped = {s.labels["reason"]: s.value for s in families["stream_app_skipped"].samples}
    assert skipped == {"no_name": 36}


@pytest.mark.parametrize("rule", ["event_type", "skip"])
def test_transform_cli_counts_lines_without_name(tmp_path: Path, rule: str) -> None:
    lines = corpus()
    source = tmp_path / "tracking.log.gz"
    source.write_bytes(gzip.compress(b"\n".join(line.raw for line in lines) + b"\n"))
    result = CliRunner().invoke(cli, ["transform", "--format", "xapi", "--cdc", str(SEED), "--input", str(source),
                                      "--nameless-events", rule])
    assert result.exit_code == 0, result.output
    written = [line for line in result.stdout.splitlines() if line.startswith("{")]
    summary = result.stderr.strip().splitlines()[-1]
    if rule == "skip":
        assert len(written) == 9 and "without name: 36 (skipped: no_name)" in summary
        assert "rejected: 0" in summary
    else:
        assert len(written) == 27
        assert "without name: 36 (named by event_type: 18 statements, 9 legacy rejects)" in summary


def test_transform_cli_rule_comes_from_the_environment(tmp_path: Path) -> None:
    source = tmp_path / "old.jsonl"
    source.write_bytes(b"\n".join(line.raw for line in corpus() if line.kind == "nameless") + b"\n")
    result = CliRunner(env={"STREAM_APP_NAMELESS_EVENTS": "skip"}).invoke(
        cli, ["transform", "--format", "caliper", "--cdc", str(SEED), "--input", str(source)])
    assert result.exit_code == 0 and result.stdout == ""
    assert "without name: 36 (skipped: no_name)" in result.stderr


def test_load_summary_counts_lines_without_name_and_what_the_worker_does_with_them(tmp_path: Path) -> None:
    log = tmp_path / "tracking.log-20150302.gz"
    log.write_bytes(gzip.compress(b"\n".join(line.raw for line in corpus() + bad_lines()) + b"\n"))
    for rule, says in (("event_type", "named by their event_type"), ("skip", "skipped no_name")):
        stats = load(expand([str(log)]), DryRun(), lambda _bad: None, dry_run=True,
                     limit=SizeLimit(1_000_000, "producer message.max.bytes"), nameless_rule=rule)
        summary = stats.summary()
        assert stats.nameless == 36 and stats.events == 45
        assert f"lines without name: 36 (STREAM_APP_NAMELESS_EVENTS={rule}: " in summary and says in summary
        assert stats.bad == Counter({"invalid_json": 1, "invalid_event:not_an_object": 1, "msg_size_too_large": 1})


def test_an_old_line_that_never_finds_its_user_expires_as_legacy_a_recent_one_as_enrich() -> None:
    old = next(line for line in corpus() if line.kind == "nameless" and line.expect == "statements")
    ghost = {**old.event, "username": "ghost", "context": {**old.event["context"], "user_id": 999}}
    found = lookup()
    for raw, stage in ((orjson.dumps(ghost), "legacy"), (orjson.dumps({**ghost, "name": ghost["event_type"]}),
                                                          "enrich")):
        outcome = process_raw(raw, engine("event_type"), found, FORMATS)
        assert outcome.missing == "unknown_user" and outcome.missing_format in FORMATS
        # The stage the enrich agent dead-letters it with once the late-dimension wait is over.
        assert outcome.stage(outcome.missing_format or "", outcome.missing, "enrich") == stage
