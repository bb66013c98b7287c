"""The errors of the pure layer, and the root of stream_app's exception tree.

They live here, not in `stream_app.errors`, because `transforms/` imports
nothing above itself; `stream_app.errors` re-exports them and draws the tree.
"""

from __future__ import annotations


class StreamAppError(Exception):
    """Base class of every error stream_app raises on purpose."""


class TransformError(StreamAppError):
    """An event cannot be transformed; `reason` says why in a stable, short form."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason if detail is None else f"{reason}:{detail}"
        super().__init__(self.reason)


class MissingDimension(TransformError):
    """The user or course an event refers to is unknown (a late or missing CDC record)."""
