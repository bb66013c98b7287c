"""The built-in Caliper 1.1 (openedx-caliper-tracking parity) registry; family modules register into it."""

from __future__ import annotations

from stream_app.transforms.registry import Registry

CALIPER11 = Registry("caliper11")
