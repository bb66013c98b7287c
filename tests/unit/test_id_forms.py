"""Statement ids in both of ERB's forms: `live` (the default) and `replay` (its fixtures' form).

ERB builds the id from `str()` of the timestamp its transformer was handed: a timezone-aware
datetime on its live paths (Celery task, event-bus consumer), the text on its file replays and in
its unit tests. The reference below recomputes ERB's id with the standard library only (tincan's
JSON forms written out by hand), checked first against every id ERB's fixtures hold.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from stream_app.cli.main import cli
from stream_app.errors import TransformError
from stream_app.pipeline import build_engine, process, route
from stream_app.settings import Settings
from stream_app.transforms import Engine, TransformSettings
from tests.golden.harness import ERB_DIR, ERB_SETTINGS, cases, erb_lookup

ALL = cases()
VIDEO = next(c for c in ALL if c.name == "complete_video")  # timestamp 2020-07-15T06:46:41.543562+00:00
MULTI = next(c for c in ALL if c.name == "problem_check(server,multiple_questions,correct)")
LIVE, REPLAY = replace(ERB_SETTINGS, xapi_id_form="live"), ERB_SETTINGS
LOOKUP = erb_lookup()


def erb_id(statement: dict[str, Any], stamp: str, child_id: str | None = None) -> str:
    """ERB's get_event_id, by hand: uuid5(uuid5(DNS, verb JSON[-child]), actor JSON + '-' + stamp)."""
    actor = statement["actor"]
    agent: dict[str, Any] = {"objectType": actor.get("objectType", "Agent")}
    for key in ("name", "mbox", "mbox_sha1sum", "openid"):
        if key in actor:
            agent[key] = actor[key]
    if "account" in actor:
        agent["account"] = {"name": actor["account"]["name"], "homePage": actor["account"]["homePage"]}
    verb = json.dumps({"id": statement["verb"]["id"], "display": statement["verb"]["display"]})
    namespace = uuid.uuid5(uuid.NAMESPACE_DNS, verb if child_id is None else f"{verb}-{child_id}")
    return str(uuid.uuid5(namespace, f"{json.dumps(agent)}-{stamp}"))


def raw_stamp(event: dict[str, Any]) -> str:
    return str(event.get("timestamp") or event["time"])


def erb_ids(statements: list[dict[str, Any]], stamp: str) -> list[str]:
    """Every statement of one event: the first is the parent, the others children named by their block."""
    out = [erb_id(statements[0], stamp)]
    out += [erb_id(s, stamp, s["object"]["id"].rsplit("@", 1)[-1]) for s in statements[1:]]
    return out


def xapi_cases() -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    out = []
    for case in ALL:
        expected = case.expected("xapi")
        if expected is not None and expected[0] == "output" and case.path.parent.parent == ERB_DIR:
            value = expected[1]
            out.append((case.name, case.event, value if isinstance(value, list) else [value]))
    return out


def test_the_reference_reproduces_every_id_of_erbs_fixtures() -> None:
    checked = xapi_cases()
    assert len(checked) > 60
    for name, event, statements in checked:
        assert [s["id"] for s in statements] == erb_ids(statements, raw_stamp(event)), name


def test_the_measured_event_bus_case_gives_both_ids() -> None:
    assert VIDEO.event["timestamp"] == "2020-07-15T06:46:41.543562+00:00"
    live = Engine(LIVE, plugins=False).transform("xapi", VIDEO.event, LOOKUP)[0]
    replayed = Engine(REPLAY, plugins=False).transform("xapi", VIDEO.event, LOOKUP)[0]
    assert live["id"] == "6d582bd3-494a-5312-a776-bb09746d2b01"  # what ERB's event-bus consumer stored
    assert replayed["id"] == "f7c8b743-f18f-5016-8455-35ff8a2f8020"  # ERB's fixture, its replays
    # Only the id changes: the statement's own timestamp is tincan's isoformat in both forms.
    assert {**live, "id": None} == {**replayed, "id": None}
    assert live["timestamp"] == "2020-07-15T06:46:41.543562+00:00"


def test_the_default_form_is_live_in_settings_engine_and_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TransformSettings().xapi_id_form == "live"
    assert Settings().transform_settings().xapi_id_form == "live"
    monkeypatch.setenv("STREAM_APP_XAPI_ID_FORM", "replay")
    assert Settings().transform_settings().xapi_id_form == "replay"
    with pytest.raises(ValueError, match="live or replay"):
        TransformSettings(xapi_id_form="text")  # type: ignore[arg-type]
    monkeypatch.setenv("STREAM_APP_XAPI_ID_FORM", "text")
    with pytest.raises(ValueError):
        Settings()


# What ERB's live paths hold (the text parsed, offset kept) and what str() of it gives.
STAMPS = [
    ("2020-07-15T06:46:41.543562+00:00", "2020-07-15 06:46:41.543562+00:00"),
    ("2020-07-15T06:46:41.543562Z", "2020-07-15 06:46:41.543562+00:00"),
    ("2020-07-15T06:46:41+00:00", "2020-07-15 06:46:41+00:00"),
    ("2020-07-15T06:46:41.000000+00:00", "2020-07-15 06:46:41+00:00"),  # str() drops a zero fraction
    ("2020-07-15T06:46:41Z", "2020-07-15 06:46:41+00:00"),
    ("2020-07-15T08:46:41.543562+02:00", "2020-07-15 08:46:41.543562+02:00"),  # the offset is kept
    ("2020-07-15T01:16:41.5-05:30", "2020-07-15 01:16:41.500000-05:30"),
]


@pytest.mark.parametrize(("text", "shown"), STAMPS)
def test_live_ids_use_str_of_the_datetime_for_every_timestamp_form(text: str, shown: str) -> None:
    event = {**VIDEO.event, "timestamp": text}
    live = Engine(LIVE, plugins=False).transform("xapi", event, LOOKUP)[0]
    replayed = Engine(REPLAY, plugins=False).transform("xapi", event, LOOKUP)[0]
    assert str(datetime.fromisoformat(text)) == shown
    assert live["id"] == erb_id(live, shown)
    assert replayed["id"] == erb_id(replayed, text)
    assert live["timestamp"] == replayed["timestamp"] == datetime.fromisoformat(text).isoformat()


@pytest.mark.parametrize(("text", "reason"), [
    ("2020-07-15T06:46:41.543562", "invalid_field:timestamp:no_timezone"),  # naive: tincan refuses it
    ("2020-07-15 06:46:41", "invalid_field:timestamp:no_timezone"),
    ("yesterday at noon", "invalid_field:timestamp"),
    ("2020-13-45T06:46:41+00:00", "invalid_field:timestamp"),
])
def test_naive_and_unparseable_timestamps_are_rejected_in_both_forms(text: str, reason: str) -> None:
    for settings in (LIVE, REPLAY):
        with pytest.raises(TransformError) as info:
            Engine(settings, plugins=False).transform("xapi", {**VIDEO.event, "timestamp": text}, LOOKUP)
        assert info.value.reason == reason


def test_problem_check_children_use_the_live_form_with_their_own_namespace() -> None:
    expected = MULTI.expected("xapi")
    assert expected is not None and isinstance(expected[1], list) and len(expected[1]) > 2
    stamp = raw_stamp(MULTI.event)
    live = Engine(LIVE, plugins=False).transform("xapi", MULTI.event, LOOKUP)
    assert [s["id"] for s in live] == erb_ids(live, str(datetime.fromisoformat(stamp)))
    assert len({s["id"] for s in live}) == len(live)
    assert {s["context"]["statement"]["id"] for s in live[1:]} == {live[0]["id"]}  # the parent's live id
    assert [s["id"] for s in Engine(REPLAY, plugins=False).transform("xapi", MULTI.event, LOOKUP)] == [
        s["id"] for s in expected[1]]


def test_caliper_ids_do_not_depend_on_the_xapi_id_form() -> None:
    live = Engine(LIVE, plugins=False).transform("caliper", VIDEO.event, LOOKUP)
    replayed = Engine(REPLAY, plugins=False).transform("caliper", VIDEO.event, LOOKUP)
    assert live == replayed


def _tracking_log_line(event: dict[str, Any]) -> dict[str, Any]:
    """The same event as the LMS's tracking log writes it (`time`, `event`, top-level fields)."""
    ctx = event["context"]
    return {"name": event["name"], "event_type": event["name"], "time": event["timestamp"],
            "event": orjson.dumps(event["data"]).decode(), "context": ctx, "username": ctx["username"],
            "session": ctx["session"], "event_source": ctx["event_source"], "page": ctx["page"]}


def test_the_worker_gives_live_ids_for_every_input_shape() -> None:
    """event-tracking JSON, a tracking-log line and the event bus's TrackingLogData: one id."""
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from stream_app.codecs.avro import AvroDecoder, registry_client
    from stream_app.pipeline import AvroTracking
    from tests.unit.test_pipeline_settings_topics import EVENT_BUS_SCHEMA

    event = VIDEO.event
    client = registry_client("mock://id-forms")
    bus = AvroSerializer(client, EVENT_BUS_SCHEMA)(
        {"tracking_log": {"name": event["name"], "timestamp": event["timestamp"],
                          "data": orjson.dumps(event["data"]).decode(),
                          "context": orjson.dumps(event["context"]).decode()}},
        SerializationContext("openedx.tracking", MessageField.VALUE))
    assert bus is not None
    parse = AvroTracking(AvroDecoder(client, "openedx.tracking"))
    for form, want in (("live", "6d582bd3-494a-5312-a776-bb09746d2b01"),
                       ("replay", "f7c8b743-f18f-5016-8455-35ff8a2f8020")):
        engine = build_engine(Settings(transformer_version="event-routing-backends@1.1.1", xapi_id_form=form))
        got = []
        shapes = ((orjson.dumps(event), orjson.loads), (orjson.dumps(_tracking_log_line(event)), orjson.loads),
                  (bus, parse))
        for raw, parser in shapes:
            routed = route(raw, engine, ("xapi",), parser)
            assert routed.parsed is not None, routed
            outcome = process(routed.parsed.event, engine, LOOKUP, ("xapi",), routed.parsed.fallback)
            got.append([record["event_id"] for _fmt, _key, record in outcome.outputs])
        assert got == [[want]] * 3, form


def _cli(tmp_path: Path, events: list[dict[str, Any]], *args: str) -> list[dict[str, Any]]:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    result = CliRunner().invoke(cli, ["transform", "--format", "xapi", "--cdc", str(ERB_DIR / "seed.jsonl"),
                                      "--input", str(source), "--output", str(out), "--explain", *args])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


def test_cli_gives_erbs_live_ids_by_default_and_its_replay_ids_with_id_form_replay(tmp_path: Path) -> None:
    checked = xapi_cases()
    events = [event for _name, event, _statements in checked]
    live = _cli(tmp_path, events)
    replayed = _cli(tmp_path, events, "--id-form", "replay")
    assert _cli(tmp_path, events, "--id-form", "live") == live
    compared = 0
    for (name, event, statements), got_live, got_replay in zip(checked, live, replayed, strict=True):
        if got_replay["error"] is not None:
            continue  # ERB's tests call transformers directly; the CLI applies its allow list
        assert [s["id"] for s in got_replay["output"]] == [s["id"] for s in statements], name
        stamp = str(datetime.fromisoformat(raw_stamp(event)))
        assert [s["id"] for s in got_live["output"]] == erb_ids(statements, stamp), name
        compared += 1
    assert compared > 50


def test_cli_gives_live_ids_for_every_input_shape(tmp_path: Path) -> None:
    event = VIDEO.event
    bus = {"tracking_log": {"name": event["name"], "timestamp": event["timestamp"],
                            "data": orjson.dumps(event["data"]).decode(),
                            "context": orjson.dumps(event["context"]).decode()}}
    shapes = [event, _tracking_log_line(event), bus]
    for args, want in (((), "6d582bd3-494a-5312-a776-bb09746d2b01"),
                       (("--id-form", "replay"), "f7c8b743-f18f-5016-8455-35ff8a2f8020")):
        out = _cli(tmp_path, shapes, "--version-string", "event-routing-backends@1.1.1", *args)
        assert [[s["id"] for s in line["output"]] for line in out] == [[want]] * 3
