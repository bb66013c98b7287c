"""Committing a Faust agent's offsets as soon as its input is acknowledged, instead of on Faust's timer.

Faust commits acknowledged offsets every `broker_commit_interval` (2.8 s) or
`broker_commit_every` messages; a worker killed in between reads everything
since its last commit again, and at-least-once turns that into repeated output
records and repeated deliveries. The enrich agent (once a batch's output is
stored) and the delivery agents (once a batch is settled) acknowledge their
input and call `commit_soon`: one task per worker commits the partitions asked
for, through `app.consumer.commit` (the same path as Faust's timer, which stays
as a backstop), one commit at a time, coalescing the requests that arrive while
a commit is under way. A failed commit is logged and left to the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


class EagerCommits:
    """Commits the acknowledged offsets of the partitions asked for, soon, one commit at a time."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._pending: set[Any] = set()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # commits made (for tests and logs)

    def commit_soon(self, tps: Iterable[Any]) -> None:
        """Ask for a commit of these topic partitions' acknowledged offsets (from the event loop)."""
        self._pending.update(tps)
        if not self._pending:
            return
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        while self._pending:
            self._wake.clear()
            tps, self._pending = self._pending, set()
            try:
                # False also when a commit (Faust's timer's) was under way and is now done: that one may have
                # been made before these acknowledgements, so ask once more (a no-op if nothing is left).
                if await self._app.consumer.commit(tps) or await self._app.consumer.commit(tps):
                    self.commits += 1
            except Exception:  # noqa: BLE001 — the timer's commit, or the next one, covers these offsets
                log.warning("early commit of %d partition(s) failed; left to the next commit", len(tps),
                            exc_info=True)


def acknowledge(app: Any, events: Iterable[Any]) -> set[Any]:
    """Acknowledge events now (Faust's own acknowledgement after the agent's loop body then does nothing);
    returns their topic partitions, for `commit_soon`."""
    tps = set()
    for event in events:
        message = event.message
        if event.ack():
            app.sensors.on_message_out(message.tp, message.offset, message)
        tps.add(message.tp)
    return tps
