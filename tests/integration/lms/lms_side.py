"""The LMS side of the event bus, driven by the real packages: run only in the LMS virtualenv (`make lms`).

openedx-events, edx-event-bus-kafka and event-tracking pin Django and need Python 3.12, so they cannot
live in stream_app's virtualenv: the integration test runs this script under `.venv-lms/bin/python`
(`STREAM_APP_TEST_LMS_PYTHON` overrides it). Django is configured with `settings.configure(...)` the
way edx-platform's producer settings are — the settings block of docs/lms-event-bus.md, verbatim, with
this test's broker and registry addresses — then one of three commands runs:

    produce CONFIG EVENTS   event-tracking's EventBusRoutingBackend.send for each event of the JSONL
                            file (its timestamp held as a timezone-aware datetime, as the LMS tracker
                            holds it), then the event-bus producer is flushed.
    consume CONFIG COUNT OUT  edx-event-bus-kafka's KafkaEventConsumer, whose messages go through
                            openedx-events' deserialiser and event-tracking's signal handler to the
                            backend ERB's event-bus router sits at; this records what that backend is
                            handed (the `timestamp`'s type, str() and isoformat) as JSONL in OUT. Its
                            session timeout is 6 s (librdkafka's 45 s default makes the join slow here).
    ids STATEMENTS          for each JSONL line `{"statement", "timestamp", "child_id"}`, ERB's statement
                            id formula with tincan's own Agent/Verb JSON: one id per line on stdout.

CONFIG is a JSON object: settings_doc (the page's path), bootstrap, registry_url, topic_prefix, group.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from datetime import datetime
from typing import Any

CAPTURED: list[dict[str, Any]] = []
STATE: dict[str, Any] = {"consumer": None, "count": 0}


class CaptureBackend:
    """Stands where ERB's SyncEventsRouter stands under the event-bus engine: records what it is handed."""

    def __init__(self, **_options: Any) -> None:
        pass

    def send(self, event: dict[str, Any]) -> None:
        timestamp = event["timestamp"]
        CAPTURED.append({"name": event["name"], "type": type(timestamp).__name__, "str": str(timestamp),
                         "isoformat": timestamp.isoformat() if isinstance(timestamp, datetime) else None,
                         "data": event["data"], "context": event["context"]})
        consumer = STATE["consumer"]
        if consumer is not None and len(CAPTURED) >= STATE["count"]:
            consumer._shut_down()  # edx-event-bus-kafka's own way out of its consume loop


def documented_settings(path: str) -> dict[str, Any]:
    """The LMS settings block of docs/lms-event-bus.md, run as the LMS's settings module would run it."""
    text = open(path, encoding="utf-8").read()
    section = text[text.index("## LMS settings"):]
    block = section[section.index("```python\n") + len("```python\n"):section.index("\n```\n")]
    namespace: dict[str, Any] = {"EVENT_TRACKING_BACKENDS": {}}
    exec(compile(block, path, "exec"), namespace)  # noqa: S102 — the operator's settings, verbatim
    return {key: value for key, value in namespace.items() if key.isupper()}


def configure(config: dict[str, Any]) -> None:
    """Django with the documented LMS settings; only the cluster's addresses are this test's."""
    import django
    from django.conf import settings

    lms = documented_settings(config["settings_doc"])
    lms.update(
        EVENT_BUS_KAFKA_BOOTSTRAP_SERVERS=config["bootstrap"],
        EVENT_BUS_KAFKA_SCHEMA_REGISTRY_URL=config["registry_url"],
        EVENT_BUS_TOPIC_PREFIX=config["topic_prefix"],
    )
    # On the consuming side, ERB's router is a backend of the event-bus engine: the recorder stands there.
    for engine in lms["EVENT_TRACKING_BACKENDS"].values():
        if engine["ENGINE"] == "eventtracking.backends.event_bus.EventBusRoutingBackend":
            engine["OPTIONS"]["backends"] = {"xapi": {"ENGINE": "__main__.CaptureBackend", "OPTIONS": {}}}
    settings.configure(
        INSTALLED_APPS=["eventtracking.django.apps.EventTrackingConfig", "openedx_events", "edx_event_bus_kafka"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
        EVENT_TRACKING_ENABLED=True,
        EVENT_TRACKING_PROCESSORS=[],
        EVENT_BUS_CONSUMER="edx_event_bus_kafka.KafkaEventConsumer",
        EVENT_BUS_KAFKA_CONSUMER_CONSECUTIVE_ERRORS_LIMIT=5,
        OPENEDX_TELEMETRY=[],
        **lms,
    )
    django.setup()


def produce(config: dict[str, Any], events_path: str) -> None:
    from eventtracking.backends.event_bus import EventBusRoutingBackend
    from eventtracking.tracker import get_tracker
    from openedx_events.event_bus import get_producer

    (backend,) = [b for b in get_tracker().backends.values() if isinstance(b, EventBusRoutingBackend)]
    sent = 0
    with open(events_path, encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            # The LMS tracker holds `timestamp` as an aware datetime (datetime.now(UTC)).
            event["timestamp"] = datetime.fromisoformat(event["timestamp"])
            backend.send(event)
            sent += 1
    get_producer().prepare_for_shutdown()  # flushes: every record is on the broker when this returns
    print(json.dumps({"sent": sent}))


def _rewind(config: dict[str, Any], topic: str) -> None:
    # A new consumer group starts at the end of the topic; the test produced first, so the group is
    # pointed at the start, as an operator would with their admin tools.
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": config["bootstrap"]})
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(config["group"], [TopicPartition(topic, p, 0) for p in partitions])
    for future in admin.alter_consumer_group_offsets([request]).values():
        future.result(timeout=30)


def _short_session() -> None:
    # The embedded broker (Tansu) holds a group join for half the session timeout, and the consumer's
    # librdkafka default is 45 s (edx-event-bus-kafka has no setting for it): the join alone took ~25 s.
    # 6 s, as the test's own group consumers use; what the consumer hands the backend is unchanged.
    from edx_event_bus_kafka.internal import consumer as module

    common = module.load_common_settings
    module.load_common_settings = lambda: {**(common() or {}), "session.timeout.ms": 6000}


def consume(config: dict[str, Any], count: int, out_path: str, timeout: float = 300.0) -> None:
    from edx_event_bus_kafka.internal.config import get_full_topic
    from edx_event_bus_kafka.internal.consumer import KafkaEventConsumer

    _rewind(config, get_full_topic("analytics"))
    _short_session()
    consumer = KafkaEventConsumer(topic="analytics", group_id=config["group"])
    STATE.update(consumer=consumer, count=count)
    timer = threading.Timer(timeout, consumer._shut_down)  # a bounded run even if records are missing
    timer.start()
    try:
        consumer.consume_indefinitely()
    finally:
        timer.cancel()
    with open(out_path, "w", encoding="utf-8") as out:
        for record in CAPTURED:
            out.write(json.dumps(record) + "\n")


def ids(statements_path: str) -> None:
    from tincan import Agent, Verb

    dns = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    with open(statements_path, encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            statement = item["statement"]
            verb = Verb.from_json(json.dumps(statement["verb"])).to_json()
            actor = Agent.from_json(json.dumps(statement["actor"])).to_json()
            namespace_key = verb if item.get("child_id") is None else f"{verb}-{item['child_id']}"
            name = f"{actor}-{item['timestamp']}"
            print(uuid.uuid5(uuid.uuid5(dns, namespace_key), name.encode("utf-8")))


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "ids":
        ids(argv[1])
        return
    with open(argv[1], encoding="utf-8") as file:
        config = json.load(file)
    configure(config)
    if command == "produce":
        produce(config, argv[2])
    elif command == "consume":
        consume(config, int(argv[2]), argv[3])
    else:
        raise SystemExit(f"unknown command {command!r}: produce, consume or ids")


if __name__ == "__main__":
    main(sys.argv[1:])
