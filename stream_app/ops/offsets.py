"""Plan and apply consumer-group offset resets (to a time, the earliest record or an offset) for `replay`.

A reset only takes on a group nobody consumes in — a running member would
commit over it — so `check_idle` refuses while the group has members, and the
broker refuses too. Targets follow Kafka's own tool: a time gives the first
record whose timestamp is at or after it (the end if there is none), an offset
is clamped into what the partition holds. The embedded broker (flavor `tansu`)
answers ListOffsets wrongly both for timestamps and for the end (measured:
every timestamp query returned the same offset), so on it the partition is
scanned instead; that is linear in its size, fine for a development broker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from stream_app.errors import StreamAppError

TIMEOUT = 15.0
IDLE_STATES = (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD, ConsumerGroupState.UNKNOWN)


class ReplayError(StreamAppError):
    """A reset that must not or cannot happen; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to move: exactly one of `timestamp_ms`, `offset` or `earliest`."""

    timestamp_ms: int | None = None
    offset: int | None = None
    earliest: bool = False

    def describe(self) -> str:
        if self.timestamp_ms is not None:
            return "first record at or after " + datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).isoformat()
        if self.offset is not None:
            return f"offset {self.offset}"
        return "earliest record"


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    partition: int
    committed: int | None
    target: int
    start: int
    end: int


def parse_time(text: str) -> int:
    """Epoch milliseconds from ISO 8601 (`2024-01-01`, `2024-01-01T10:00:00Z`, with offset); naive means UTC."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayError(f"not an ISO 8601 date-time: {text!r} (e.g. 2024-01-01T10:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


class GroupOffsets:
    """One group's committed offsets on one topic, with the admin and reader clients to move them."""

    def __init__(self, bootstrap: str, group: str, topic: str, flavor: str) -> None:
        self.group, self.topic, self.flavor = group, topic, flavor
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        # A reader outside the group (assign only, never commits): the group itself must stay empty.
        self.reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"stream-app-replay-{uuid.uuid4().hex}",
                                "enable.auto.commit": False, "enable.partition.eof": True,
                                "session.timeout.ms": 6000})

    def close(self) -> None:
        self.reader.close()

    def members(self) -> list[str]:
        """Who is in the group: members (client id @ host), or its state when the broker lists none."""
        future = self.admin.describe_consumer_groups([self.group], request_timeout=TIMEOUT)[self.group]
        try:
            description = future.result()
        except KafkaException as exc:
            if exc.args[0].code() in (KafkaError.GROUP_ID_NOT_FOUND, KafkaError.COORDINATOR_NOT_AVAILABLE):
                return []
            raise
        members = [f"{m.client_id}@{m.host}" for m in description.members or []]
        # The embedded broker reports a group with consumers as STABLE but lists no members: trust the state.
        if not members and description.state not in IDLE_STATES:
            members = [f"(state {description.state.name.lower()})"]
        return members

    def check_idle(self) -> None:
        members = self.members()
        if members:
            raise ReplayError(
                f"consumer group {self.group!r} is in use by {', '.join(members)}: stop every worker (or consumer) "
                "of this group, then run replay again (after a crash the broker keeps a member until its session "
                "times out)")

    def partitions(self) -> list[int]:
        metadata = self.reader.list_topics(self.topic, timeout=TIMEOUT).topics.get(self.topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise ReplayError(f"topic {self.topic!r} does not exist")
        return sorted(metadata.partitions)

    def committed(self, partitions: list[int]) -> dict[int, int | None]:
        request = ConsumerGroupTopicPartitions(self.group, [TopicPartition(self.topic, p) for p in partitions])
        result = self.admin.list_consumer_group_offsets([request], request_timeout=TIMEOUT)[self.group].result()
        out: dict[int, int | None] = dict.fromkeys(partitions)
        for tp in result.topic_partitions:
            if tp.topic == self.topic and tp.offset >= 0:
                out[tp.partition] = tp.offset
        return out

    def _scan(self, partition: int, start: int, timestamp_ms: int | None) -> tuple[int | None, int]:
        """(first offset with timestamp >= T or None, end offset) by reading the partition from `start`."""
        self.reader.assign([TopicPartition(self.topic, partition, start)])
        end, found, eof = start, None, False
        try:
            while True:
                messages = self.reader.consume(1000, timeout=0.5 if eof else 2.0)
                if not messages and eof:
                    return found, end  # confirmed: an EOF and then nothing more
                if not messages:
                    return found, end
                for message in messages:
                    error = message.error()
                    if error is not None:
                        eof = error.code() == KafkaError._PARTITION_EOF
                        continue
                    eof = False
                    offset = message.offset() or 0
                    end = offset + 1
                    if found is None and timestamp_ms is not None and message.timestamp()[1] >= timestamp_ms:
                        found = offset
        finally:
            self.reader.unassign()

    def _bounds(self, partition: int) -> tuple[int, int]:
        low, high = self.reader.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=TIMEOUT)
        if self.flavor == "tansu":
            high = self._scan(partition, low, None)[1]
        return int(low), int(high)

    def _target(self, partition: int, target: Target, start: int, end: int) -> int:
        if target.earliest:
            return start
        if target.offset is not None:
            return max(start, min(target.offset, end))
        assert target.timestamp_ms is not None
        if self.flavor == "tansu":
            found, _ = self._scan(partition, start, target.timestamp_ms)
            return end if found is None else found
        [answer] = self.reader.offsets_for_times([TopicPartition(self.topic, partition, target.timestamp_ms)],
                                                 timeout=TIMEOUT)
        return end if answer.offset < 0 else int(answer.offset)

    def plan(self, target: Target) -> list[PartitionPlan]:
        """What each partition's committed offset would become."""
        partitions = self.partitions()
        committed = self.committed(partitions)
        plans = []
        for partition in partitions:
            start, end = self._bounds(partition)
            plans.append(PartitionPlan(partition, committed[partition], self._target(partition, target, start, end),
                                       start, end))
        return plans

    def apply(self, plans: list[PartitionPlan]) -> None:
        """Commit the planned offsets for the group (the broker refuses if the group has members)."""
        request = ConsumerGroupTopicPartitions(
            self.group, [TopicPartition(self.topic, p.partition, p.target) for p in plans])
        result: Any = self.admin.alter_consumer_group_offsets([request], request_timeout=TIMEOUT)[self.group].result()
        failed = [f"{tp.partition}: {tp.error}" for tp in result.topic_partitions if tp.error]
        if failed:
            raise ReplayError(f"the broker refused some offsets: {'; '.join(failed)}")


def format_plan(group: str, topic: str, target: Target, plans: list[PartitionPlan]) -> str:
    """A table operators can read before and after applying."""
    lines = [f"group {group!r}, topic {topic!r}: reset to the {target.describe()}",
             f"{'partition':>9} {'committed':>10} {'new':>10} {'re-read (+) / skip (-)':>23}"]
    again = skipped = 0
    for p in plans:
        # A partition without a committed offset starts from its beginning (auto.offset.reset=earliest).
        current = p.start if p.committed is None else p.committed
        change = current - p.target
        again += max(change, 0)
        skipped += max(-change, 0)
        shown = "-" if p.committed is None else str(p.committed)
        lines.append(f"{p.partition:>9} {shown:>10} {p.target:>10} {change:>+23}")
    lines.append(f"records the group will read again: {again}; records it will skip: {skipped}")
    return "\n".join(lines)
