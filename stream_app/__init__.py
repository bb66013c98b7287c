"""stream_app: Open edX tracking events to xAPI and Caliper, as a Faust stream processor.

The package root stays import-light on purpose: the pure transformation engine
(`stream_app.transforms`) and the CLI must be importable without Faust or a
broker. The Faust application object lives in `stream_app.app` and is exposed
lazily as `stream_app.app` so that `faust -A stream_app worker` finds it.
"""

from __future__ import annotations

from stream_app.transforms.version import __version__

__all__ = ["__version__"]


def __getattr__(name: str) -> object:
    # `faust -A stream_app` looks up `stream_app.app`; build the worker only when asked, so that
    # importing the pure parts (transforms, CLI) never needs Faust or a broker.
    if name == "app":
        from stream_app.worker import app

        return app
    raise AttributeError(f"module 'stream_app' has no attribute {name!r}")
