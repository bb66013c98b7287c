"""Caliper 1.2 transformers (ERB's profile), one module per event family, registered in `CALIPER`.

The explicit imports below are the list of families: a module not listed here
registers nothing.
"""

from __future__ import annotations

from stream_app.transforms.caliper import (  # noqa: F401  (imported to register)
    enrollment,
    navigation,
    problem,
    video,
)
from stream_app.transforms.caliper.registry import CALIPER

__all__ = ["CALIPER"]
