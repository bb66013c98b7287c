"""Small Kafka helpers shared by the worker and the CLI: broker URLs, topic creation, partitioning.

Faust reads `kafka://host:port` URLs while confluent-kafka wants bare
`host:port` lists; topics must be created explicitly (the embedded broker does
not auto-create them, and production clusters often forbid it); and anything
that addresses a partition by key must hash exactly like Faust's producer
(murmur2 of the serialised key), or table lookups land on the wrong shard.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import lru_cache

import orjson
from aiokafka.partitioner import murmur2
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from stream_app.topics import TopicSpec


def bootstrap_servers(broker: str) -> str:
    """`kafka://a:9092;kafka://b:9092` or `kafka://a:9092,b:9092` → `a:9092,b:9092`."""
    hosts = []
    for part in broker.replace(";", ",").split(","):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            hosts.append(part.rstrip("/"))
    return ",".join(hosts)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Faust's default partitioner picks for serialised key bytes."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


@lru_cache(maxsize=100_000)
def actor_partition(key: str, partitions: int) -> int:
    """The events-by-actor (and users table) partition of an actor key: the JSON key bytes, as Faust's tables."""
    # Cached: aiokafka's murmur2 is pure Python (~10 µs), and the same learners recur all day.
    return partition_for(orjson.dumps(key), partitions)


def topic_config(spec: TopicSpec) -> dict[str, str]:
    """Broker-side topic configuration from a declaration."""
    config: dict[str, str] = {}
    if spec.compacting:
        config["cleanup.policy"] = "compact"
    if spec.retention is not None:
        config["retention.ms"] = str(int(spec.retention * 1000))
    return config


def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec], default_partitions: int, replication: int, timeout: float = 30.0
) -> list[str]:
    """Create the declared topics that do not exist yet; return the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = set(admin.list_topics(timeout=5).topics)
            break
        except Exception:  # noqa: BLE001 — the broker may still be starting; retry until the deadline
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    wanted = [
        NewTopic(
            spec.name,
            num_partitions=spec.partitions or default_partitions,
            replication_factor=spec.replicas or replication,
            config=topic_config(spec),
        )
        for spec in specs
        if spec.name not in existing
    ]
    created = []
    if wanted:
        for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
            try:
                future.result()
                created.append(name)
            except Exception as exc:  # noqa: BLE001
                # Another worker may have created it between our listing and our request.
                if "exist" not in str(exc).lower():
                    raise
    return created
