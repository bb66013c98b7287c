"""The retry chain's rules: what travels with a failed record, and where it goes next.

A record that a router could not deliver is put, unchanged, on that router's
next retry topic (one per delay in `retry_delays`), and its history travels in
Kafka headers: attempts so far, the first and the last error, when it first
and last failed, and when it is due again. After the last delay the record goes
to the dead-letter topic with the whole history. These functions are pure so
the chain can be tested without a broker; the agents only move bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from stream_app.delivery.outcome import Outcome
from stream_app.topics import EVENT_HEADER

log = logging.getLogger(__name__)

# The retry history's header; the original event travels in `topics.EVENT_HEADER`, kept along the chain.
META_HEADER = "stream_app.retry"


@dataclass(frozen=True, slots=True)
class RetryMeta:
    """The delivery history of one record for one router."""

    router: str
    attempts: int = 0
    first_error: str | None = None
    last_error: str | None = None
    first_failed: float | None = None
    last_failed: float | None = None
    due: float = 0.0
    tier: int = 0  # 0 = fresh traffic; n = the n-th retry topic

    def failed(self, error: str, now: float) -> RetryMeta:
        """This history after one more failed attempt."""
        return replace(self, attempts=self.attempts + 1, first_error=self.first_error or error, last_error=error,
                       first_failed=self.first_failed or now, last_failed=now)

    def encode(self) -> bytes:
        return orjson.dumps({
            "router": self.router, "attempts": self.attempts, "first_error": self.first_error,
            "last_error": self.last_error, "first_failed": self.first_failed, "last_failed": self.last_failed,
            "due": self.due, "tier": self.tier,
        })

    @classmethod
    def decode(cls, raw: bytes | None, router: str) -> RetryMeta:
        """The history in a header value; a fresh history when there is none (or it is unreadable)."""
        if not raw:
            return cls(router)
        try:
            data = orjson.loads(raw)
            return cls(
                router=str(data.get("router") or router), attempts=int(data.get("attempts") or 0),
                first_error=data.get("first_error"), last_error=data.get("last_error"),
                first_failed=data.get("first_failed"), last_failed=data.get("last_failed"),
                due=float(data.get("due") or 0.0), tier=int(data.get("tier") or 0),
            )
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
            return cls(router)


@dataclass(frozen=True, slots=True)
class Next:
    """Where a failed record goes: retry tier `tier` (1-based) due at `due`, or the dead-letter topic."""

    meta: RetryMeta
    tier: int | None  # None = dead-letter

    @property
    def dead(self) -> bool:
        return self.tier is None


def after_failure(meta: RetryMeta, error: str, delays: Sequence[float], *, retryable: bool,
                  retry_after: float | None = None, now: float | None = None) -> Next:
    """The next step for a record whose delivery failed with `error`.

    A retryable failure moves one tier up the chain and is due after that tier's delay (or the
    server's `Retry-After`, if longer); a permanent one, or a failure on the last tier, is dead.
    """
    now = time.time() if now is None else now
    failed = meta.failed(error, now)
    tier = meta.tier + 1
    if not retryable or tier > len(delays):
        return Next(replace(failed, due=0.0), None)
    wait = max(delays[tier - 1], retry_after or 0.0)
    return Next(replace(failed, tier=tier, due=now + wait), tier)


async def guarded(deliver: Awaitable[list[Outcome]], count: int, router: str) -> list[Outcome]:
    """The outcomes of a delivery, or — if the sender raised, which it must not — a retry for every item.

    A bug or an unexpected answer (a ClickHouse schema that changed under us, a statement that is
    not an object) must neither stop the router's agent nor lose the batch: it goes along the retry
    chain with the error's type as its reason, and to the dead-letter topic if it keeps failing.
    """
    try:
        outcomes = await deliver
    except Exception as exc:  # noqa: BLE001 — the delivery agents' error boundary
        log.exception("router %s: delivery raised; the batch goes to the retry chain", router,
                      extra={"router": router})
        return [Outcome("retry", f"internal_error:{type(exc).__name__}")] * count
    if len(outcomes) != count:
        log.error("router %s: %d outcomes for %d items; the batch goes to the retry chain", router,
                  len(outcomes), count)
        return [Outcome("retry", "internal_error:outcome_count")] * count
    return outcomes


def headers_dict(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> dict[str, bytes]:
    """Kafka headers (a list of pairs or a mapping, as each client gives them) as a dict of bytes values."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(k): v.encode() if isinstance(v, str) else bytes(v) for k, v in items if v is not None}


def chain_headers(event: bytes | None, meta: RetryMeta) -> list[tuple[str, str | bytes | None]]:
    """The headers of a record on a retry topic."""
    out: list[tuple[str, str | bytes | None]] = [(META_HEADER, meta.encode())]
    if event is not None:
        out.append((EVENT_HEADER, event))
    return out


def dead_letter_fields(meta: RetryMeta, item: Any, status: int | None, body: str | None) -> dict[str, Any]:
    """The delivery-specific fields of a dead-letter record (added to `deadletter.record`)."""
    return {
        "router": meta.router,
        "statement": item,
        "attempts": meta.attempts,
        "first_error": meta.first_error,
        "last_error": meta.last_error,
        "first_failed": meta.first_failed,
        "last_failed": meta.last_failed,
        "status": status,
        "response": body,
    }
