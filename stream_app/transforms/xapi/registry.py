"""The built-in xAPI transformer registry; family modules register into it."""

from __future__ import annotations

from stream_app.transforms.registry import Registry

XAPI = Registry("xapi")
