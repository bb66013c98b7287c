"""The built-in Caliper 1.2 transformer registry; family modules register into it."""

from __future__ import annotations

from stream_app.transforms.registry import Registry

CALIPER = Registry("caliper")
