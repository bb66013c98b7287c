"""An isolated stream_app deployment on the shared test broker: its own topic names, app id and workers.

Each test builds a `Stack`: a topics file whose names carry a unique prefix and
a unique app id, so tests never see each other's records, groups or changelogs
on the one session broker. Workers are real `faust -A stream_app worker`
processes; records are produced and read with confluent-kafka, and output is
decoded with confluent-kafka's AvroDeserializer through the HTTP registry.
"""

from __future__ import annotations

import signal
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

from stream_app.codecs.avro import AvroDecoder, registry_client
from stream_app.devstack import seed
from stream_app.devstack.processes import Proc, free_port, start_registry, start_worker, worker_env
from stream_app.topics import DEFAULT_FILE, TopicSpec, load_topics


class Stack:
    """Topics, workers and readers for one test."""

    def __init__(self, tmp_path: Path, bootstrap: str, registry_url: str, name: str, **env: str) -> None:
        self.tmp = tmp_path
        self.bootstrap = bootstrap
        self.registry_url = registry_url
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        data = yaml.safe_load(DEFAULT_FILE.read_text())
        for spec in data["topics"].values():
            spec["name"] = f"{tag}.{spec['name']}"
        self.topics_file = tmp_path / "topics.yaml"
        self.topics_file.write_text(yaml.safe_dump(data))
        self.specs: dict[str, TopicSpec] = load_topics(self.topics_file)
        self.env = {
            "STREAM_APP_TOPICS_FILE": str(self.topics_file),
            "STREAM_APP_APP_ID": tag,
            "STREAM_APP_LATE_DIMENSION_RETRY": "1s",
            "STREAM_APP_EXTERNAL_ID_GRACE": "10s",
            **env,
        }
        self.workers: list[Proc] = []
        self._producer = seed.producer(bootstrap, "tansu")

    def start_worker(self, name: str, data_dir: Path | None = None, as_module: bool = False,
                     **env: str) -> tuple[Proc, int]:
        """Start a worker process (`python -m stream_app worker` if `as_module`); returns it and its web port."""
        port = free_port()
        full = worker_env(self.bootstrap, self.registry_url, data_dir or self.tmp / f"data-{name}", port,
                          {**self.env, **env})
        proc = start_worker(name, self.tmp / "logs", full, as_module)
        self.workers.append(proc)
        return proc, port

    def stop_all(self) -> None:
        for proc in self.workers:
            proc.stop()

    def produce_cdc(self, records: Iterable[dict[str, Any]]) -> int:
        return seed.produce_cdc(self._producer, records, self.specs)

    def produce_tracking(self, lines: Iterable[bytes]) -> int:
        return seed.produce_tracking(self._producer, lines, specs=self.specs)

    def read(self, key: str, expected: int, timeout: float = 60.0, settle: float = 2.0,
             done: Callable[[list[dict[str, Any]]], bool] | None = None) -> list[dict[str, Any]]:
        """Decode every record of an output topic once `expected` have arrived (and `settle` s passed).

        With `done`, wait until `done(records)` holds instead of counting: at-least-once delivery means a
        count can be reached by duplicates while some records are still to come.
        """
        name = self.specs[key].name
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                             "session.timeout.ms": 6000, "enable.auto.commit": False})
        decoder = AvroDecoder(registry_client(self.registry_url), name) if self.specs[key].value == "avro" else None
        try:
            partitions = list(consumer.list_topics(name, timeout=10).topics[name].partitions)
            consumer.assign([TopicPartition(name, p, 0) for p in partitions])
            out: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout
            settled_at: float | None = None
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                value = message.value() if message is not None and not message.error() else None
                if value is not None:
                    out.append(decoder.decode(value) if decoder else orjson.loads(value))
                if (done(out) if done is not None else len(out) >= expected):
                    settled_at = settled_at or time.monotonic()
                    if time.monotonic() - settled_at >= settle:
                        break
            return out
        finally:
            consumer.close()


def web_json(port: int, path: str) -> Any:
    """GET a worker web view and decode its JSON."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return orjson.loads(response.read())


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.5, explain: Any = None) -> Any:
    """Poll `predicate()` until it returns a truthy value; return it. On timeout the error carries
    `explain()` (what was seen last), when given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time" + (f"; last seen: {explain()}" if explain else ""))


class RegistryProcess:
    """`stream-app registry` as a subprocess storing into its own topic; restartable on the same port."""

    def __init__(self, broker: str, tmp_path: Path) -> None:
        self.topic = f"test.schemas.{uuid.uuid4().hex[:8]}"
        declared = yaml.safe_load(DEFAULT_FILE.read_text())
        declared["topics"]["schemas"]["name"] = self.topic
        topics_file = tmp_path / "topics.yaml"
        topics_file.write_text(yaml.safe_dump(declared))
        self.broker, self.port, self.log_dir = broker, free_port(), tmp_path / "logs"
        self.env = {"STREAM_APP_TOPICS_FILE": str(topics_file)}
        self.proc: Proc | None = None

    def start(self) -> None:
        # The port opens only after the storage topic has been replayed.
        self.proc, _ = start_registry(self.log_dir, self.broker, self.port, self.env)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop (by default gracefully, checking the exit status); SIGKILL leaves nothing a chance to flush."""
        if self.proc is not None:
            status = self.proc.stop(sig)
            assert sig == signal.SIGKILL or status == 0, self.proc.tail()
            self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> SchemaRegistryClient:
        """A new client: an empty cache, so every answer below comes from the server."""
        return SchemaRegistryClient({"url": self.url})

    def stored_keys(self) -> list[str]:
        """The keys of the storage topic, read from the beginning (assign, no consumer group)."""
        consumer = Consumer({"bootstrap.servers": self.broker, "group.id": "test", "enable.auto.commit": False})
        try:
            _, end = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=10)
            consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
            keys: list[str] = []
            while len(keys) < end:
                message = consumer.poll(10.0)
                assert message is not None and message.error() is None
                keys.append((message.key() or b"").decode())
            return keys
        finally:
            consumer.close()
