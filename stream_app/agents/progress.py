"""How far one agent has got in each partition of its topic, for another agent on the same topic to wait on.

Two agents read `user-changes` on every worker: `update_users` (cdc.py) applies
each change to the `users` table, and a ClickHouse router's personal-data agent
(clickhouse.py) writes the user's rows as they are after the change. Faust hands
both the same records but runs them independently, so the second reads the
table only once the first has applied the records it is about to write
(`reach`); a table that is further along is fine (its rows are then newer
still, and the last change of a user is always written from its final record).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Progress:
    """The highest offset an agent has finished, per topic partition, on this worker."""

    def __init__(self) -> None:
        self._done: dict[Any, int] = {}
        self._moved: asyncio.Event | None = None

    def mark(self, tp: Any, offset: int) -> None:
        """The agent is done with `offset` of `tp` (applied, skipped or dead-lettered alike)."""
        if offset > self._done.get(tp, -1):
            self._done[tp] = offset
            if self._moved is not None:
                self._moved.set()

    def reached(self, tp: Any, offset: int) -> bool:
        return self._done.get(tp, -1) >= offset

    async def reach(self, tp: Any, offset: int, still_assigned: Callable[[Any], bool]) -> bool:
        """Wait until the agent is done with `offset` of `tp`; False if this worker lost `tp` meanwhile
        (its new owner reads those records again)."""
        while not self.reached(tp, offset):
            if not still_assigned(tp):
                return False
            if self._moved is None:
                self._moved = asyncio.Event()
            self._moved.clear()
            try:
                await asyncio.wait_for(self._moved.wait(), timeout=1.0)
            except TimeoutError:
                pass  # look at the assignment again
        return True
