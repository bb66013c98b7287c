"""Entry point of the `stream-app` console script: registers every subcommand on one click group.

A command that needs a pip extra that is not installed raises `MissingExtra`;
`main` prints its one line (which names the extra) and exits with status 1.
"""

from __future__ import annotations

import sys

import click

from stream_app import __version__
from stream_app.cli.clickhouse import clickhouse_group
from stream_app.cli.delivery import dead_letter_group, redeliver_command
from stream_app.cli.dev import dev_command
from stream_app.cli.lag import lag_command
from stream_app.cli.load import load_command
from stream_app.cli.loadgen import loadgen_command
from stream_app.cli.registry import registry_command
from stream_app.cli.replay import replay_command
from stream_app.cli.settings import settings_command
from stream_app.cli.topics import topics_group
from stream_app.cli.transform import transform_command
from stream_app.cli.worker import worker_command
from stream_app.extras import MissingExtra


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stream-app")
def cli() -> None:
    """stream_app: Open edX tracking events to xAPI and Caliper."""


cli.add_command(transform_command)
cli.add_command(registry_command)
cli.add_command(dev_command)
cli.add_command(load_command)
cli.add_command(replay_command)
cli.add_command(loadgen_command)
cli.add_command(lag_command)
cli.add_command(clickhouse_group)
cli.add_command(dead_letter_group)
cli.add_command(redeliver_command)
cli.add_command(worker_command)
cli.add_command(settings_command)
cli.add_command(topics_group)


def main() -> None:
    """Console-script entry point."""
    try:
        cli()
    except MissingExtra as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
