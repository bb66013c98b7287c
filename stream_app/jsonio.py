"""JSON encoding for outputs: orjson on the hot path, the standard library for what orjson refuses.

orjson cannot write integers beyond 64 bits. Events decoded by orjson never
contain them (it reads such numbers as floats), but a dict built in Python (a
plugin, a test, an API caller) may, and one odd value must not stop a worker:
then the standard encoder, which writes any integer, takes over for that value.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def dumps_str(obj: Any) -> str:
    """Compact JSON text."""
    return dumps(obj).decode("utf-8")
