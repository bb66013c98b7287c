"""The pure transformation engine: Open edX tracking events in, xAPI statements and Caliper events out.

Nothing in this package does I/O or imports Faust, Kafka or the settings module:
transformers are functions of (event, enrichment, settings) so that the CLI,
the stream agents, the tests and the benchmarks all run the very same code.
`engine.Engine` is the one entry point the rest of stream_app uses.
"""

from __future__ import annotations

from stream_app.transforms.context import XapiHooks
from stream_app.transforms.engine import Engine, TransformResult
from stream_app.transforms.settings import TransformSettings

__all__ = ["Engine", "TransformResult", "TransformSettings", "XapiHooks"]
