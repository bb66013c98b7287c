"""`stream-app registry`: run the development stand-in schema registry (not for production).

Defaults come from the settings: the broker from `STREAM_APP_BROKER` and the
port from `STREAM_APP_SCHEMA_REGISTRY_URL`, so a worker started with the same
environment finds it. An empty `--broker ''` keeps the state in memory only.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from urllib.parse import urlsplit

import click

from stream_app.devstack.registry import run_registry
from stream_app.settings import get_settings

DEFAULT_PORT = 8081


@click.command("registry")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port  [default: the port of STREAM_APP_SCHEMA_REGISTRY_URL]")
@click.option(
    "--broker",
    default=None,
    help="Storage broker, kafka://host:port[,...]  [default: STREAM_APP_BROKER]; '' keeps schemas in memory only.",
)
def registry_command(host: str, port: int | None, broker: str | None) -> None:
    """Serve a Confluent-compatible schema registry subset for development and tests."""
    settings = get_settings()
    if port is None:
        port = urlsplit(settings.schema_registry_url).port or DEFAULT_PORT
    if broker is None:
        broker = settings.broker
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM (docker stop, subprocess.terminate) shuts down like Ctrl-C: the server closes its socket cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(run_registry(host, port, broker or None))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from exc
