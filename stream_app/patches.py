"""Fixes to Faust and aiokafka that apply on every broker, each a small patch installed once (`apply`).

Each fixes a way at-least-once broke, found by the crash tests:
`patch_seek_to_committed` (aiokafka left a partition without a committed
offset wherever its fetcher had got to during table recovery, so a restarted
worker could skip its predecessor's backlog); `patch_producer_buffer_flush`
(Faust's flush before a commit could return with records still in its buffer,
so offsets were committed ahead of records a crash or rebalance then lost); and
`patch_stream_resume` (at the end of every rebalance Faust let records of the
stream partitions into queues it then emptied, and counted them as
processed; a gap in offsets also counted the record after it as processed).
Each offset range Faust counts as processed without having read it is logged.
`compat.faust_options` calls `apply`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


def apply() -> None:
    """Install every fix (idempotent)."""
    patch_seek_to_committed()
    patch_producer_buffer_flush()
    patch_stream_resume()


_SEEK_PATCHED = False


CHANGELOG_SUFFIX = "-changelog"  # Faust's table changelog topics: `<app id>-<table>-changelog`


def uncommitted_assigned(committed: dict[Any, int | None], assigned: set[Any]) -> list[Any]:
    """The stream partitions without a committed offset that are still assigned (a rebalance may have begun
    while their offsets were read: seeking a revoked one raised IllegalStateError for all of them).

    Changelog partitions are never committed: Faust's recovery places them itself (at the offset its
    store has applied). Rewinding them too, at the end of every rebalance, made every worker read its
    global tables' whole changelogs again, serving older values until it had caught up.
    """
    return [tp for tp, offset in committed.items()
            if (not offset or offset < 0) and tp in assigned and not tp.topic.endswith(CHANGELOG_SUFFIX)]


def patch_seek_to_committed() -> None:
    """Partitions without a committed offset restart from the beginning (idempotent).

    aiokafka's `seek_to_committed` leaves such partitions where the fetcher happens to be; a
    worker that fetched while its tables were recovering has moved past records it never
    processed, and a restarted worker then skipped the previous worker's unprocessed backlog.
    With `auto_offset_reset=earliest` the intent is the beginning: seek there explicitly.
    """
    global _SEEK_PATCHED
    if _SEEK_PATCHED:
        return
    from aiokafka.consumer.consumer import AIOKafkaConsumer

    original = AIOKafkaConsumer.seek_to_committed

    async def seek_to_committed(self: Any, *partitions: Any) -> Any:
        committed = await original(self, *partitions)
        if self._subscription.subscription is None:
            return committed
        fresh = uncommitted_assigned(committed, self._subscription.assigned_partitions())
        if fresh:  # never empty here: seek_to_beginning() without partitions rewinds every assigned one
            await self.seek_to_beginning(*fresh)
        return committed

    AIOKafkaConsumer.seek_to_committed = seek_to_committed
    _SEEK_PATCHED = True


_FLUSH_PATCHED = False
FLUSH_STALL_WARNING = 10.0  # seconds a flush waits without progress between warnings
FLUSH_STOP_LIMIT = 30.0  # seconds a stopping producer's flush waits without progress


def patch_producer_buffer_flush() -> None:
    """Faust's producer flush hands over every record buffered before it began (idempotent).

    Records sent with `send_soon` (table changelogs, `user-changes`, the waiting topic, dead
    letters) wait in Faust's `ProducerBuffer` until its task hands them to aiokafka, one at a time,
    in order. Faust flushes that buffer before committing offsets, but its flush gave up after 0.1 s
    without progress, and an event loop busy with a batch of events takes longer: offsets were
    committed ahead of records still buffered. A rebalance or crash then lost them (a user's
    `auth_user` change committed on `user-changes` but never in the users changelog: the user stayed
    unknown on every worker). Here the flush waits until the records put before it began are handed
    over (not those put meanwhile, which belong to later input: a busy buffer would never be empty);
    once the producer is stopping, whose task no longer takes them, it hands them over itself.
    """
    global _FLUSH_PATCHED
    if _FLUSH_PATCHED:
        return
    from faust.transport.producer import ProducerBuffer

    put, send_pending = ProducerBuffer.put, ProducerBuffer._send_pending

    def counted_put(self: Any, fut: Any) -> None:
        self._stream_app_put = getattr(self, "_stream_app_put", 0) + 1
        put(self, fut)

    async def counted_send(self: Any, fut: Any) -> None:
        self._stream_app_taken = getattr(self, "_stream_app_taken", 0) + 1
        try:
            await send_pending(self, fut)
        finally:  # a record whose hand-over failed is done with too (Faust's task raises the error)
            self._stream_app_taken -= 1
            self._stream_app_sent = getattr(self, "_stream_app_sent", 0) + 1

    async def flush(self: Any) -> None:
        target = getattr(self, "_stream_app_put", 0)
        stalled = 0.0
        while (sent := getattr(self, "_stream_app_sent", 0)) < target:
            if self.should_stop and not getattr(self, "_stream_app_taken", 0):  # none being handed over
                if not self.size:
                    return
                await counted_send(self, self.pending.get_nowait())
                continue
            self.message_sent.clear()
            try:
                await asyncio.wait_for(self.message_sent.wait(), timeout=1.0)
                stalled = 0.0
            except TimeoutError:
                stalled += 1.0
                if self.should_stop and stalled >= FLUSH_STOP_LIMIT:
                    # Stopping with a broker that takes nothing: stop anyway. Their inputs were not
                    # committed past them, so the next owner reads those inputs again.
                    log.error("producer flush: %d buffered record(s) not sent at shutdown", target - sent)
                    return
                if stalled % FLUSH_STALL_WARNING == 0:
                    log.warning("producer flush: %d record(s) still buffered after %.0f s without progress; "
                                "offsets wait for them", target - sent, stalled)

    ProducerBuffer.put = counted_put  # type: ignore[method-assign]
    ProducerBuffer._send_pending = counted_send  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]
    _FLUSH_PATCHED = True


_RESUME_PATCHED = False


def patch_stream_resume() -> None:
    """Stream partitions are fetched again only once they are sought and the stream queues emptied (idempotent).

    At the end of a rebalance Faust's recovery resumes the stream (non-changelog) partitions, then
    seeks them to their committed offsets, then resumes flow control, which empties every stream
    queue. Its fetcher is running all the while (it read the changelogs), so records fetched between
    the resume and the seek went into queues that were then emptied; and the seek set Faust's read
    offset back, so the next record looked like a jump over missing offsets, which Faust counts as
    processed (a "gap": meant for transaction markers and compacted records). Committed unprocessed,
    those records were lost: held events, and routed events after a restart with a backlog (2–102
    of 3,520 statements in the crash tests). Here a stream partition that Faust resumes is held
    back until flow control resumes: after the seek, and after the queues are emptied. Pausing or
    revoking it cancels that. And a gap no longer includes the record after it (see `missing_only`).
    """
    global _RESUME_PATCHED
    if _RESUME_PATCHED:
        return
    from faust.transport.consumer import Consumer
    from mode.utils.queues import FlowControlEvent

    resume_partitions, pause_partitions = Consumer.resume_partitions, Consumer.pause_partitions
    partitions_revoked, add_gap = Consumer.on_partitions_revoked, Consumer._add_gap
    flow_resume = FlowControlEvent.resume

    def held(consumer: Any) -> set[Any]:
        return consumer.__dict__.setdefault("_stream_app_held", set())  # type: ignore[no-any-return]

    def resume(self: Any, tps: Iterable[Any]) -> None:
        tps = set(tps)
        streams = {tp for tp in tps if not self._is_changelog_tp(tp)}
        if streams:
            held(self).update(streams)
            self.app.flow_control._stream_app_consumer = self  # whose held partitions its resume releases
        resume_partitions(self, tps - streams)

    def pause(self: Any, tps: Iterable[Any]) -> None:
        tps = set(tps)
        held(self).difference_update(tps)
        pause_partitions(self, tps)

    async def revoked(self: Any, revoked: set[Any]) -> None:
        held(self).difference_update(revoked)
        await partitions_revoked(self, revoked)

    def resume_flow_control(self: Any) -> None:
        flow_resume(self)  # empties the stream queues
        consumer = getattr(self, "_stream_app_consumer", None)
        if consumer is not None and held(consumer):
            tps, consumer._stream_app_held = held(consumer), set()
            resume_partitions(consumer, tps)

    async def missing_only(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        # Faust passes the offset of the record that made the jump as the gap's (inclusive) end, so that record
        # counted as processed before it was: a crash then lost it. The gap is what is missing before it.
        # Normal only for transaction markers and compacted records: anything else is a bug to find, so logged.
        committed = self._committed_offset[tp]
        first = offset_from if committed is None else max(offset_from, committed + 1)  # as Faust's own bound
        if first < offset_to:
            log.warning("offsets %d..%d of %s partition %d were skipped by the fetch (a jump in offsets): Faust "
                        "counts them as processed (expected only for transaction markers or compacted records)",
                        first, offset_to - 1, tp.topic, tp.partition)
        await add_gap(self, tp, offset_from, offset_to - 1)

    Consumer.resume_partitions = resume  # type: ignore[method-assign]
    Consumer.pause_partitions = pause  # type: ignore[method-assign]
    Consumer.on_partitions_revoked = revoked  # type: ignore[method-assign]
    Consumer._add_gap = missing_only  # type: ignore[method-assign]
    FlowControlEvent.resume = resume_flow_control  # type: ignore[method-assign]
    _RESUME_PATCHED = True
