"""A click command that needs a pip extra: it refuses in one line, before reading its options, when it is missing.

The refusal is raised as `MissingExtra` and printed by `stream_app.cli.main`
as that one line (exit status 1). It comes before option parsing because
parsing may already fail for a reason that only follows from the missing extra
(`stream-app dev`'s sample files are checked as its options are read); `--help`
still shows the command's help.
"""

from __future__ import annotations

from typing import Any

import click

from stream_app.extras import MissingExtra, installed


class ExtraCommand(click.Command):
    """`@click.command(..., cls=ExtraCommand, extra="dev-stack")`."""

    def __init__(self, *args: Any, extra: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra = extra

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not installed(self.extra) and not set(args) & set(ctx.help_option_names):
            raise MissingExtra(self.extra, f"stream-app {self.name}")
        return super().parse_args(ctx, args)
