"""Deterministic statement ids, byte-compatible with event-routing-backends (and tincan).

ERB's xAPI id is `uuid5(uuid5(DNS_NAMESPACE, verb_json), actor_json + "-" + raw_timestamp)`,
where the JSON strings are tincan's `to_json()`: Python `json.dumps` with its
default separators and tincan's attribute order (an Agent's `account` lists
`name` before `homePage`). Changing a byte here changes billions of stored ids,
so the forms are built explicitly rather than by serialising whatever dict we have.
"""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import Any

# RFC 4122's DNS namespace: hard-coded in ERB, never configurable.
_BASE = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")

# tincan serialises objects in the order their attributes are initialised.
_AGENT_ORDER = ("objectType", "name", "mbox", "mbox_sha1sum", "openid", "account")
_ACCOUNT_ORDER = ("name", "homePage")
_VERB_ORDER = ("id", "display")


def _ordered(obj: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    out = {k: obj[k] for k in order if obj.get(k) is not None}
    for k, v in obj.items():
        if k not in out and v is not None:
            out[k] = v
    return out


def actor_json(actor: dict[str, Any]) -> str:
    """tincan's `Agent.to_json()` for an actor dict."""
    ordered = _ordered(actor, _AGENT_ORDER)
    account = ordered.get("account")
    if isinstance(account, dict):
        ordered["account"] = _ordered(account, _ACCOUNT_ORDER)
    return json.dumps(ordered)


def verb_json(verb: dict[str, Any]) -> str:
    """tincan's `Verb.to_json()` for a verb dict."""
    return json.dumps(_ordered(verb, _VERB_ORDER))


@lru_cache(maxsize=1024)
def _namespace(key: str) -> uuid.UUID:
    # Few distinct verbs exist, so the first uuid5 is almost always a cache hit.
    return uuid.uuid5(_BASE, key)


def uuid5_pair(namespace_key: str, name: str) -> str:
    """`uuid5(uuid5(DNS, namespace_key), name)` as a string (ERB's `get_uuid5`)."""
    return str(uuid.uuid5(_namespace(namespace_key), name))


def timestamp_text(raw: Any) -> str:
    """The raw timestamp as ERB's f-string renders it (`str()` of the input value)."""
    if isinstance(raw, bool):
        return str(raw)
    return raw if isinstance(raw, str) else str(raw)


def statement_id(verb: dict[str, Any], actor: dict[str, Any], raw_timestamp: Any, child_id: str | None = None) -> str:
    """The xAPI statement id; child statements append `-<child_id>` to the namespace key."""
    namespace_key = verb_json(verb)
    if child_id is not None:
        namespace_key = f"{namespace_key}-{child_id}"
    return uuid5_pair(namespace_key, f"{actor_json(actor)}-{timestamp_text(raw_timestamp)}")


def caliper_event_id(event_type: str, action: str, actor_id: str, raw_timestamp: Any) -> str:
    """A deterministic Caliper event id (ERB's is a random uuid4, so its replays duplicate).

    Built from the same inputs as ERB's xAPI id: what happened (type and action in
    place of the verb), who (the actor id) and the raw timestamp.
    """
    key = json.dumps({"type": event_type, "action": action})
    return "urn:uuid:" + uuid5_pair(key, f"{actor_id}-{timestamp_text(raw_timestamp)}")
