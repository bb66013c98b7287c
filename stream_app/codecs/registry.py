"""Waiting for the schema registry: its calls run off the event loop, and an outage holds the stream.

The registry is asked once per schema: to register an output topic's schema
(its id then goes in front of every record) and to fetch a writer schema the
first time a consumer meets its id. Everything after that is served from the
client's cache. If the registry is down at that moment, the records themselves
are fine, so turning them into dead letters (the old behaviour: every record of
the outage, each after the client's own blocking retries on the event loop)
would be wrong. The agents call `until_answered` before they touch a batch: the
blocking call runs in the default executor, and while the registry cannot
answer the batch waits (retried with a growing delay, logged, counted under
`registry:unavailable`), so nothing is acknowledged and nothing is lost. A
registry that answers with a refusal (a 4xx: an unknown schema id, a schema the
subject's compatibility rules reject) is a different matter, decided by the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from typing import TypeVar

from confluent_kafka.schema_registry.error import SchemaRegistryError

from stream_app.codecs.avro import AvroDecoder, framed_schema_id

log = logging.getLogger("stream_app.registry")
T = TypeVar("T")
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
# What the stream is waiting for right now → (since, last error); the worker's health view shows it.
WAITING: dict[str, tuple[float, str]] = {}


def refused(exc: BaseException) -> bool:
    """Whether the registry answered and said no (a 4xx other than 408/429); else it could not answer."""
    if not isinstance(exc, SchemaRegistryError):
        return False  # connection refused, timeout, DNS failure...: the registry did not answer
    status = exc.http_status_code
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)


def describe(exc: BaseException) -> str:
    """A one-line account of a registry failure for logs."""
    return f"{type(exc).__name__}: {exc}"


async def until_answered(call: Callable[[], T], what: str, counts: Counter[str],
                         retry_refusals: bool = False, first_delay: float = FIRST_DELAY,
                         max_delay: float = MAX_DELAY) -> T:
    """Run the blocking registry `call` in the executor until the registry answers it.

    A refusal is raised to the caller unless `retry_refusals` (an output schema the registry
    rejects: nothing can be produced until an operator fixes the subject, so wait for that).
    """
    loop = asyncio.get_running_loop()
    delay, failures = first_delay, 0
    while True:
        try:
            result = await loop.run_in_executor(None, call)
        except Exception as exc:  # noqa: BLE001 — sorted below: wait, or hand a refusal to the caller
            said_no = refused(exc)
            if said_no and not retry_refusals:
                raise
            failures += 1
            counts["registry:refused" if said_no else "registry:unavailable"] += 1
            since = WAITING[what][0] if what in WAITING else time.time()
            WAITING[what] = (since, describe(exc))
            log.log(logging.ERROR if said_no else logging.WARNING,
                    "schema registry: %s failed (%s); the stream waits, next try in %.0f s", what, describe(exc), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        if failures:
            WAITING.pop(what, None)
            log.warning("schema registry: %s done after %d failed attempts; the stream goes on", what, failures)
        return result


async def schemas_fetched(decoder: AvroDecoder, values: Iterable[bytes | None], counts: Counter[str]) -> None:
    """Fetch the writer schema of each id first met in `values` before they are decoded on the loop.

    While the registry cannot answer, this waits. An id the registry does not know is left to the
    decoder, whose error sends those records to the dead-letter topic as undecodable.
    """
    for schema_id in {framed_schema_id(value) for value in values} - decoder.fetched:
        if schema_id is None:
            continue
        try:
            await until_answered(partial(decoder.fetch, schema_id), f"fetching schema id {schema_id}", counts)
        except SchemaRegistryError as exc:
            log.warning("schema registry: no schema id %s (%s); its records go to the dead-letter topic",
                        schema_id, describe(exc))
