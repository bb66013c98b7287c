"""Broker compatibility: the embedded broker's workarounds, and one aiokafka fix applied on every broker.

The Tansu workarounds are switched on by `STREAM_APP_BROKER_FLAVOR=tansu`
(`faust_options`, `confluent_producer_options`, `confluent_consumer_options`,
`patch_leave_group`, `patch_fetch_max_wait`); the session timings of both
flavors are here too. Two fixes apply on every broker. `patch_seek_to_committed`:
aiokafka leaves a partition without a committed offset wherever its fetcher had
got to during table recovery, so a restarted worker could skip its
predecessor's backlog. `patch_producer_buffer_flush`: Faust's flush before a
commit could return with records still in its buffer, so offsets were committed
ahead of records a crash or rebalance then lost.

Measured in INFRA-NOTES.md: Tansu answers ListOffsets(LATEST) with the base
offset of the last record batch + 1, so Faust's recovery high-water marks are
wrong unless every record is its own batch (`producer_max_batch_size=1`); and
its first consumer-group generation is 0, where aiokafka only sends LeaveGroup
for generations > 0, so a restarted worker waits two session timeouts. And a
fetch that finds no new records waits out its whole maximum wait even when
records arrive meanwhile (measured: p50 482 ms from produce to consume at
Faust's fixed 1,500 ms, 93 ms at 50 ms), so every consumer hop adds that
wait: consumers here use 50 ms. None of this is needed, nor applied, on Apache
Kafka, which answers a waiting fetch as soon as data arrives.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)
_PATCHED = False


def patch_leave_group() -> None:
    """Make aiokafka send LeaveGroup at generation 0 too (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    from aiokafka import errors as kafka_errors
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from aiokafka.protocol.group import LeaveGroupRequest

    async def _maybe_leave_group(self: Any) -> None:
        # Same as aiokafka's, with `>= 0`: Tansu numbers the first generation 0.
        if self.generation >= 0 and self._group_instance_id is None and self.member_id:
            try:
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
            except kafka_errors.KafkaError as err:
                log.warning("LeaveGroup request failed: %s", err)
        self.reset_generation()

    GroupCoordinator._maybe_leave_group = _maybe_leave_group
    _PATCHED = True


_SEEK_PATCHED = False


def uncommitted_assigned(committed: dict[Any, int | None], assigned: set[Any]) -> list[Any]:
    """The partitions without a committed offset that are still assigned (a rebalance may have begun
    while their offsets were read: seeking a revoked one raised IllegalStateError for all of them)."""
    return [tp for tp, offset in committed.items() if (not offset or offset < 0) and tp in assigned]


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


TANSU_FETCH_WAIT_MS = 50
_FETCH_PATCHED = False


def patch_fetch_max_wait() -> None:
    """Faust creates its aiokafka consumer with a fixed 1,500 ms fetch wait: shorten it (idempotent)."""
    global _FETCH_PATCHED
    if _FETCH_PATCHED:
        return
    from aiokafka.consumer.consumer import AIOKafkaConsumer

    original = AIOKafkaConsumer.__init__

    def __init__(self: Any, *topics: Any, **kwargs: Any) -> None:
        kwargs["fetch_max_wait_ms"] = TANSU_FETCH_WAIT_MS
        original(self, *topics, **kwargs)

    AIOKafkaConsumer.__init__ = __init__
    _FETCH_PATCHED = True


# (session timeout, heartbeat interval) in seconds, for Faust's consumer and the tracking consumer alike.
# On Tansu the group join waits session_timeout / 2: short sessions make start-up take seconds.
SESSIONS = {"tansu": (3.0, 0.5), "kafka": (10.0, 3.0)}


def faust_options(flavor: str) -> dict[str, Any]:
    """Faust settings for a broker flavor."""
    patch_seek_to_committed()
    patch_producer_buffer_flush()
    session, heartbeat = SESSIONS["tansu" if flavor == "tansu" else "kafka"]
    options: dict[str, Any] = {"broker_session_timeout": session, "broker_heartbeat_interval": heartbeat}
    if flavor == "tansu":
        patch_leave_group()
        patch_fetch_max_wait()
        options["producer_max_batch_size"] = 1
    return options


def confluent_producer_options(flavor: str) -> dict[str, Any]:
    """confluent-kafka producer settings for a broker flavor (one record per batch on Tansu)."""
    return {"batch.num.messages": 1} if flavor == "tansu" else {}


def confluent_consumer_options(flavor: str) -> dict[str, Any]:
    """confluent-kafka consumer-group timing for a broker flavor (the same sessions as the Faust consumer's)."""
    session, heartbeat = SESSIONS["tansu" if flavor == "tansu" else "kafka"]
    options: dict[str, Any] = {"session.timeout.ms": int(session * 1000),
                               "heartbeat.interval.ms": int(heartbeat * 1000)}
    if flavor == "tansu":
        options["fetch.wait.max.ms"] = TANSU_FETCH_WAIT_MS
    return options
