"""The username index as a process without Faust holds it: read from the `usernames` table's changelog.

The ingest process (`stream_app.ingestproc`) routes an event named only by a
username to its user's partition, as the worker's global `usernames` table
does; it has no Faust app, so it keeps its own copy: a thread reads the
changelog topic Faust writes for that table (JSON keys and values, a tombstone
when a username is deleted or renamed away) from its start and follows it.
`caught_up` is set once it has read what the changelog held when it started.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from stream_app.compat import confluent_consumer_options
from stream_app.kafka import bootstrap_servers
from stream_app.patches import CHANGELOG_SUFFIX
from stream_app.settings import Settings

log = logging.getLogger(__name__)


def changelog_topic(app_id: str, table: str) -> str:
    """The changelog topic Faust names for a table of app `app_id` (app version 1, as ours)."""
    return f"{app_id}-{table}{CHANGELOG_SUFFIX}"


class UsernameIndex:
    """username → user id, read from the `usernames` table's changelog (Faust's JSON keys and values)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._settings = settings
        self._topic = topic
        self._ids: dict[str, Any] = {}
        self.caught_up = threading.Event()  # read up to the end the changelog had when the index started
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="username-index", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)

    def get(self, username: str) -> Any:
        return self._ids.get(username)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One changelog record: a user id, or a tombstone (the username was deleted or renamed)."""
        if key is None:
            return
        try:
            username = orjson.loads(key)
            user_id = None if value is None else orjson.loads(value)
        except orjson.JSONDecodeError:
            username = None
        if not isinstance(username, str):  # not a record Faust wrote: skipped, the index goes on
            log.warning("ingest: username index skipped a changelog record it cannot read (key %r)", key[:100])
            return
        if user_id is None:
            self._ids.pop(username, None)
        else:
            self._ids[username] = user_id

    def _run(self) -> None:
        settings = self._settings
        consumer = Consumer({
            "bootstrap.servers": bootstrap_servers(settings.broker),
            "group.id": f"{settings.tracking_group()}-usernames",  # required by librdkafka; never joined
            "enable.auto.commit": False,
            **confluent_consumer_options(settings.broker_flavor),
        })
        partition = TopicPartition(self._topic, 0)
        try:
            end = self._end(consumer, partition)
            consumer.assign([TopicPartition(self._topic, 0, OFFSET_BEGINNING)])
            if end == 0:
                self.caught_up.set()
            while not self._stopping.is_set():
                for message in consumer.consume(1000, 0.2):
                    if message.error() is None:
                        self.apply(message.key(), message.value())
                if not self.caught_up.is_set() and consumer.position([partition])[0].offset >= end:
                    log.info("ingest: username index read (%d names)", len(self._ids))
                    self.caught_up.set()
        finally:
            consumer.close()

    def _end(self, consumer: Consumer, partition: TopicPartition) -> int:
        """The changelog's end now; waits while the broker cannot say."""
        while not self._stopping.is_set():
            try:
                return int(consumer.get_watermark_offsets(partition, timeout=10)[1])
            except KafkaException as exc:
                log.warning("ingest: end of %s unknown (%s); asking again", self._topic, exc)
                time.sleep(1)
        return 0
