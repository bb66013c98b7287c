"""xAPI transformers, one module per event family, registered in `XAPI`.

The explicit imports below are the list of families: a module not listed here
registers nothing.
"""

from __future__ import annotations

from stream_app.transforms.xapi import (  # noqa: F401  (imported to register)
    completion,
    enrollment,
    exam,
    forum,
    grading,
    navigation,
    problem,
    video,
)
from stream_app.transforms.xapi.registry import XAPI

__all__ = ["XAPI"]
