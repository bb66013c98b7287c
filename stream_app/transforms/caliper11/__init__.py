"""Caliper 1.1 transformers with openedx-caliper-tracking's profile, one module per event family.

They reproduce, field by field, what `ucsd-ets/openedx-caliper-tracking` 0.14.3
("CT") emits for the 155 event names it maps (`names.FAMILIES`), reading the
legacy tracking-log record (`legacy`). The explicit imports below are the list
of families: a module not listed here registers nothing.
"""

from __future__ import annotations

from stream_app.transforms.caliper11 import (  # noqa: F401  (imported to register)
    account,
    annotation,
    certificate,
    components,
    course,
    enrollment,
    exam,
    forum,
    membership,
    navigation,
    open_response,
    problem,
    textbook,
    video,
)
from stream_app.transforms.caliper11.navigation import page_view
from stream_app.transforms.caliper11.registry import CALIPER11

__all__ = ["CALIPER11", "page_view"]
