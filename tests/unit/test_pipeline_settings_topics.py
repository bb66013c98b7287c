"""Worker glue without Faust: routing decisions, per-format processing, settings parsing, topics.yaml loading."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_app.codecs.records import course_org, xapi_record
from stream_app.pipeline import build_engine, process, process_raw, route
from stream_app.settings import Settings, parse_duration
from stream_app.topics import TopicsFileError, load_topics
from tests.golden.harness import cases, erb_lookup

LINK = next(c.event for c in cases() if c.name == "edx.ui.lms.link_clicked")
ENGINE = build_engine(Settings())
BOTH = ("xapi", "caliper")


def test_route_keys_by_user_id_then_username_and_explains_skips() -> None:
    assert route(orjson.dumps(LINK), ENGINE, BOTH).key == "3"
    by_name = {**LINK, "context": {**LINK["context"], "user_id": None, "username": "edx"}}
    assert route(orjson.dumps(by_name), ENGINE, BOTH).key == "edx"
    anonymous = {**LINK, "context": {**LINK["context"], "user_id": None, "username": ""}}
    assert route(orjson.dumps(anonymous), ENGINE, BOTH).skip == "anonymous_user"
    assert route(b"{oops", ENGINE, BOTH).reject == "invalid_json"
    assert route(orjson.dumps({"name": "edx.unknown"}), ENGINE, BOTH).skip == "not_allowed"
    assert route(orjson.dumps([1]), ENGINE, BOTH).reject == "invalid_event:not_an_object"


def test_process_builds_records_for_both_formats_and_holds_unknown_users() -> None:
    outcome = process_raw(orjson.dumps(LINK), ENGINE, erb_lookup(), BOTH)
    assert [fmt for fmt, _, _ in outcome.outputs] == ["xapi", "caliper"]
    record = outcome.outputs[0][2]
    assert record["event_name"] == "edx.ui.lms.link_clicked" and record["org"] == "edX"
    assert orjson.loads(record["statement"])["id"] == record["event_id"]
    from stream_app.transforms.dimensions import EmptyLookup

    held = process_raw(orjson.dumps(LINK), ENGINE, EmptyLookup(), BOTH)
    assert held.missing == "unknown_user" and held.outputs == []


class CountingLookup:
    """A lookup that counts its user and course reads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: Counter[str] = Counter()

    def user(self, key: str | int) -> Any:
        self.reads["user"] += 1
        return self.inner.user(key)

    def course(self, course_id: str) -> Any:
        self.reads["course"] += 1
        return self.inner.course(course_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_process_reads_user_and_course_once_for_all_formats_and_matches_single_transforms() -> None:
    three = ("xapi", "caliper", "caliper11")
    for case in cases():
        counting = CountingLookup(erb_lookup())
        outcome = process_raw(orjson.dumps(case.event), ENGINE, counting, three)
        assert counting.reads["user"] <= 1 and counting.reads["course"] <= 1, case.name
        # Sharing one field cache and one lookup between formats changes no output.
        for fmt in three:
            produced = [orjson.loads(r["statement" if fmt == "xapi" else "event"]) for f, _, r in outcome.outputs
                        if f == fmt]
            result = ENGINE.run(fmt, case.event, erb_lookup())
            if not outcome.missing:  # Caliper ids are deterministic too, so whole outputs compare
                assert produced == result.output, (case.name, fmt)


def test_records_and_org() -> None:
    assert course_org("course-v1:edX+DemoX+Demo_Course") == "edX"
    assert course_org("not a key") is None
    statement = {"id": "i", "verb": {"id": "v"}, "actor": {"mbox": "mailto:a@b.c"}, "object": {"id": "o"},
                 "timestamp": "1970-01-01T00:00:01.5+00:00"}
    record = xapi_record(statement, "n", None, None)
    assert record["actor_id"] == "mailto:a@b.c" and record["emission_time"] == 1_500_000


def test_durations_and_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_duration("10m") == 600 and parse_duration("1.5s") == 1.5 and parse_duration("250ms") == 0.25
    with pytest.raises(ValueError):
        parse_duration("soon")
    monkeypatch.setenv("STREAM_APP_LATE_DIMENSION_WAIT", "2m")
    monkeypatch.setenv("STREAM_APP_XAPI_ACTOR_IFI", "mbox")
    monkeypatch.setenv("STREAM_APP_XAPI_ALLOWED_EVENTS", "problem_check,re:edx\\.video\\..*")
    settings = Settings()
    assert settings.late_dimension_wait == 120
    assert settings.transform_settings().ifi == "mbox"
    engine = build_engine(settings)
    assert engine.allows("xapi", "edx.video.played") and not engine.allows("xapi", "play_video")
    page = "/courses/course-v1:edX+DemoX+Demo_Course/info"
    assert not engine.allows("caliper11", page) and engine.allows("caliper11", "play_video")
    monkeypatch.setenv("STREAM_APP_CALIPER11_PAGE_VIEWS", "true")
    engine = build_engine(Settings())
    assert engine.allows("caliper11", page) and engine.allows("caliper11", "play_video")
    monkeypatch.setenv("STREAM_APP_CALIPER11_ALLOWED_EVENTS", "play_video")
    engine = build_engine(Settings())
    assert engine.allows("caliper11", page) and not engine.allows("caliper11", "pause_video")


def test_topics_file_errors_name_the_topic_and_field(tmp_path: Path) -> None:
    topics = load_topics()
    assert topics["xapi"].name == "openedx.xapi" and topics["xapi"].value == "avro"
    bad = tmp_path / "topics.yaml"
    bad.write_text("topics:\n  xapi:\n    name: x\n    valu: avro\n")
    with pytest.raises(TopicsFileError, match="topic 'xapi': unknown field"):
        load_topics(bad)
    bad.write_text("topics:\n  xapi:\n    name: x\n")
    with pytest.raises(TopicsFileError, match="missing topic declaration"):
        load_topics(bad)


EVENT_BUS_SCHEMA = """{"type": "record", "name": "CloudEvent",
 "namespace": "org.openedx.analytics.tracking.event.emitted.v1",
 "fields": [{"name": "tracking_log", "type": {"type": "record", "name": "TrackingLogData", "fields": [
   {"name": "name", "type": "string"}, {"name": "timestamp", "type": "string"},
   {"name": "data", "type": "string"}, {"name": "context", "type": "string"}]}}]}"""


def test_event_bus_avro_tracking_log_data_gives_the_same_statements() -> None:
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from stream_app.codecs.avro import AvroDecoder, registry_client
    from stream_app.pipeline import AvroTracking

    client = registry_client("mock://event-bus")
    serializer = AvroSerializer(client, EVENT_BUS_SCHEMA)
    payload = {"tracking_log": {"name": LINK["name"], "timestamp": LINK["timestamp"],
                                "data": orjson.dumps(LINK["data"]).decode(),
                                "context": orjson.dumps(LINK["context"]).decode()}}
    raw = serializer(payload, SerializationContext("openedx.tracking", MessageField.VALUE))
    assert raw is not None and raw[:1] == b"\x00"
    parse = AvroTracking(AvroDecoder(client, "openedx.tracking"))
    routed = route(raw, ENGINE, BOTH, parse)
    assert routed.key == "3" and routed.parsed is not None
    from_bus = process(routed.parsed.event, ENGINE, erb_lookup(), BOTH, routed.parsed.fallback)
    from_json = process_raw(orjson.dumps(LINK), ENGINE, erb_lookup(), BOTH)
    assert [o[2]["event_id"] for o in from_bus.outputs] == [o[2]["event_id"] for o in from_json.outputs]
    assert route(b"\x00garbage", ENGINE, BOTH, parse).reject is not None


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    """`.env.example` is the operators' list of STREAM_APP_* variables: it follows the Settings class."""
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*(STREAM_APP_[A-Z0-9_]+)=", text, re.M))
    assert listed == {f"STREAM_APP_{name.upper()}" for name in Settings.model_fields}


def test_the_package_carries_the_root_topics_file_itself() -> None:
    """`stream_app/topics.yaml` is a link to the root `topics.yaml` (one declaration; a wheel install copies it)."""
    from stream_app.topics import DEFAULT_FILE, PACKAGED_FILE

    assert PACKAGED_FILE.is_symlink() and PACKAGED_FILE.resolve() == DEFAULT_FILE.resolve()
