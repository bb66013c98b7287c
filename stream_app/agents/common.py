"""What the agent modules share: the engine, the enabled formats, the dead-letter writer, metrics counters,
and the view of the delivery-status topic.

Built once per worker from the settings; agents import these names rather than
rebuilding them, so there is one engine and one set of counters per process.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from stream_app import deadletter
from stream_app.agents.commits import EagerCommits
from stream_app.agents.statusview import StatusView
from stream_app.application import app, topic
from stream_app.logjson import log_fields
from stream_app.pipeline import build_engine
from stream_app.topics import topics

log = logging.getLogger("stream_app.agents")

SETTINGS = app.stream_settings
ENGINE = build_engine(SETTINGS)
FORMATS = SETTINGS.format_list()
# Process-wide counters shown by the web views and translated into Prometheus metrics (stream_app.metrics).
COUNTS: Counter[str] = Counter()

dead_letter_topic = topic("dead_letter")
# Offsets committed as soon as input is final (see agents.commits), not only on Faust's timer.
COMMITS = EagerCommits(app)
# The routers' last states and the alert agent's last mails, shared by the delivery and alert agents.
STATUS_VIEW = StatusView(SETTINGS, topics()["delivery_status"].name)


def dead_letter(stage: str, reason: str, message: Any | None = None, value: bytes | None = None,
                **extra: Any) -> None:
    """Send one record to the dead-letter topic (non-blocking) and count it."""
    COUNTS[f"dead_letter:{stage}:{reason.split(':', 1)[0]}"] += 1
    body = deadletter.record(
        stage,
        reason,
        topic=getattr(message, "topic", None),
        partition=getattr(message, "partition", None),
        offset=getattr(message, "offset", None),
        key=getattr(message, "key", None),
        value=value if value is not None else getattr(message, "value", None),
        **extra,
    )
    where = {"topic": getattr(message, "topic", None), "partition": getattr(message, "partition", None),
             "offset": getattr(message, "offset", None)}
    if where["topic"] is None:
        # Records of the event path name the tracking partition and offset they came from.
        where = {"topic": topics()["tracking"].name, "partition": extra.get("source_topic_partition"),
                 "offset": extra.get("source_offset")}
    event_name = extra.get("event_name")
    log.warning("dead-letter stage=%s reason=%s event=%s topic=%s partition=%s offset=%s", stage, reason,
                event_name, where["topic"], where["partition"], where["offset"],
                extra={"stage": stage, "reason": reason,
                       **log_fields(event_name, where["topic"], where["partition"], where["offset"])})
    dead_letter_topic.send_soon(key=None, value=body)
