"""What became of one delivered item, and how an HTTP answer or a transport error is classified into it.

An `Outcome` is the contract between the HTTP deliverer and the delivery
agents: `delivered` items are done, `retry` items go down the retry chain
(honouring `retry_after` when the receiver gave one), `dead` items go to the
dead-letter topic with the status and an excerpt of the answer. The
classification is ARCHITECTURE.md's: 2xx delivered; connection errors,
timeouts, 408, 429 and 5xx retried; any other status (the remaining 4xx, and
the odd 1xx/3xx a redirect-following client still returns) dead. Reasons are
short and stable (`http_503`, `timeout`, `connection_error`): dead-letter
records and alert digests group by them, and the re-drive command takes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

BODY_EXCERPT = 500
RETRYABLE_STATUSES = frozenset({408, 429})

Kind = Literal["delivered", "retry", "dead"]


@dataclass(frozen=True)
class Outcome:
    """The result of delivering one item (statement or Caliper event)."""

    kind: Kind
    reason: str
    status: int | None = None
    body: str | None = None
    retry_after: float | None = None


def excerpt(raw: bytes, secrets: Iterable[str] = ()) -> str:
    """At most BODY_EXCERPT characters of a response body, with any secret we sent masked.

    A receiver may echo the request (headers included) in an error page; the
    excerpt ends up in dead-letter records and mails, so our secrets are
    masked before it leaves this module.
    """
    text = raw[: BODY_EXCERPT * 4].decode("utf-8", errors="replace")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:BODY_EXCERPT]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may parse naive
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)


def classify(status: int, headers: Mapping[str, str], body: str | None, now: datetime | None = None) -> Outcome:
    """The outcome of an HTTP answer, per ARCHITECTURE.md's rules."""
    reason = f"http_{status}"
    if 200 <= status < 300:
        return Outcome("delivered", reason, status)
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome("retry", reason, status, body, parse_retry_after(headers.get("Retry-After"), now))
    return Outcome("dead", reason, status, body)


TIMEOUT = Outcome("retry", "timeout")
CONNECTION_ERROR = Outcome("retry", "connection_error")
