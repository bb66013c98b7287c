"""`stream-app load`: backfill tracking-log files (local, gzip, rotated sets, s3://) into the tracking topic.

A thin shell around `stream_app.ops.load`: it resolves the broker and topic
from settings, draws the progress bar (bytes with rate and ETA, events and
events/s) when stderr is a terminal, writes each bad line to stderr as
`file:line: reason` (and to `--rejects` as JSONL) and ends with a summary line.
Bad lines never stop a run; only records the broker failed to take make the
exit status non-zero. A dry run asks the broker for the topic's size limit as
the real run does, so both refuse the same lines.
"""

from __future__ import annotations

import sys
import time
from typing import IO

import click
from tqdm import tqdm

from stream_app.extras import require
from stream_app.kafka import bootstrap_servers
from stream_app.ops.limits import size_limit
from stream_app.ops.load import BadLine, DryRun, KafkaSink, Sink, load
from stream_app.ops.sources import SourceError, expand
from stream_app.settings import get_settings
from stream_app.topics import topics


@click.command("load")
@click.argument("paths", nargs=-1, required=True)
@click.option("--broker", default=None, help="Broker URL(s) (default: STREAM_APP_BROKER).")
@click.option("--topic", default=None, help="Target topic (default: the tracking topic of topics.yaml).")
@click.option("--rate", type=float, default=None, help="At most this many events per second.")
@click.option("--dry-run", is_flag=True,
              help="Read, check (the broker's size limit included) and count; produce nothing.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write bad lines as JSONL {file, line, reason, text}.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def load_command(paths: tuple[str, ...], broker: str | None, topic: str | None, rate: float | None, dry_run: bool,
                 rejects_path: str | None, progress: bool | None) -> None:
    """Produce the events of tracking-log files to the tracking topic, oldest file first.

    PATHS are files, directories (read recursively) or glob patterns, local or
    fsspec URLs (s3://bucket/prefix/ with the `s3` extra; credentials from the
    environment, AWS_ENDPOINT_URL for MinIO). Plain or gzip, detected by content.
    """
    settings = get_settings()
    if any(p.startswith(("s3://", "s3a://")) for p in paths):
        require("s3", "stream-app load s3://")
    try:
        sources = expand(paths)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    except ImportError as exc:  # another fsspec protocol whose driver is not installed (gcs://, ...)
        raise click.ClickException(str(exc)) from exc
    if not sources:
        raise click.ClickException("no files to load")
    name = topic or topics().tracking.name
    bootstrap = bootstrap_servers(broker or settings.broker)
    limit = size_limit(bootstrap, name)  # asked in a dry run too: it must refuse what the real run refuses
    sink: Sink = DryRun() if dry_run else KafkaSink(bootstrap, name, settings.broker_flavor, limit.max_bytes)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=sum(s.size for s in sources), unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
               disable=not show, dynamic_ncols=True)
    rejects: IO[bytes] | None = open(rejects_path, "wb") if rejects_path else None  # noqa: SIM115
    started = time.monotonic()

    def on_bad(bad: BadLine) -> None:
        message = f"{bad.file}:{bad.line}: {bad.reason}: {bad.text[:120]}"
        if show:
            bar.write(message, file=sys.stderr)
        else:
            click.echo(message, err=True)
        if rejects is not None:
            rejects.write(bad.as_json() + b"\n")

    def on_progress(done: int, events: int) -> None:
        elapsed = time.monotonic() - started
        bar.set_postfix_str(f"{events:,} events, {events / elapsed if elapsed else 0:,.0f} events/s", refresh=False)
        bar.update(done - bar.n)

    try:
        stats = load(sources, sink, on_bad, on_progress if show else None, rate=rate, dry_run=dry_run, limit=limit,
                     nameless_rule=settings.nameless_events)
    finally:
        bar.close()
        if rejects is not None:
            rejects.close()
    click.echo(stats.summary(), err=True)
    if stats.failed:
        raise click.ClickException(f"{stats.failed} record(s) were not accepted by the broker")
