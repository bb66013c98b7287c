"""The worker's parts, built once and handed to every agent module: the one place they are made.

`stream_app.worker` validates the settings and the routers file, then calls
`build` and each agent module's `register(ctx)`; agent modules define agents
and keep their state in the objects `register` makes, and do nothing when
imported. The context holds what several agents share — settings, topic
declarations, the engine and its formats, the routers and ClickHouse sinks, the
process-wide counters, per-router stats, eager commits, how far the users agent
has applied `user-changes`, the delivery-status view, the dead-letter writer
and the schema-registry client — and gives them Faust channels of topics.yaml
declarations (`channel`). Tests build one around a test app and replace the
parts they watch (`tests/agents/`).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import faust

from stream_app.agents.commits import EagerCommits
from stream_app.agents.progress import Progress
from stream_app.agents.stats import RouterStats
from stream_app.agents.statusview import StatusView
from stream_app.codecs.avro import HasRegistry
from stream_app.deadletter import DeadLetters
from stream_app.delivery.routers import ClickHouseRouter, Router
from stream_app.pipeline import build_engine
from stream_app.settings import Settings
from stream_app.topics import Topics, TopicSpec, topics
from stream_app.topics import channel as topic_channel
from stream_app.topics import channels as topic_channels
from stream_app.transforms import Engine

log = logging.getLogger("stream_app.agents")


@dataclass
class Context(HasRegistry):
    """What the agents of one worker share (see the module docstring)."""

    app: faust.App
    settings: Settings
    topics: Topics
    engine: Engine
    formats: tuple[str, ...] = ()  # the enabled output formats
    routers: list[Router] = field(default_factory=list)
    sinks: list[ClickHouseRouter] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    stats: defaultdict[str, RouterStats] = field(default_factory=lambda: defaultdict(RouterStats))
    commits: Any = None
    status_view: Any = None
    dead_letter: Any = None
    users_applied: Progress = field(default_factory=Progress)  # update_users' progress on user-changes
    _channels: dict[str, Any] = field(default_factory=dict)
    _registry: Any = None  # the worker's one schema-registry client (`registry`, made on first use)

    def channel(self, spec: TopicSpec) -> faust.TopicT:
        """The Faust topic of a declaration (made once; raw keys and values: agents and codecs encode them)."""
        found = self._channels.get(spec.name)
        if found is None:
            found = self._channels[spec.name] = topic_channel(self.app, spec, self.settings.partitions)
        return found

    def assigned(self, tp: Any) -> bool:
        """Whether this worker still owns the topic partition."""
        return tp in self.app.consumer.assignment()

    def channels(self, *specs: TopicSpec) -> faust.TopicT:
        """One Faust topic reading several declared topics."""
        return topic_channels(self.app, *specs)


def build(app: Any, settings: Settings, routers: list[Router] | None = None,
          sinks: list[ClickHouseRouter] | None = None) -> Context:
    """The context of a worker: every shared part made once, from validated settings and routers."""
    specs = topics()
    ctx = Context(app=app, settings=settings, topics=specs, engine=build_engine(settings),
                  formats=settings.format_list(), routers=list(routers or []), sinks=list(sinks or []))
    ctx.commits = EagerCommits(app)
    ctx.status_view = StatusView(settings, specs.delivery_status.name)
    ctx.dead_letter = DeadLetters(ctx.channel(specs.dead_letter), ctx.counts, specs.tracking.name)
    for name in [r.name for r in ctx.routers] + [s.name for s in ctx.sinks]:
        ctx.stats[name]  # noqa: B018 — listed in the web view from the start, even before any traffic
    return ctx
