"""The Faust application object, alone in its module: settings in, `app` out; no agents imported here.

`stream_app.worker` imports this module and then the agent modules, in an
explicit list; `faust -A stream_app worker` reaches it through the package's
lazy `app` attribute. Before the consumer subscribes, the app creates every
topic declared in topics.yaml that does not exist yet, so a worker comes up on
an empty broker with only the broker and registry URLs set. The routers' retry
topics are among them: the worker hands the app their tiers (`retry_tiers`), so
the app itself knows nothing of routers.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from stream_app.compat import faust_options
from stream_app.kafka import bootstrap_servers, ensure_topics
from stream_app.logjson import logging_config
from stream_app.settings import Settings, get_settings
from stream_app.topics import concrete, topics

log = logging.getLogger(__name__)


class StreamApp(faust.App):
    """faust.App that declares its topics on the broker before it starts consuming."""

    stream_settings: Settings
    # (router name, number of retry topics) of every configured router: set by the worker.
    retry_tiers: list[tuple[str, int]] = []

    async def on_first_start(self) -> None:
        settings = self.stream_settings
        created = await self.loop.run_in_executor(
            None,
            lambda: ensure_topics(
                bootstrap_servers(settings.broker), concrete(topics(), self.retry_tiers), settings.partitions,
                settings.replication_factor,
            ),
        )
        if created:
            log.info("created topics: %s", ", ".join(sorted(created)))
        await super().on_first_start()


def build_app(settings: Settings | None = None) -> StreamApp:
    """Build the app from settings (the process-wide settings by default)."""
    settings = settings or get_settings()
    options: dict[str, Any] = {
        "broker": settings.broker,
        "store": "rocksdb://",
        "datadir": settings.data_dir,
        "web_port": settings.web_port,
        "web_host": settings.web_host,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "table_standby_replicas": settings.table_standby_replicas,
        "consumer_auto_offset_reset": "earliest",
        "autodiscover": False,
        # Tables use the app's JSON serialisers (keys like b'"3"'); every topic declares raw bytes itself.
        "key_serializer": "json",
        "value_serializer": "json",
        "stream_wait_empty": False,
    }
    options.update(faust_options(settings.broker_flavor))
    config = logging_config(settings.log_format)
    if config is not None:
        options["logging_config"] = config
    app = StreamApp(settings.app_id, **options)
    app.stream_settings = settings
    return app


app = build_app()
