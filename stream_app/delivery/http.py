"""The HTTP deliverer of one router: sends xAPI statements or Caliper events and says what became of each.

`Deliverer.deliver(items)` returns one `Outcome` per item, in order; it never
raises for a failed delivery (the agent's single error boundary decides what
to do with `retry` and `dead` items). Every request has the router's timeout
(ERB had none) and does not follow redirects: a POST silently turned into a
GET by a 302 would look delivered. Every answer is counted by router and
status in `stream_app_lrs_responses_total` (a transport error, timeout or
refused connection, as status `error`).

**Repeats within a batch** (`plan`). At-least-once processing puts repeats of
one statement into one batch after a crash, and an LRS refuses a batch that
holds an id twice (Ralph: 400). So before sending, items are grouped by id
(xAPI `id`, Caliper event `id`; items without a string id are never grouped):
an identical repeat is not sent again and gets the outcome of its first copy
(counted delivered when that one is); a different body under an id already in
the batch is a conflict the LRS decides on, sent after the batch in a request
of its own, so it can cost no other statement anything. Other bodies go in
rounds (round r: the (r+1)-th other body of each id; usually there is one
round), each after the previous: xAPI POSTs a round as a batch (one alone as
`PUT ?statementId=`); a round answered 409 while every one of its ids was just
stored with its first body is settled as each PUT would be (409, "already
stored", counted delivered, as ERB does), any other refusal is bisected as
below. Caliper sends each other body on its own. Requests: the batch request
plus one per round (Caliper: per other body).

**Refused batches** (xAPI). An LRS refuses a whole batch for one bad statement
(Ralph: 422 for an invalid one, 409 for an id stored with another body, 400 for
a malformed one). A refused batch (400, 409, 422, and 413 "too large", which
halves cure) is bisected: each half is POSTed again and only a refused half is
split again, down to a single statement, sent as ERB does, `PUT
?statementId=<id>`, where 2xx and 409 ("already stored") count as delivered.
Halves that are accepted are never split, so the requests grow with the number
of bad statements b, not with the batch size n: at most 1 + 2·b·⌈log2 n⌉
(one bad statement in 100: at most 15 requests, instead of 100 PUTs); the worst
case (every statement bad) is 2n-1. A retryable answer to a half only marks that
half for retry.

Caliper (`url` as is): ERB's envelope (`sensor`, `sendTime`, `data`,
`dataVersion`) with `override_args` applied to the envelope, one event per
envelope. With a batch size of 1 each envelope is its own POST; a batch goes,
as in ERB, as one POST of a JSON array of envelopes, whose outcome is that of
all its events (a conflicting body goes as a one-envelope array of its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from stream_app.delivery.outcome import CONNECTION_ERROR, TIMEOUT, Outcome, classify, excerpt
from stream_app.delivery.routers import Router
from stream_app.metrics import LRS_RESPONSES
from stream_app.transforms.caliper.base import envelope
from stream_app.transforms.caliper11.base import CONTEXT_V1P1 as CALIPER11_CONTEXT

logger = logging.getLogger(__name__)

XAPI_VERSION = "1.0.3"
# Statuses with which an LRS refuses a whole batch because of some of its statements (or, 413, its size).
REFUSED_BATCH = frozenset({400, 409, 413, 422})
# The `status` label of an answer that never came (timeout, refused or broken connection).
TRANSPORT_ERROR = "error"
# Bisection and one-event Caliper envelopes fan out; this caps the requests one deliverer has in flight.
MAX_CONCURRENCY = 8
# A custom header whose name contains one of these carries a credential: masked like the auth secrets.
SECRET_HEADER_WORDS = ("auth", "token", "key", "secret", "password", "cookie", "session")


@dataclass
class Plan:
    """How a batch is sent: the items of the batch request, the rounds of other bodies, the repeats not sent."""

    batch: list[int] = field(default_factory=list)  # first body of each id (and every item without an id)
    rounds: list[list[int]] = field(default_factory=list)  # round r: the (r+2)-th distinct body of each id
    same: dict[int, int] = field(default_factory=dict)  # identical repeat -> the index whose outcome it takes
    first: dict[int, int] = field(default_factory=dict)  # a round's item -> the index of its id's first body


def plan(items: Sequence[Mapping[str, Any]]) -> Plan:
    """Group a batch by item `id`: identical repeats are sent once, other bodies of one id after (see above)."""
    out = Plan()
    bodies: dict[str, list[int]] = {}  # id -> indices of its distinct bodies, in batch order
    for index, item in enumerate(items):
        item_id = item.get("id")
        if not isinstance(item_id, str):
            out.batch.append(index)
            continue
        seen = bodies.setdefault(item_id, [])
        twin = next((i for i in seen if items[i] == item), None)
        if twin is not None:
            out.same[index] = twin
            continue
        if not seen:
            out.batch.append(index)
        else:
            while len(out.rounds) < len(seen):
                out.rounds.append([])
            out.rounds[len(seen) - 1].append(index)
            out.first[index] = seen[0]
        seen.append(index)
    return out


Round = Callable[[list[Any], list[Outcome]], Awaitable[list[Outcome]]]


async def planned(items: Sequence[Any], how: Plan, batch: Callable[[list[Any]], Awaitable[list[Outcome]]],
                  rounds: Round) -> list[Outcome]:
    """The outcomes of sending `items` as `how` says: the batch first, then each round of other bodies."""
    outcomes: dict[int, Outcome] = dict(zip(how.batch, await batch([items[i] for i in how.batch]), strict=True))
    # After the batch and in order, so the LRS meets an id's first body first (as it would without the repeats).
    for indices in how.rounds:
        answers = await rounds([items[i] for i in indices], [outcomes[how.first[i]] for i in indices])
        outcomes.update(zip(indices, answers, strict=True))
    outcomes.update((i, outcomes[twin]) for i, twin in how.same.items())
    return [outcomes[i] for i in range(len(items))]


class Deliverer:
    """Delivers items to one router over one (own or shared) aiohttp session."""

    def __init__(self, router: Router, *, sensor: str, session: aiohttp.ClientSession | None = None) -> None:
        self.router = router
        self.sensor = sensor
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=router.timeout)
        self._limit = asyncio.Semaphore(MAX_CONCURRENCY)
        headers = dict(router.headers)
        headers["Content-Type"] = "application/json"
        if router.format == "xapi":
            headers["X-Experience-API-Version"] = XAPI_VERSION
        auth = router.auth.header()
        headers.update(auth)  # the auth header wins over a same-named custom header, as in ERB
        self._headers = headers
        self._secrets = _secrets(router, auth)
        self._statements_url = router.url.rstrip("/") + "/statements"

    async def deliver(self, items: list[dict[str, Any]]) -> list[Outcome]:
        """One outcome per item, same order: xAPI statements or bare Caliper events."""
        if not items:
            return []
        if self.router.format == "xapi":
            statements = [self.router.override(s) for s in items]
            outcomes = await planned(statements, plan(statements), self._statements, self._other_bodies)
        else:
            outcomes = await planned(items, plan(items), self._events, self._other_events)
        failed = [o for o in outcomes if o.kind != "delivered"]
        if failed:
            reasons = sorted({o.reason for o in failed})
            logger.warning("router %s: %d of %d item(s) not delivered (%s)", self.router.name, len(failed),
                           len(outcomes), ", ".join(reasons))
        return outcomes

    async def close(self) -> None:
        """Close the session if this deliverer created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _statements(self, statements: list[dict[str, Any]]) -> list[Outcome]:
        if not statements:
            return []
        if len(statements) == 1:
            return [await self._put(statements[0])]
        outcome = await self._request("POST", self._statements_url, statements)
        if outcome.status not in REFUSED_BATCH:
            return [outcome] * len(statements)
        return await self._halves(statements)

    async def _other_bodies(self, statements: list[dict[str, Any]], firsts: list[Outcome]) -> list[Outcome]:
        """A round of other bodies under ids whose first bodies were just sent (`firsts`: their outcomes)."""
        if len(statements) == 1:
            return [await self._put(statements[0])]
        outcome = await self._request("POST", self._statements_url, statements)
        if outcome.status == 409 and all(f.kind == "delivered" for f in firsts):
            # Every id is stored with its first body, so each of these is refused as its PUT would be: 409,
            # "already stored", delivered (ERB PR #298).
            return [Outcome("delivered", outcome.reason, 409, outcome.body)] * len(statements)
        if outcome.status not in REFUSED_BATCH:
            return [outcome] * len(statements)
        # Bisected like a batch, each half judged as a round again (a half of conflicts costs one request).
        middle = len(statements) // 2
        first, second = await asyncio.gather(self._other_bodies(statements[:middle], firsts[:middle]),
                                             self._other_bodies(statements[middle:], firsts[middle:]))
        return first + second

    async def _halves(self, statements: list[dict[str, Any]]) -> list[Outcome]:
        middle = len(statements) // 2
        first, second = await asyncio.gather(self._statements(statements[:middle]),
                                             self._statements(statements[middle:]))
        return first + second

    async def _put(self, statement: dict[str, Any]) -> Outcome:
        statement_id = statement.get("id")
        if not isinstance(statement_id, str):
            # Without an id there is nothing to PUT to; the LRS assigns one on POST.
            return await self._request("POST", self._statements_url, [statement])
        outcome = await self._request("PUT", self._statements_url, statement, {"statementId": statement_id})
        if outcome.status == 409:
            # The LRS already holds a statement with this id: re-sending cannot change that (ERB PR #298).
            return Outcome("delivered", outcome.reason, 409, outcome.body)
        return outcome

    async def _events(self, events: list[dict[str, Any]]) -> list[Outcome]:
        if self.router.batch_size == 1:
            return list(await asyncio.gather(*(self._request("POST", self.router.url, self._envelope(e))
                                               for e in events)))
        if not events:
            return []
        # ERB's batch: one POST of an array of one-event envelopes (not one envelope with many events).
        body = [self._envelope(e) for e in events]
        return [await self._request("POST", self.router.url, body)] * len(events)

    async def _other_events(self, events: list[dict[str, Any]], _firsts: list[Outcome]) -> list[Outcome]:
        """Other bodies under ids of the batch: each on its own, in the router's shape."""
        answers = await asyncio.gather(*(self._events([event]) for event in events))
        return [outcome for [outcome] in answers]

    def _envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        body = envelope([event], self.sensor)
        if self.router.format == "caliper11":
            # Caliper 1.1 events travel in a 1.1 envelope (openedx-caliper-tracking itself never enveloped).
            body["dataVersion"] = CALIPER11_CONTEXT
        return self.router.override(body)

    async def _request(self, method: str, url: str, payload: Any, params: Mapping[str, str] | None = None) -> Outcome:
        session = self._open()
        data = orjson.dumps(payload)
        async with self._limit:
            try:
                async with session.request(method, url, data=data, params=params, headers=self._headers,
                                           timeout=self._timeout, allow_redirects=False) as response:
                    # Read even a 2xx body: a fully read response lets the connection be reused.
                    raw = await response.read()
                    LRS_RESPONSES.labels(self.router.name, str(response.status)).inc()
                    if 200 <= response.status < 300:
                        return Outcome("delivered", f"http_{response.status}", response.status)
                    return classify(response.status, response.headers, excerpt(raw, self._secrets))
            except TimeoutError:  # before ClientError: aiohttp's timeout errors are both
                LRS_RESPONSES.labels(self.router.name, TRANSPORT_ERROR).inc()
                return TIMEOUT
            except aiohttp.ClientError:
                LRS_RESPONSES.labels(self.router.name, TRANSPORT_ERROR).inc()
                return CONNECTION_ERROR

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop, as aiohttp requires.
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _secrets(router: Router, auth_header: Mapping[str, str]) -> tuple[str, ...]:
    values = [router.auth.password.get_secret_value() if router.auth.password else "",
              router.auth.token.get_secret_value() if router.auth.token else ""]
    values += [v.split(" ", 1)[-1] for v in auth_header.values()]
    # Custom headers that carry credentials (ERB's documentation puts API tokens there).
    values += [v for k, v in router.headers.items() if any(word in k.lower() for word in SECRET_HEADER_WORDS)]
    return tuple(v for v in values if v)
