"""Faust's producer flush (before every offset commit) returns only once every buffered record is handed over."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from stream_app.patches import patch_producer_buffer_flush


class SlowChannel:
    """A topic whose client takes `delay` s to take each record (an event loop busy with a batch)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.published: list[int] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(self.delay)
        self.published.append(fut.n)


def buffered(channel: SlowChannel, n: int) -> Any:
    return SimpleNamespace(n=n, message=SimpleNamespace(channel=channel))


async def started(delay: float, records: int) -> tuple[SlowChannel, ProducerBuffer]:
    """A running buffer (flush patched) holding `records` records numbered from 0 for a `delay` s client."""
    patch_producer_buffer_flush()
    channel, buf = SlowChannel(delay), ProducerBuffer()
    buf.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buf.start()
    for n in range(records):
        buf.put(buffered(channel, n))
    return channel, buf


def test_a_flush_waits_for_records_slower_than_its_old_deadline() -> None:
    async def run() -> list[int]:
        channel, buf = await started(0.25, 4)
        await buf.flush()  # Faust's own gave up after 0.1 s without a record handed over
        published = list(channel.published)
        await buf.stop()
        return published

    assert asyncio.run(run()) == [0, 1, 2, 3]


def test_a_stopping_buffer_hands_the_rest_over_itself_in_order() -> None:
    async def run() -> list[int]:
        channel, buf = await started(0.05, 5)
        await buf.stop()  # its task leaves its loop; on_stop's flush sends what is left
        return channel.published

    assert asyncio.run(run()) == [0, 1, 2, 3, 4]


def test_a_flush_does_not_wait_for_records_put_after_it_began() -> None:
    async def run() -> list[int]:
        channel, buf = await started(0.02, 3)

        async def keep_putting() -> None:  # later input, faster than the client takes it
            n = 100
            while True:
                buf.put(buffered(channel, n))
                n += 1
                await asyncio.sleep(0.005)

        busy = asyncio.ensure_future(keep_putting())
        await asyncio.wait_for(buf.flush(), timeout=5)
        published = list(channel.published)
        busy.cancel()
        return published

    assert asyncio.run(run())[:3] == [0, 1, 2]
