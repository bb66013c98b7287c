"""Load `topics.yaml` into frozen, typed topic declarations; the one place topic names come from.

Code names a topic by its attribute (`topics().xapi.name`; `topics()[fmt]` for a
key known only at run time, such as an output format) and gets its Faust
channel here (`channel`): the YAML file is the only place a topic name string
appears, and this module the only one that makes Faust topics. Unknown keys, unknown value types or a missing
declaration stop start-up with a message naming the topic and field. A CDC topic
that declares its LMS `table` is read as `<STREAM_APP_CDC_TOPIC_PREFIX>.<table>`
when that setting is set (Debezium's own topic names, without a copy of this file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import faust
import orjson
import yaml

from stream_app.errors import StreamAppError

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "topics.yaml"
PACKAGED_FILE = Path(__file__).resolve().parent / "topics.yaml"
ValueType = Literal["json", "avro", "raw"]

REQUIRED = (
    "tracking", "cdc_auth_user", "cdc_auth_userprofile", "cdc_external_id", "cdc_external_id_type",
    "cdc_course_overview", "cdc_course_blocks", "cdc_teams", "xapi", "caliper", "caliper11", "events_by_actor",
    "user_changes", "waiting", "generated_external_ids", "dead_letter", "schemas", "retry", "delivery_status",
)
# Declarations whose name is a pattern, expanded per router and delay tier (one topic each).
TEMPLATES = {"retry": ("{router}", "{tier}")}

# The Kafka header in which every output record carries the original tracking event (set by the enrich
# agent; read by the delivery agents for `match_params`, kept along the retry chain and by re-drive):
# part of the output topics' record shape, so declared with them.
EVENT_HEADER = "openedx.event"


class TopicsFileError(StreamAppError, ValueError):
    """topics.yaml is malformed; the message names the topic and field."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its name and how it is created and encoded."""

    key: str
    name: str
    value: ValueType = "raw"
    record: str | None = None
    partitions: int | None = None
    replicas: int | None = None
    compacting: bool = False
    retention: float | None = None
    description: str = ""
    table: str | None = None  # the LMS table a CDC topic carries (named `<cdc prefix>.<table>` with a prefix)

    def encode(self, value: Any) -> bytes:
        """A value as this topic's bytes, by its declared `value`: json (orjson) or raw (bytes as they are).

        Avro topics are encoded with the schema registry (`codecs.avro`, the output records' codec).
        """
        if self.value == "json":
            return orjson.dumps(value)
        if self.value == "raw" and isinstance(value, bytes):
            return value
        raise TopicsFileError(f"topic {self.key!r}: a {self.value} value cannot encode {type(value).__name__}")

    def decode(self, data: bytes) -> Any:
        """This topic's bytes as a value (json raises orjson.JSONDecodeError on bad bytes; raw returns them)."""
        if self.value == "json":
            return orjson.loads(data)
        if self.value == "raw":
            return data
        raise TopicsFileError(f"topic {self.key!r}: avro values are decoded with the schema registry")


_FIELDS = {f.name for f in fields(TopicSpec)} - {"key"}


def _spec(key: str, raw: Any) -> TopicSpec:
    if not isinstance(raw, dict):
        raise TopicsFileError(f"topic {key!r}: expected a mapping, got {type(raw).__name__}")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise TopicsFileError(f"topic {key!r}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise TopicsFileError(f"topic {key!r}: field 'name' is required")
    if raw.get("value", "raw") not in ("json", "avro", "raw"):
        raise TopicsFileError(f"topic {key!r}: field 'value' must be json, avro or raw")
    if raw.get("value") == "avro" and not raw.get("record"):
        raise TopicsFileError(f"topic {key!r}: avro topics need field 'record'")
    if "table" in raw and (not isinstance(raw["table"], str) or not raw["table"] or "." in raw["table"]):
        raise TopicsFileError(f"topic {key!r}: field 'table' must be a table name (no dots)")
    return TopicSpec(key=key, **raw)


class Topics(Mapping[str, TopicSpec]):
    """Every declaration of a topics file: the required ones as typed attributes, all of them by key."""

    tracking: TopicSpec
    cdc_auth_user: TopicSpec
    cdc_auth_userprofile: TopicSpec
    cdc_external_id: TopicSpec
    cdc_external_id_type: TopicSpec
    cdc_course_overview: TopicSpec
    cdc_course_blocks: TopicSpec
    cdc_teams: TopicSpec
    xapi: TopicSpec
    caliper: TopicSpec
    caliper11: TopicSpec
    events_by_actor: TopicSpec
    user_changes: TopicSpec
    waiting: TopicSpec
    generated_external_ids: TopicSpec
    dead_letter: TopicSpec
    schemas: TopicSpec
    retry: TopicSpec
    delivery_status: TopicSpec

    def __init__(self, specs: Mapping[str, TopicSpec]) -> None:
        self._specs = dict(specs)
        for key in REQUIRED:
            setattr(self, key, self._specs[key])

    def __getitem__(self, key: str) -> TopicSpec:
        return self._specs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def channel(app: faust.App, spec: TopicSpec, partitions: int) -> faust.TopicT:
    """The Faust topic of one declaration, raw keys and values (`partitions` when the declaration has none)."""
    return app.topic(spec.name, partitions=spec.partitions or partitions, replicas=spec.replicas,
                     compacting=spec.compacting, retention=spec.retention, key_serializer="raw",
                     value_serializer="raw")


def channels(app: faust.App, *specs: TopicSpec) -> faust.TopicT:
    """One Faust topic reading several declared topics (raw keys and values)."""
    return app.topic(*(spec.name for spec in specs), key_serializer="raw", value_serializer="raw")


def with_cdc_prefix(specs: dict[str, TopicSpec], prefix: str) -> dict[str, TopicSpec]:
    """The declarations with every LMS CDC topic named `<prefix>.<table>` (Debezium's topic name)."""
    prefix = prefix.strip().rstrip(".")
    if not prefix:
        return specs
    return {key: replace(s, name=f"{prefix}.{s.table}") if s.table else s for key, s in specs.items()}


def load_topics(path: str | Path | None = None, cdc_prefix: str | None = None) -> dict[str, TopicSpec]:
    """Parse a topics file (default: STREAM_APP_TOPICS_FILE, else the repository's topics.yaml).

    `cdc_prefix` (default: STREAM_APP_CDC_TOPIC_PREFIX) renames the LMS CDC topics, see `with_cdc_prefix`.
    """
    if path is None:
        env = os.environ.get("STREAM_APP_TOPICS_FILE")
        path = Path(env) if env else (DEFAULT_FILE if DEFAULT_FILE.exists() else PACKAGED_FILE)
    if cdc_prefix is None:
        cdc_prefix = os.environ.get("STREAM_APP_CDC_TOPIC_PREFIX", "")
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("topics"), dict):
        raise TopicsFileError(f"{path}: expected a top-level 'topics' mapping")
    specs = with_cdc_prefix({key: _spec(key, raw) for key, raw in data["topics"].items()}, cdc_prefix)
    missing = [key for key in REQUIRED if key not in specs]
    if missing:
        raise TopicsFileError(f"{path}: missing topic declaration(s) {missing}")
    for key, fields_ in TEMPLATES.items():
        missing_fields = [f for f in fields_ if f not in specs[key].name]
        if missing_fields:
            raise TopicsFileError(f"topic {key!r}: field 'name' must contain {' and '.join(missing_fields)}")
    names = [s.name for s in specs.values()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TopicsFileError(f"{path}: topic name(s) declared twice: {duplicates}")
    return specs


def retry_topic(specs: Mapping[str, TopicSpec], router: str, tier: int) -> TopicSpec:
    """The retry topic of one router and delay tier (1 = the first delay)."""
    template = specs["retry"]
    return replace(template, key=f"retry:{router}:{tier}", name=template.name.format(router=router, tier=tier))


def concrete(specs: Mapping[str, TopicSpec], routers: Iterable[tuple[str, int]] = ()) -> list[TopicSpec]:
    """Every topic to create: the plain declarations plus each (router, tiers) pair's retry topics."""
    out = [spec for key, spec in specs.items() if key not in TEMPLATES]
    for router, tiers in routers:
        out.extend(retry_topic(specs, router, tier) for tier in range(1, tiers + 1))
    return out


@lru_cache(maxsize=1)
def topics() -> Topics:
    """The process-wide topic declarations."""
    return Topics(load_topics())
