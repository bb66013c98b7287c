"""Broker compatibility: the embedded broker's workarounds, and the Faust settings of each broker flavor.

The Tansu workarounds are switched on by `STREAM_APP_BROKER_FLAVOR=tansu`
(`faust_options`, `confluent_producer_options`, `confluent_consumer_options`,
`patch_leave_group`, `patch_fetch_max_wait`); the session timings of both
flavors are here too. The fixes to Faust and aiokafka that apply on every
broker are in `patches` (installed by `faust_options`).

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

import logging
from typing import Any

from stream_app import patches

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
    patches.apply()
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

