"""Per-router delivery counters for the web view, and the router state changes the alert agent reads.

Counters are per worker process (the web view of each worker shows its own
share, as for the other counters). `retrying` counts the records this worker
sent to a retry topic; `in_retry_topics` (computed for the web view) is how
many of the router's retry records on this worker's partitions are not read
yet. A router's state flips to `failing` when a batch delivers nothing and
back to `delivering` when one succeeds again; each flip is published on the
compacted delivery-status topic (keyed by router), where the alert agent (which
may run on another worker) learns that a router recovered. Flips are decided
against the router's last state on that topic (`agents.statusview`), so they
survive restarts and rebalances: one `failing` and one `delivering` per outage.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from stream_app.agents.statusview import StatusView
from stream_app.topics import retry_topic, topics


@dataclass(slots=True)
class RouterStats:
    """What one router did on this worker."""

    delivered: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    filtered: int = 0
    rows_written: int = 0  # ClickHouse sinks: dimension rows stored (course structure, users, enrollments)
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def in_retry_topics(lags: dict[tuple[str, int], int], router: str, tiers: int) -> int:
    """Records of `router`'s retry topics not yet read on this worker's partitions (from `partition_lags`)."""
    names = {retry_topic(topics(), router, tier).name for tier in range(1, tiers + 1)}
    return sum(lag for (topic, _partition), lag in lags.items() if topic in names)


class StatusReporter:
    """Publishes a router's state changes (failing / delivering) to the delivery-status topic.

    The state it compares with is the router's last record on the topic (`view`), whoever
    published it: a worker that starts or takes over partitions during an outage does not
    announce a second `failing`, and announces `delivering` the first time it delivers,
    even though the worker that saw the failure is gone.
    """

    def __init__(self, channel: Any, view: StatusView | None = None) -> None:
        self._channel = channel
        self._view = view
        self._failing: dict[str, bool] = {}  # without a view: what this worker published

    def failing(self, router: str) -> bool:
        """Whether the router's last published state is `failing`."""
        if self._view is None:
            return self._failing.get(router, False)
        latest = self._view.get(router)
        return latest is not None and latest[1].get("state") == "failing"

    def observe(self, router: str, delivered: bool, error: str | None) -> None:
        failing = not delivered
        if self.failing(router) == failing:
            return
        self._failing[router] = failing
        body = {"router": router, "state": "failing" if failing else "delivering", "time": time.time(),
                "error": error if failing else None}
        if self._view is not None:
            self._view.note(router, body)
        self._channel.send_soon(key=router.encode(), value=orjson.dumps(body))
