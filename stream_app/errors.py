"""The exception tree of stream_app, drawn once here so every layer raises the same types.

    StreamAppError
     ├── TransformError        an event cannot become a statement; carries a short stable `reason`
     │    └── MissingDimension the user or course the event needs is not (yet) in the tables
     ├── DeliveryRetryable     an LRS/router failure worth retrying (timeouts, 408, 429, 5xx)
     └── DeliveryRejected      an LRS refused a statement for good (other 4xx)

Reasons are part of the file-transform contract (`--explain`) and of dead-letter
records: they are short snake_case words, optionally followed by `:detail`
(e.g. `missing_field:data.id`), and never change once published.
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


class DeliveryRetryable(StreamAppError):
    """A delivery failed in a way that may succeed later."""


class DeliveryRejected(StreamAppError):
    """A delivery was refused by the receiver and must not be retried as is."""
