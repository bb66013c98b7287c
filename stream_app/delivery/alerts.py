"""Alert mails about dead-lettered deliveries: one digest per router per window, one mail when it recovers.

The delivery side feeds the `Alerter` with each dead-letter record
(`record_failure`) and each successful delivery (`record_success`), and calls
`flush()` now and then (a timer). Nothing is mailed from the record calls, so
they are cheap and synchronous; `flush` decides:

- a router with failures not yet mailed gets a digest if it has had no digest
  within the window (`STREAM_APP_ALERT_WINDOW`, default 15 min): the first
  failures are mailed at once, a burst after that waits for the window to end
  and arrives as one mail. Per reason: the count, the first few failures (time
  and statement id or event name) and the command that re-drives them;
- a router that was alerted and has delivered since its last failure gets one
  recovery mail (carrying any failures not mailed yet), and no more until it is
  alerted again. "Recovered" means exactly that: a delivery after the last
  failure, so a router mixing refused statements with good ones may alternate
  digest and recovery, never more than once each per window.

A mailer that fails is logged and the digest is kept, merged with what came
meanwhile, for the next flush: alerting never breaks delivery. The clock is
injected so tests drive time.

What was mailed survives the worker: after each mail the alerter hands a `Mark`
(alerted or not, the last digest's time, and the offset of the last router-state
record that mail covers) to `remember`, which the alert agent keeps on the
compacted delivery-status topic; a worker that starts or takes over the alert
agent `restore`s it, and router-state records at or below a router's mark (read
again after a crash) are skipped. So an outage gets one digest and one recovery
mail whatever the restarts in between; only a crash between a mail and its mark
repeats that mail. Dead letters are not marked: a restarted worker may mail
again dead letters read again, which errs on the side of telling.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stream_app.delivery.mailer import Mailer

logger = logging.getLogger(__name__)

SAMPLES = 5
# The reason prefix of a router-state failure (a failing batch), as opposed to a dead letter.
ROUTER_FAILING = "router_failing:"


@dataclass(frozen=True)
class Failure:
    """One dead-lettered delivery."""

    router: str
    reason: str
    at: datetime
    item: str


@dataclass
class _Digest:
    """Failures not mailed yet, per reason: a count and the first few."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, list[Failure]] = field(default_factory=dict)

    def add(self, failure: Failure, keep: int) -> None:
        self.counts[failure.reason] = self.counts.get(failure.reason, 0) + 1
        samples = self.first.setdefault(failure.reason, [])
        if len(samples) < keep:
            samples.append(failure)

    def absorb(self, later: _Digest, keep: int) -> None:
        """Add failures recorded after this digest's (used when a mail failed and the digest is kept)."""
        for reason, count in later.counts.items():
            self.counts[reason] = self.counts.get(reason, 0) + count
            self.first[reason] = (self.first.get(reason, []) + later.first.get(reason, []))[:keep]

    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Mark:
    """What the alerter last mailed about a router (kept outside the process, see the module docstring)."""

    alerted: bool
    last_digest: datetime | None
    through: int  # offset of the last router-state record this mail took into account; -1: none
    at: datetime  # when the mark was made: a newer mark from another worker replaces this worker's state


@dataclass
class _Router:
    pending: _Digest = field(default_factory=_Digest)
    last_digest: datetime | None = None
    alerted: bool = False
    last_failure: datetime | None = None
    last_success: datetime | None = None
    through: int = -1  # the last router-state offset recorded
    marked: datetime | None = None  # the time of the mark this state was last restored from or wrote


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Alerter:
    """Collects failures and successes per router and mails digests and recoveries on `flush`."""

    def __init__(self, mailer: Mailer, *, window: float = 900.0, samples: int = SAMPLES,
                 clock: Callable[[], datetime] = _utcnow,
                 remember: Callable[[str, Mark], None] | None = None) -> None:
        self.mailer = mailer
        self.window = window
        self.samples = samples
        self.clock = clock
        self.remember = remember
        self._routers: dict[str, _Router] = {}
        self._lock = asyncio.Lock()  # two overlapping flushes must not mail the same digest twice

    def restore(self, router: str, mark: Mark) -> None:
        """Take over what a mark says was mailed, unless this alerter's state is as new or newer."""
        state = self._routers.setdefault(router, _Router())
        if state.marked is not None and state.marked >= mark.at:
            return
        state.alerted, state.last_digest, state.marked = mark.alerted, mark.last_digest, mark.at
        state.through = max(state.through, mark.through)
        if mark.alerted:  # recovered means: a success after what was mailed, not one this worker saw before
            state.last_failure, state.last_success = mark.last_digest or mark.at, None

    def seen(self, router: str, offset: int) -> bool:
        """Whether the router-state record at `offset` was recorded already (then it must not be again)."""
        state = self._routers.get(router)
        return state is not None and offset <= state.through

    def record_failure(self, router: str, reason: str, at: datetime | None = None, item: str | None = None,
                       offset: int | None = None) -> None:
        """A dead-letter record (`item`: the statement id or event name), or a `failing` state at `offset`."""
        at = at or self.clock()
        state = self._routers.setdefault(router, _Router())
        if offset is not None:
            if offset <= state.through:
                return
            state.through = offset
        state.pending.add(Failure(router, reason, at, item or "-"), self.samples)
        state.last_failure = at if state.last_failure is None else max(state.last_failure, at)

    def record_success(self, router: str, at: datetime | None = None, offset: int | None = None) -> None:
        """A successful delivery to `router` (a `delivering` state at `offset`)."""
        at = at or self.clock()
        state = self._routers.get(router)
        if state is not None and offset is not None:
            if offset <= state.through:
                return
            state.through = offset
        if state is not None:  # routers that never failed need no bookkeeping
            state.last_success = at if state.last_success is None else max(state.last_success, at)

    async def flush(self, now: datetime | None = None) -> int:
        """Send the mails that are due; returns how many were sent."""
        now = now or self.clock()
        sent = 0
        async with self._lock:
            for name, state in list(self._routers.items()):
                if state.alerted and _recovered(state):
                    sent += await self._mail_recovery(name, state)
                elif state.pending.total() and self._window_over(state, now):
                    sent += await self._mail_digest(name, state, now)
        return sent

    def _window_over(self, state: _Router, now: datetime) -> bool:
        return state.last_digest is None or (now - state.last_digest).total_seconds() >= self.window

    async def _mail_digest(self, name: str, state: _Router, now: datetime) -> int:
        digest, state.pending = state.pending, _Digest()
        total = digest.total()
        subject = f"[stream-app] router {name} is failing: {total} failure{'' if total == 1 else 's'}"
        body = "\n".join([
            f"Router {name}: {total} failure{'' if total == 1 else 's'} (statements dead-lettered, or batches "
            "failing and waiting in the retry chain).", "",
            *_sections(name, digest),
            f"At most one such mail is sent per router every {_duration(self.window)}; "
            "one more follows when the router delivers again.",
        ])
        if not await self._send(name, subject, body, state, digest):
            return 0
        state.last_digest = now
        state.alerted = True
        self._mark(name, state)
        return 1

    async def _mail_recovery(self, name: str, state: _Router) -> int:
        digest, state.pending = state.pending, _Digest()
        assert state.last_success is not None  # _recovered() checked it
        lines = [f"Router {name} delivers again (last success {_time(state.last_success)})."]
        if digest.total():
            lines += ["", f"Failures since the last mail ({digest.total()}):", "", *_sections(name, digest)]
        if not await self._send(name, f"[stream-app] router {name} delivers again", "\n".join(lines), state, digest):
            return 0
        state.alerted = False
        self._mark(name, state)
        return 1

    def _mark(self, name: str, state: _Router) -> None:
        if self.remember is None:
            return
        state.marked = self.clock()
        try:
            self.remember(name, Mark(state.alerted, state.last_digest, state.through, state.marked))
        except Exception:  # noqa: BLE001 — alerting must never stop delivery; at worst a mail is repeated
            logger.exception("router %s: what was mailed could not be kept", name)

    async def _send(self, name: str, subject: str, body: str, state: _Router, digest: _Digest) -> bool:
        try:
            await self.mailer.send(subject, body)
        except Exception:  # noqa: BLE001  (any mailer, any failure: alerting must never stop delivery)
            logger.exception("router %s: alert mail not sent; kept for the next flush", name)
            digest.absorb(state.pending, self.samples)
            state.pending = digest
            return False
        return True


def _recovered(state: _Router) -> bool:
    if state.last_success is None:
        return False
    return state.last_failure is None or state.last_success > state.last_failure


def _sections(router: str, digest: _Digest) -> list[str]:
    lines: list[str] = []
    for reason, count in sorted(digest.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"{reason}: {count}")
        lines.append("  first failures:")
        lines += [f"    {_time(f.at)}  {f.item}" for f in digest.first.get(reason, [])]
        if reason.startswith(ROUTER_FAILING):
            # Not dead-lettered (yet): the statements wait in the retry chain and need no re-drive.
            lines += ["  statements are being retried through the retry chain; no action needed if it recovers", ""]
            continue
        command = f"stream-app dead-letter redrive --router {shlex.quote(router)} --reason {shlex.quote(reason)}"
        lines += [f"  re-drive once fixed: {command}", ""]
    return lines


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
