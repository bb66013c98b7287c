"""The events-by-actor entry: one routed event, already normalised, with the tracking record it came from.

The ingest stage parses and normalises each tracking event once; what it puts
on `events-by-actor` (and what a held event keeps on the waiting topic) is that
normalised event as a JSON object inside the entry, so the enrich agent reads
it with the message's one `orjson.loads` and never parses or normalises it
again. On the wire an entry is a JSON array
`[actor key, event, tracking partition, tracking offset, hold meta | null, fallback, shared data]`
(`fallback`: only the `event_type` fallback named the event, a line without
`name`; `meta`: when it was first held and how often; `shared data`: the
event's `data` is its tracking-log `event` object, so the wire form leaves the
second copy out — it would double every backfilled event on the topic, in
the `openedx.event` header and in dead letters). Entries written before
this shape (`[key, event as JSON text, partition, offset(, meta)]`, still on a
topic during an upgrade) are read too: their text is parsed and normalised here.
`original` gives the bytes a dead letter keeps for re-drive: the normalised
event, which normalises to itself, without the `name` the fallback gave it.

`message` writes a message's entries and, in its `stream_app.spans` header,
where each entry's event lies in the value (`spans`); the enrich agent cuts the
event's JSON out of the value (`Entry.raw`) as the `openedx.event` header of its
output records, instead of serialising the event again: the event is encoded
once, at ingest. A message without spans (a held event back from the waiting
topic, an earlier version's) serialises its events as before, to the same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

from stream_app.transforms.errors import TransformError
from stream_app.transforms.normalise import named_by_event_type, normalise

JSON = dict[str, Any]
SPANS_HEADER = "stream_app.spans"


class EntryError(TransformError):
    """Not an events-by-actor entry (the reason names what is wrong)."""


@dataclass(slots=True)
class Entry:
    """One routed event (see the module docstring for its wire form)."""

    key: str
    event: JSON
    partition: int
    offset: int
    meta: JSON | None = None
    fallback: bool = False
    raw: bytes | None = None  # `compact` as JSON, as written at ingest (cut out of the message by its spans)

    def encode(self) -> list[Any]:
        """The wire form (a JSON array; serialised with the others of its message)."""
        compact = self.compact()
        return [self.key, compact, self.partition, self.offset, self.meta, self.fallback, compact is not self.event]

    def compact(self) -> JSON:
        """The event without `data` when that is its `event` object (normalising adds it back, as the same object)."""
        event = self.event
        data = event.get("data")
        if data is not None and data is event.get("event") and isinstance(data, dict):
            return {k: v for k, v in event.items() if k != "data"}
        return event

    def header(self) -> bytes:
        """The `openedx.event` header of the event's output records (`compact`, normalised again by readers)."""
        return self.raw if self.raw is not None else orjson.dumps(self.compact())

    def original(self) -> bytes:
        """The event as a tracking record again (for dead letters): re-driven, it routes as this entry did."""
        if self.fallback:
            return orjson.dumps({k: v for k, v in self.compact().items() if k != "name"})
        return self.header()


def message(entries: list[Entry]) -> tuple[bytes, bytes]:
    """An events-by-actor message value of `entries` (a JSON array of their wire forms) and its spans header.

    Each entry is written as `encode` says, its event serialised on its own so that where it lands in
    the value is known: the header packs each event's start and end offset (unsigned 32-bit, little-endian).
    """
    parts: list[bytes] = []
    offsets: list[int] = []
    at = 1  # past the opening bracket
    for entry in entries:
        compact = entry.compact()
        key, event = orjson.dumps(entry.key), orjson.dumps(compact)
        rest = orjson.dumps([entry.partition, entry.offset, entry.meta, entry.fallback, compact is not entry.event])
        start = at + 1 + len(key) + 1  # `[`, the key, `,`
        offsets += (start, start + len(event))
        part = b"[" + key + b"," + event + b"," + rest[1:]
        parts.append(part)
        at += len(part) + 1  # and the comma before the next
    return b"[" + b",".join(parts) + b"]", struct.pack(f"<{len(offsets)}I", *offsets)


def spans(header: bytes | None, count: int) -> list[tuple[int, int]] | None:
    """Where the events of a message of `count` entries lie in its value, from its spans header (None: unknown)."""
    if header is None or len(header) != 8 * count:
        return None
    offsets = struct.unpack(f"<{2 * count}I", header)
    return list(zip(offsets[::2], offsets[1::2], strict=True))


def cut(value: bytes, span: tuple[int, int]) -> bytes | None:
    """The event's JSON at `span` of a message value, if it is one (a JSON object there), else None."""
    start, end = span
    if 0 < start < end <= len(value) and value[start] == 0x7B and value[end - 1] == 0x7D:  # { ... }
        return value[start:end]
    return None


def decode(item: Any) -> Entry:
    """One entry of an events-by-actor message (either wire form); raises EntryError."""
    if not isinstance(item, list) or len(item) < 4 or not isinstance(item[0], str):
        raise EntryError("invalid_entry", type(item).__name__)
    event, partition, offset = item[1], item[2], item[3]
    meta = item[4] if len(item) > 4 and isinstance(item[4], dict) else None
    fallback = bool(item[5]) if len(item) > 5 else False
    if len(item) > 6 and item[6] and isinstance(event, dict) and isinstance(event.get("event"), dict):
        event["data"] = event["event"]  # left out on the wire (see `Entry.compact`)
    if isinstance(event, str):  # written by a worker of the earlier form: the raw event as text
        try:
            parsed = orjson.loads(event)
            event, fallback = normalise(parsed), named_by_event_type(parsed)
        except orjson.JSONDecodeError:
            raise EntryError("invalid_json") from None
        except TransformError as exc:
            raise EntryError(exc.reason) from None
    if not isinstance(event, dict) or not isinstance(event.get("name"), str):
        raise EntryError("invalid_entry", "event")
    return Entry(item[0], event, partition, offset, meta, fallback)


def source_fields(item: Any) -> dict[str, Any]:
    """Dead-letter fields of whatever an entry slot held: the event to re-drive and where it was read."""
    try:
        entry = item if isinstance(item, Entry) else decode(item)
    except TransformError:
        fields: dict[str, Any] = {"value": orjson.dumps(item, default=str)}  # not an entry: kept as it came
        if isinstance(item, list) and len(item) >= 4 and isinstance(item[2], int) and isinstance(item[3], int):
            fields.update(source_topic_partition=item[2], source_offset=item[3])  # still says where it was read
        return fields
    return {"value": entry.original(), "source_topic_partition": entry.partition, "source_offset": entry.offset}
