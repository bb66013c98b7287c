"""Which partitions the seek-to-committed fix rewinds: uncommitted ones still assigned, and only those."""

from __future__ import annotations

from aiokafka.structs import TopicPartition

from stream_app.patches import uncommitted_assigned

A, B, C, D = (TopicPartition("stream_app.events-by-actor", p) for p in range(4))


def test_uncommitted_partitions_are_rewound_committed_ones_are_not() -> None:
    assert uncommitted_assigned({A: None, B: 17, C: -1001, D: 0}, {A, B, C, D}) == [A, C, D]


def test_a_partition_revoked_while_offsets_were_read_is_left_out() -> None:
    # Seeking it raised IllegalStateError, and the still-assigned uncommitted ones were not rewound either.
    assert uncommitted_assigned({A: None, B: None}, {B}) == [B]
    assert uncommitted_assigned({A: None}, set()) == []  # nothing to seek (an empty seek rewinds everything)


def test_changelog_partitions_are_left_where_recovery_placed_them() -> None:
    changelog = TopicPartition("app-usernames-changelog", 0)  # Faust never commits a changelog's offsets
    assert uncommitted_assigned({A: None, changelog: None}, {A, changelog}) == [A]
