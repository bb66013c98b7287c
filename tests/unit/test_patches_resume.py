"""The stream-resume fix: a stream partition Faust resumes is fetched only after the stream queues are emptied.

Faust's recovery resumes the stream partitions, seeks them, then resumes flow control, which empties
every stream queue: records fetched in between were emptied out of the queues and counted as
processed. The fix holds such a partition back until flow control resumes (`stream_app.patches`).
Driven here through Faust's own `Consumer` methods and mode's own flow-control queue, on a consumer
holding just the state those methods use.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from stream_app import patches

STREAM, CHANGELOG = TP("app.stream_app.events-by-actor", 2), TP("app-users-changelog", 2)


class Queue(FlowControlQueue):  # type: ignore[type-arg]
    """Notes, when flow control empties it, whether the stream partition was being fetched already."""

    def __init__(self, consumer: Any, flow_control: FlowControlEvent) -> None:
        super().__init__(flow_control=flow_control, clear_on_resume=True)
        self.consumer = consumer
        self.fetching_when_emptied: bool | None = None

    def clear(self) -> None:
        self.fetching_when_emptied = STREAM in self.consumer._get_active_partitions()
        super().clear()


class App:
    def __init__(self) -> None:
        self.flow_control = FlowControlEvent()


class ConsumerState:
    """The attributes Faust's partition and gap bookkeeping reads."""

    def __init__(self) -> None:
        self.app = App()
        self._active_partitions: set[TP] = set()
        self._paused_partitions = {STREAM, CHANGELOG}  # as a rebalance leaves them
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._gap: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)

    def _get_active_partitions(self) -> set[TP]:
        return self._active_partitions

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")


@pytest.fixture(autouse=True)
def patched() -> None:
    patches.patch_stream_resume()


def test_a_resumed_stream_partition_is_fetched_only_once_flow_control_has_emptied_the_queues() -> None:
    consumer = ConsumerState()
    queue = Queue(consumer, consumer.app.flow_control)
    Consumer.resume_partitions(consumer, {STREAM, CHANGELOG})  # type: ignore[arg-type]
    # The changelog goes on at once; the stream partition waits (Faust seeks it meanwhile).
    assert consumer._active_partitions == {CHANGELOG}
    queue.put_nowait("a record the rebalance left in the queue")
    consumer.app.flow_control.resume()
    assert queue.empty() and queue.fetching_when_emptied is False
    assert consumer._active_partitions == {STREAM, CHANGELOG} and not consumer._paused_partitions


def test_a_partition_paused_again_before_flow_control_resumes_stays_paused() -> None:
    consumer = ConsumerState()
    Consumer.resume_partitions(consumer, {STREAM})  # type: ignore[arg-type]
    Consumer.pause_partitions(consumer, {STREAM})  # type: ignore[arg-type]  # a new rebalance began
    consumer.app.flow_control.resume()
    assert STREAM not in consumer._active_partitions and STREAM in consumer._paused_partitions


def test_a_gap_is_the_missing_offsets_only_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    consumer = ConsumerState()
    with caplog.at_level(logging.WARNING, logger="stream_app.patches"):
        # Faust saw offset 8 after 4: it passes 5..8.
        asyncio.run(Consumer._add_gap(consumer, STREAM, 5, 8))  # type: ignore[arg-type]
    assert sorted((i.begin, i.end) for i in consumer._gap[STREAM]) == [(5, 8)]  # 5, 6, 7; not 8, unprocessed
    assert "offsets 5..7 of app.stream_app.events-by-actor partition 2 were skipped" in caplog.text
