"""The version of stream_app, kept in the pure layer.

Every statement names it by default (the transformer-version extension,
`stream_app@<version>`), and `transforms/` imports nothing above itself, so the
one definition lives here; `stream_app.__version__` and the package metadata
read it from this module.
"""

from __future__ import annotations

__version__ = "0.1.0"
