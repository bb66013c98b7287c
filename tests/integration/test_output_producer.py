"""The output producer on the real broker: a batch's `stored` resolves only once the broker holds its records."""

from __future__ import annotations

import asyncio
import uuid

from confluent_kafka import Consumer

from stream_app.kafka import ensure_topics
from stream_app.output import InOrderAcks, OutputProducer
from stream_app.settings import Settings
from stream_app.topics import TopicSpec


def test_batches_resolve_once_stored_and_acks_come_in_order(broker: str) -> None:
    topic = f"out-{uuid.uuid4().hex[:8]}"
    ensure_topics(broker, [TopicSpec(key="out", name=topic, partitions=4)], 4, 1)
    acked: list[int] = []

    async def scenario() -> None:
        out = OutputProducer(Settings(broker=f"kafka://{broker}"))
        acks = InOrderAcks(in_flight=2)
        for number in range(5):
            batch = out.batch()
            for i in range(100):
                out.produce(topic, f"user{i % 7}".encode(), f"{number}:{i}".encode(), batch=batch)
            await acks.add(batch, [number], acked.append)
        deadline = asyncio.get_running_loop().time() + 60
        while len(acked) < 5 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        out.close()

    asyncio.run(scenario())
    assert acked == [0, 1, 2, 3, 4]
    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"check-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen: list[bytes] = []
    try:
        for _ in range(60):
            seen += [m.value() or b"" for m in consumer.consume(1000, 1.0) if m.error() is None]
            if len(seen) >= 500:
                break
    finally:
        consumer.close()
    assert sorted(seen) == sorted(f"{n}:{i}".encode() for n in range(5) for i in range(100))
