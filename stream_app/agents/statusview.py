"""The latest record per key of the delivery-status topic, as every worker sees it: read to the end, then tailed.

`stream_app.delivery-status` is compacted and keyed: a router's name holds its
last published state (`failing` / `delivering`), `alerts:<router>` what the
alert agent last mailed about it. A worker that starts, or takes over a
router's partitions or the alert agent, must know these to neither repeat a
`failing` nor miss a `delivering` (see `agents.stats` and `agents.alerts`).
Compaction only bounds what is kept; the embedded broker never compacts, so the
view reads the topic from the beginning and keeps the last record of each key.
It runs a confluent-kafka consumer without a group (assigned partitions, no
commits) in a daemon thread, and is `ready` once it has read up to the end
the topic had when it started. Records this worker publishes are noted at once
(`note`), before the broker returns them; of two records of one key the one
with the later `time` wins, whichever arrives last.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from stream_app.compat import confluent_consumer_options
from stream_app.kafka import bootstrap_servers
from stream_app.settings import Settings

log = logging.getLogger(__name__)
READY_TIMEOUT = 60.0  # seconds a delivery or alert agent waits for the view before it goes on without


class StatusView:
    """Last (offset, body) per key of one small topic; offset None for a record noted before it was read."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self._settings = settings
        self._latest: dict[str, tuple[int | None, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start reading (idempotent); records are there once `ready` returns."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"view-{self.topic}", daemon=True)
            self._thread.start()

    async def ready(self, timeout: float = READY_TIMEOUT) -> bool:
        """Wait until the topic was read up to where it ended at start; False (logged) after `timeout`."""
        self.start()
        done = await asyncio.get_running_loop().run_in_executor(None, self._ready.wait, timeout)
        if not done:
            log.warning("%s not read to its end after %.0f s: going on with what was read", self.topic, timeout)
        return done

    def get(self, key: str) -> tuple[int | None, dict[str, Any]] | None:
        """The latest record of `key`: (offset, body), or None."""
        with self._lock:
            return self._latest.get(key)

    def items(self) -> list[tuple[str, int | None, dict[str, Any]]]:
        """Every key's latest record."""
        with self._lock:
            return [(key, offset, body) for key, (offset, body) in self._latest.items()]

    def note(self, key: str, body: dict[str, Any], offset: int | None = None) -> None:
        """Keep a record (published by this worker, or read); an older `time` than the kept one is ignored."""
        with self._lock:
            kept = self._latest.get(key)
            if kept is not None and _time(kept[1]) > _time(body):
                return
            if kept is not None and offset is None and _time(kept[1]) == _time(body):
                return  # the same record, already read from the topic with its offset
            self._latest[key] = (offset, body)

    def _run(self) -> None:
        while True:
            try:
                self._read()
            except Exception:  # noqa: BLE001 — the view must outlive a broker hiccup; reads again
                log.exception("reading %s failed; reading it again", self.topic)
                threading.Event().wait(1.0)

    def _read(self) -> None:
        consumer = Consumer({
            "bootstrap.servers": bootstrap_servers(self._settings.broker),
            "group.id": f"status-view-{uuid.uuid4().hex}",  # required by librdkafka; never joined nor committed
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **confluent_consumer_options(self._settings.broker_flavor),
        })
        try:
            metadata = consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise KafkaException(f"topic {self.topic} not found")
            partitions = sorted(metadata.partitions)
            ends = {p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
                    for p in partitions}
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
            read = {p: 0 for p in partitions}
            while True:
                if all(read[p] >= ends[p] for p in partitions):
                    self._ready.set()
                message = consumer.poll(0.5)
                if message is None or message.error() is not None:
                    continue
                read[message.partition() or 0] = (message.offset() or 0) + 1
                self._keep(message.key(), message.value(), message.offset())
        finally:
            consumer.close()

    def _keep(self, key: bytes | None, value: bytes | None, offset: int | None) -> None:
        if not key or not value:
            return
        try:
            body = orjson.loads(value)
        except orjson.JSONDecodeError:
            return
        if isinstance(body, dict):
            self.note(key.decode("utf-8", "replace"), body, offset)


def _time(body: dict[str, Any]) -> float:
    value = body.get("time")
    return float(value) if isinstance(value, (int, float)) else 0.0
