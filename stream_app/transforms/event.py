"""Read fields of an edX event the way event-routing-backends does, so outputs match it exactly.

ERB reads a dotted key (`data.user_id`) as an exact path, and an undotted key
(`session`, `display_name`, ...) with a depth-first search through nested dicts
(lists are not searched). Empty strings, lists and dicts count as missing;
`0`, `0.0` and `False` do not. These rules decide which value wins when a key
appears at several levels, so they are reproduced here to the letter.
"""

from __future__ import annotations

from typing import Any

from stream_app.transforms.errors import TransformError


def _find_nested(obj: dict[str, Any], key: str) -> Any:
    # A hit at the current level is returned even when it is None or "":
    # ERB stops there, and only a nested None lets the search go on.
    if key in obj:
        return obj[key]
    for value in obj.values():
        if type(value) is dict:
            found = _find_nested(value, key)
            if found is not None:
                return found
    return None


_PATHS: dict[str, tuple[str, ...]] = {}


def dotted(obj: Any, path: str) -> Any:
    """The value at an exact dotted path (`data.user_id`), or None when any step is missing or not a dict."""
    parts = _PATHS.get(path)
    if parts is None:
        parts = _PATHS[path] = tuple(path.split("."))
    for part in parts:
        if type(obj) is not dict:
            return None
        obj = obj.get(part)
    return obj


def is_empty(value: Any) -> bool:
    """True for the values ERB treats as absent: None, "", [], {} (but not 0, 0.0 or False)."""
    # ERB's test is `value != 0 and not value`; `==` keeps 0, 0.0 and False (False == 0).
    return not value and not value == 0


_MISSING: Any = object()


class Event:
    """An edX event (a dict) with ERB's field-access rules and a per-event cache."""

    __slots__ = ("raw", "_cache")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self._cache: dict[str, Any] = {}

    def get(self, key: str, required: bool = False) -> Any:
        """Return the value for `key` (dotted path or recursive search), None when empty.

        Raises TransformError(`missing_field:<key>`) when `required` and the value is absent.
        """
        cache = self._cache
        value = cache.get(key, _MISSING)
        if value is _MISSING:
            value = dotted(self.raw, key) if "." in key else _find_nested(self.raw, key)
            if not value and not value == 0:
                value = None
            cache[key] = value
        if value is None and required:
            raise TransformError("missing_field", key)
        return value

    def get_str(self, key: str, required: bool = False) -> str | None:
        """Like `get`, but a value that is not a string is reported as `invalid_field:<key>`."""
        value = self.get(key, required)
        if value is None or isinstance(value, str):
            return value
        raise TransformError("invalid_field", key)

    @property
    def name(self) -> str:
        """The event name (always a non-empty string once the engine has accepted the event)."""
        name = self.raw.get("name")
        return name if isinstance(name, str) else ""
