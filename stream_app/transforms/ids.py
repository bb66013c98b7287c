"""Deterministic statement ids, byte-compatible with event-routing-backends (and tincan).

ERB's xAPI id is `uuid5(uuid5(DNS_NAMESPACE, verb_json), actor_json + "-" + str(timestamp))`,
where the JSON strings are tincan's `to_json()`: Python `json.dumps` with its
default separators and tincan's attribute order (an Agent's `account` lists
`name` before `homePage`), and `timestamp` is whatever ERB's transformer was
handed: the text on its file replays, a datetime on its live paths (the caller
picks which, see `Ctx.id_timestamp`). Changing a byte here changes billions of stored ids,
so the forms are built explicitly rather than by serialising whatever dict we have.
"""

from __future__ import annotations

import hashlib
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


def _actor_json_slow(actor: dict[str, Any]) -> str:
    ordered = _ordered(actor, _AGENT_ORDER)
    account = ordered.get("account")
    if isinstance(account, dict):
        ordered["account"] = _ordered(account, _ACCOUNT_ORDER)
    return json.dumps(ordered)


@lru_cache(maxsize=65536)
def _account_json(home_page: str, name: str) -> str:
    return json.dumps({"objectType": "Agent", "account": {"name": name, "homePage": home_page}})


def actor_json(actor: dict[str, Any]) -> str:
    """tincan's `Agent.to_json()` for an actor dict."""
    # Fast path for the default external-id actor: the same few thousand learners recur.
    account = actor.get("account")
    if len(actor) == 2 and isinstance(account, dict) and len(account) == 2:
        home, name = account.get("homePage"), account.get("name")
        if isinstance(home, str) and isinstance(name, str) and actor.get("objectType") == "Agent":
            return _account_json(home, name)
    return _actor_json_slow(actor)


@lru_cache(maxsize=1024)
def _verb_json(verb_id: str, display: tuple[tuple[str, Any], ...]) -> str:
    return json.dumps({"id": verb_id, "display": dict(display)})


def verb_json(verb: dict[str, Any]) -> str:
    """tincan's `Verb.to_json()` for a verb dict."""
    display = verb.get("display")
    verb_id = verb.get("id")
    if len(verb) == 2 and isinstance(verb_id, str) and isinstance(display, dict):
        try:
            return _verb_json(verb_id, tuple(display.items()))
        except TypeError:  # an unhashable display value (only from a hook): serialise directly
            pass
    return json.dumps(_ordered(verb, _VERB_ORDER))


@lru_cache(maxsize=1024)
def _namespace(key: str) -> bytes:
    # Few distinct verbs exist, so the first uuid5 is almost always a cache hit.
    return uuid.uuid5(_BASE, key).bytes


# The RFC 4122 variant bits replace the top two bits of the 17th hex digit: 0-f map onto 8, 9, a, b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _uuid5(namespace: bytes, name: str) -> str:
    # uuid.uuid5 without the UUID object: sha1(namespace + name), version 5, RFC 4122 variant,
    # assembled straight from the hex digest (half the time of the bytes-and-bits route).
    h = hashlib.sha1(namespace + name.encode("utf-8")).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def uuid5_pair(namespace_key: str, name: str) -> str:
    """`uuid5(uuid5(DNS, namespace_key), name)` as a string (ERB's `get_uuid5`)."""
    return _uuid5(_namespace(namespace_key), name)


def timestamp_text(raw: Any) -> str:
    """The timestamp as ERB's f-string renders it (`str()` of the value: text as is, a datetime with a space)."""
    if isinstance(raw, bool):
        return str(raw)
    return raw if isinstance(raw, str) else str(raw)


def actor_part(actor: dict[str, Any], timestamp: Any) -> str:
    """The per-event half of the statement id's name: `<actor JSON>-<str(timestamp)>`."""
    return f"{actor_json(actor)}-{timestamp_text(timestamp)}"


def statement_id_from(verb: dict[str, Any], actor_part_: str, child_id: str | None = None) -> str:
    """`statement_id` with the actor half already built (`actor_part`): statements of one event share it."""
    namespace_key = verb_json(verb)
    if child_id is not None:
        namespace_key = f"{namespace_key}-{child_id}"
    return uuid5_pair(namespace_key, actor_part_)


def statement_id(verb: dict[str, Any], actor: dict[str, Any], timestamp: Any, child_id: str | None = None) -> str:
    """The xAPI statement id; child statements append `-<child_id>` to the namespace key."""
    return statement_id_from(verb, actor_part(actor, timestamp), child_id)


def caliper_event_id(event_type: str, action: str, actor_id: str, raw_timestamp: Any) -> str:
    """A deterministic Caliper event id (ERB's is a random uuid4, so its replays duplicate).

    Built from the same inputs as ERB's xAPI id: what happened (type and action in
    place of the verb), who (the actor id) and the raw timestamp.
    """
    return "urn:uuid:" + _uuid5(_caliper_namespace(event_type, action), f"{actor_id}-{timestamp_text(raw_timestamp)}")


@lru_cache(maxsize=1024)
def _caliper_namespace(event_type: str, action: str) -> bytes:
    # A few dozen (type, action) pairs exist: the JSON key and its uuid5 are built once each.
    return _namespace(json.dumps({"type": event_type, "action": action}))
