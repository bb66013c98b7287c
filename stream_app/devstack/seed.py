"""Produce sample data into a broker: CDC seed records and tracking events, for the dev stack and tests.

CDC records are `{"topic", "key", "value"}` JSONL lines (the `--cdc` format of
`stream-app transform`); their topic is matched to the declared CDC topic of the
same source table, so a seed written for the default names also works with
renamed topics. Keys and values are sent as JSON, as Debezium's JSON converter does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from confluent_kafka import Producer

from stream_app.compat import confluent_producer_options
from stream_app.tables.dimensions import table_of
from stream_app.topics import TopicSpec, topics

CDC_KEYS = {
    "auth_user": "cdc_auth_user",
    "auth_userprofile": "cdc_auth_userprofile",
    "external_user_ids_externalid": "cdc_external_id",
    "external_user_ids_externalidtype": "cdc_external_id_type",
    "course_overviews_courseoverview": "cdc_course_overview",
    "course_blocks": "cdc_course_blocks",
}


def producer(bootstrap: str, flavor: str) -> Producer:
    """A confluent-kafka producer with the broker flavor's settings."""
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **confluent_producer_options(flavor)})


def cdc_topic(record_topic: str, specs: Mapping[str, TopicSpec] | None = None) -> str:
    """The declared topic name for a seed record's topic (matched by source table)."""
    key = CDC_KEYS.get(table_of(record_topic))
    if key is None:
        raise ValueError(f"not a CDC topic of a known table: {record_topic!r}")
    return (specs or topics())[key].name


def produce_cdc(prod: Producer, records: Iterable[dict[str, Any]], specs: Mapping[str, TopicSpec] | None = None) -> int:
    """Produce CDC seed records; returns the count."""
    count = 0
    for record in records:
        key = record.get("key")
        value = record.get("value")
        prod.produce(
            cdc_topic(record["topic"], specs),
            key=None if key is None else orjson.dumps(key),
            value=None if value is None else orjson.dumps(value),
        )
        prod.poll(0)
        count += 1
    prod.flush()
    return count


def produce_tracking(prod: Producer, lines: Iterable[bytes], key: bytes | None = None,
                     specs: Mapping[str, TopicSpec] | None = None) -> int:
    """Produce raw tracking-event lines to the tracking topic; returns the count."""
    name = (specs or topics())["tracking"].name
    count = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        while True:
            try:
                prod.produce(name, key=key, value=line)
                break
            except BufferError:
                prod.poll(0.1)
        prod.poll(0)
        count += 1
    prod.flush()
    return count
