"""A read cache in front of a Faust table, for the per-event lookups of the enrich agent.

Every event reads its user and course, the same learners and courses recur all
day, and a Faust table read costs two RocksDB lookups plus a JSON decode of key
and value: in a profile of the worker, table reads took about as long as the
transforms themselves. The cache keeps decoded values (absent
ones too) by key. It is only correct if every change drops the key: the worker
drops it on its own writes, on each changelog record the table reads (global
tables are written through their changelog only) and clears everything at each
rebalance, when partitions and their tables change hands. Values are shared, so
callers must not mutate them (the table code builds new dicts for every write).
"""

from __future__ import annotations

from typing import Any

import orjson

_MISSING = object()


class ReadCache:
    """Decoded values of one table by key, bounded (oldest entries go first)."""

    def __init__(self, table: Any, size: int = 50_000, keep_absent: bool = True) -> None:
        self.table = table
        self.size = size
        # A partitioned table reads only the current event's partition: "absent" there may mean
        # "in another partition", so such a table must not remember absence.
        self.keep_absent = keep_absent
        self._values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        """The table's value for `key` (None when absent), read from the table once."""
        value = self._values.get(key, _MISSING)
        if value is _MISSING:
            value = self.table.get(key)
            if value is None and not self.keep_absent:
                return None
            if len(self._values) >= self.size:
                del self._values[next(iter(self._values))]
            self._values[key] = value
        return value

    def drop(self, key: str) -> None:
        """Forget one key (its value changed or is about to)."""
        self._values.pop(key, None)

    def drop_serialized(self, key: bytes | None) -> None:
        """Forget the key of a changelog record (JSON-serialised, as Faust writes table keys)."""
        try:
            decoded = orjson.loads(key) if key is not None else None
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, str):
            self.drop(decoded)
        else:  # a key we cannot map: forget everything rather than risk a stale read
            self.clear()

    def clear(self) -> None:
        """Forget every key."""
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
