"""The pure transformation engine: Open edX tracking events in, xAPI statements and Caliper events out.

Nothing in this package does I/O or imports Faust, Kafka, the settings module
or anything else of stream_app above it: transformers are functions of (event,
enrichment, settings) so that the CLI, the stream agents, the tests and the
benchmarks all run the very same code. `engine.Engine` is the one entry point
the rest of stream_app uses. The names below are loaded on first use, so that
importing a small module of this package (`errors`, `settings`) does not load
every transformer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream_app.transforms.context import XapiHooks
    from stream_app.transforms.engine import Engine, TransformResult
    from stream_app.transforms.settings import TransformSettings

_WHERE = {"XapiHooks": "context", "Engine": "engine", "TransformResult": "engine", "TransformSettings": "settings"}

__all__ = ["Engine", "TransformResult", "TransformSettings", "XapiHooks"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"stream_app.transforms.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'stream_app.transforms' has no attribute {name!r}")
