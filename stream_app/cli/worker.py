"""`stream-app worker` / `python -m stream_app worker`: the Faust worker, exactly as `faust -A stream_app worker`.

The remaining arguments are Faust's worker options (`-l info`, `--web-port`, ...;
`--help` lists them). Faust's own command line parses them, with this app preset.
"""

from __future__ import annotations

import sys

import click


@click.command("worker", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker_command(ctx: click.Context) -> None:
    """Run a worker (as `faust -A stream_app worker`); the options are Faust's (see --help)."""
    from stream_app.worker import app  # imported here: building the app needs the settings and Faust

    sys.argv = [sys.argv[0], "worker", *ctx.args]
    app.main()  # Faust's command line, this app preset; it never returns
