"""The output producer's batches and in-order acknowledgements: nothing is acknowledged before it is stored.

A stand-in for librdkafka's producer serves delivery reports from the producer's
poller thread, as the real one does, and can refuse a record once, so the
re-produce path is exercised too (the real broker stores everything it is given).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException

from stream_app import deadletter
from stream_app.output import Batch, InOrderAcks, OutputProducer
from stream_app.settings import Settings
from stream_app.topics import EVENT_HEADER


class _Message:
    def __init__(self, topic: str, key: bytes | None, value: bytes, headers: Any, partition: int) -> None:
        self._fields = (topic, key, value, headers, partition)

    def topic(self) -> str:
        return self._fields[0]

    def key(self) -> bytes | None:
        return self._fields[1]

    def value(self) -> bytes:
        return self._fields[2]

    def headers(self) -> Any:
        return self._fields[3]

    def partition(self) -> int:
        return self._fields[4]


class FakeProducer:
    """Queues records; `poll` reports them, refusing each value in `refuse` the first time it is seen.

    Values in `too_large` are refused as the broker refuses an oversized record, every time; values in
    `unqueueable` raise at `produce` as librdkafka does for a record over its own size limit.
    """

    def __init__(self, refuse: tuple[bytes, ...] = (), deliver: bool = True, too_large: tuple[bytes, ...] = (),
                 unqueueable: tuple[bytes, ...] = ()) -> None:
        self.refuse = set(refuse)
        self.too_large = set(too_large)
        self.unqueueable = set(unqueueable)
        self.deliver = deliver
        self.stored: list[bytes] = []
        self.produced = 0
        self._queue: list[tuple[_Message, Any]] = []
        self._lock = threading.Lock()

    def produce(self, topic: str, key: bytes | None = None, value: bytes = b"", headers: Any = None,
                partition: int = -1, on_delivery: Any = None) -> None:
        if value in self.unqueueable:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        with self._lock:
            self.produced += 1
            self._queue.append((_Message(topic, key, value, headers, partition), on_delivery))

    def poll(self, timeout: float) -> int:
        if not self.deliver:
            time.sleep(min(timeout, 0.01))
            return 0
        with self._lock:
            queue, self._queue = self._queue, []
        for message, report in queue:
            if message.value() in self.refuse:
                self.refuse.discard(message.value())
                report(KafkaError(KafkaError._MSG_TIMED_OUT), message)
            elif message.value() in self.too_large:
                report(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), message)
            else:
                self.stored.append(message.value())
                report(None, message)
        if not queue:
            time.sleep(min(timeout, 0.01))
        return len(queue)

    def flush(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self._queue and self.deliver and time.monotonic() < deadline:
            self.poll(0)
        return len(self._queue)


def _producer(fake: FakeProducer) -> OutputProducer:
    out = OutputProducer(Settings(), dead_letter_topic="dead")
    out._client = fake  # type: ignore[assignment]  # the stand-in has the methods OutputProducer uses
    return out


def _bare(loop: asyncio.AbstractEventLoop) -> Batch:
    """A batch whose reports the test delivers itself, through `on_delivered`."""
    return Batch(loop, lambda _batch: lambda _error, _message: None)


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_a_batch_is_stored_only_once_a_refused_record_is_stored_on_a_second_try() -> None:
    async def scenario() -> None:
        fake = FakeProducer(refuse=(b"r2",))
        out = _producer(fake)
        batch = out.batch()
        for value in (b"r1", b"r2", b"r3"):
            out.produce("t", b"k", value, batch=batch)
        stored = batch.close()
        await asyncio.wait_for(stored, 5)
        assert batch.complete and batch.sent == 3 and batch.delivered == 3
        assert sorted(fake.stored) == [b"r1", b"r2", b"r3"]  # each stored once
        assert fake.produced == 4  # r2 was produced again after its refusal
        out.close(timeout=1)

    asyncio.run(scenario())


def test_an_empty_batch_is_stored_at_once() -> None:
    async def scenario() -> None:
        out = _producer(FakeProducer())
        batch = out.batch()
        assert batch.close().done()
        out.close(timeout=1)

    asyncio.run(scenario())


def test_acks_follow_the_order_of_batches_not_of_their_storage() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        acked: list[str] = []
        acks = InOrderAcks(in_flight=4)
        batches = [_bare(loop) for _ in range(3)]
        for batch in batches:
            batch.sent = 1  # one record each, reported below
        for name, batch in zip("abc", batches, strict=True):
            await acks.add(batch, [f"{name}1", f"{name}2"], acked.append)
        batches[1].on_delivered()
        await asyncio.sleep(0.05)
        assert acked == []  # b is stored but a is not: nothing may be acknowledged yet
        batches[0].on_delivered()
        await _until(lambda: len(acked) == 4)
        assert acked == ["a1", "a2", "b1", "b2"]
        batches[2].on_delivered()
        await _until(lambda: len(acked) == 6)
        assert acked[4:] == ["c1", "c2"] and len(acks) == 0

    asyncio.run(scenario())


def test_add_waits_while_too_many_batches_are_unstored() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        acks = InOrderAcks(in_flight=1)
        first, second = _bare(loop), _bare(loop)
        first.sent = second.sent = 1
        await acks.add(first, ["a"], lambda _e: None)
        blocked = asyncio.ensure_future(acks.add(second, ["b"], lambda _e: None))
        await asyncio.sleep(0.05)
        assert not blocked.done()  # two batches would be in flight
        threading.Thread(target=first.on_delivered).start()  # reports come from another thread
        await asyncio.wait_for(blocked, 5)

    asyncio.run(scenario())


def test_close_is_bounded_when_the_broker_stores_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> Batch:
        out = _producer(FakeProducer(deliver=False))
        batch = out.batch()
        out.produce("t", b"k", b"v", batch=batch)
        batch.close()
        started = time.monotonic()
        out.close(timeout=0.2)
        assert time.monotonic() - started < 5
        return batch

    batch = asyncio.run(scenario())
    assert not batch.complete  # its input stays unacknowledged: the next owner reads it again
    assert "unconfirmed at shutdown" in caplog.text


def test_a_record_the_broker_will_never_store_is_replaced_by_a_dead_letter_in_its_batch() -> None:
    async def scenario() -> tuple[FakeProducer, Batch]:
        fake = FakeProducer(too_large=(b"big",))
        out = _producer(fake)
        batch = out.batch()
        out.produce("xapi", b"k1", b"r1", batch=batch)
        out.produce("xapi", b"k2", b"big", [(EVENT_HEADER, b'{"name": "huge"}')], batch=batch)
        out.produce("xapi", b"k3", b"r3", batch=batch)
        await asyncio.wait_for(batch.close(), 5)
        out.close(timeout=1)
        return fake, batch

    fake, batch = asyncio.run(scenario())
    assert (batch.sent, batch.delivered) == (3, 3)  # the batch completes: its input can be acknowledged
    assert fake.stored[:2] == [b"r1", b"r3"] and len(fake.stored) == 3
    dead = orjson.loads(fake.stored[2])
    assert (dead["stage"], dead["reason"], dead["output_topic"]) == ("output", "refused:MSG_SIZE_TOO_LARGE", "xapi")
    assert deadletter.original_bytes(dead) == b'{"name": "huge"}'  # the event, to re-drive once limits allow
    assert (dead["key"], dead["output_size"]) == ("k2", 3)


def test_a_record_that_cannot_be_queued_raises_and_is_not_counted_in_its_batch() -> None:
    async def scenario() -> Batch:
        out = _producer(FakeProducer(unqueueable=(b"big",)))
        batch = out.batch()
        out.produce("xapi", b"k", b"r1", batch=batch)
        with pytest.raises(KafkaException):
            out.produce("xapi", b"k", b"big", batch=batch)
        await asyncio.wait_for(batch.close(), 5)  # completes with the one record queued
        out.close(timeout=1)
        return batch

    batch = asyncio.run(scenario())
    assert (batch.sent, batch.delivered) == (1, 1)


def test_a_retried_record_that_can_no_longer_be_queued_becomes_a_dead_letter() -> None:
    async def scenario() -> tuple[FakeProducer, Batch]:
        fake = FakeProducer(refuse=(b"r2",))
        out = _producer(fake)
        batch = out.batch()
        out.produce("caliper", b"k", b"r2", batch=batch)
        fake.unqueueable.add(b"r2")  # refused once by the broker, then too large for the producer itself
        await asyncio.wait_for(batch.close(), 5)
        out.close(timeout=1)
        return fake, batch

    fake, batch = asyncio.run(scenario())
    assert batch.complete
    (stored,) = fake.stored
    assert orjson.loads(stored)["reason"] == "refused:MSG_SIZE_TOO_LARGE"
