"""The read cache in front of the worker's tables: reads once, forgets on change, bounded."""

from __future__ import annotations

from typing import Any

import orjson

from stream_app.tables.cache import ReadCache


class CountingTable(dict[str, Any]):
    """A table stand-in that counts reads."""

    reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def test_a_value_is_read_from_the_table_once() -> None:
    table = CountingTable(a={"x": 1})
    cache = ReadCache(table)
    assert cache.get("a") == {"x": 1} and cache.get("a") == {"x": 1}
    assert table.reads == 1


def test_a_dropped_key_is_read_again_with_its_new_value() -> None:
    table = CountingTable(a=1)
    cache = ReadCache(table)
    cache.get("a")
    table["a"] = 2
    assert cache.get("a") == 1  # unchanged until the change is announced
    cache.drop("a")
    assert cache.get("a") == 2


def test_a_changelog_key_drops_the_entry_it_names() -> None:
    table = CountingTable(a=1, b=1)
    cache = ReadCache(table)
    cache.get("a"), cache.get("b")
    table.update(a=2, b=2)
    cache.drop_serialized(orjson.dumps("a"))  # Faust table keys are JSON
    assert (cache.get("a"), cache.get("b")) == (2, 1)


def test_an_unreadable_changelog_key_forgets_everything() -> None:
    table = CountingTable(a=1)
    cache = ReadCache(table)
    cache.get("a")
    table["a"] = 2
    cache.drop_serialized(b"\xff not json")
    assert cache.get("a") == 2
    cache.drop_serialized(None)
    assert len(cache) == 0


def test_absence_is_remembered_only_where_absence_is_final() -> None:
    table = CountingTable()
    global_cache, partitioned_cache = ReadCache(table), ReadCache(table, keep_absent=False)
    assert global_cache.get("a") is None and global_cache.get("a") is None
    assert table.reads == 1
    # A partitioned table answers for the current partition only: "absent" is not remembered.
    assert partitioned_cache.get("a") is None and partitioned_cache.get("a") is None
    assert table.reads == 3


def test_the_oldest_entries_go_first_when_full() -> None:
    table = CountingTable({str(i): i for i in range(5)})
    cache = ReadCache(table, size=3)
    for key in "01234":
        cache.get(key)
    assert len(cache) == 3
    reads = table.reads
    cache.get("4"), cache.get("3")
    assert table.reads == reads  # still cached
    cache.get("0")
    assert table.reads == reads + 1  # evicted, read again
