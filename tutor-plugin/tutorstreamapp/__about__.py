"""The plugin's version: always stream_app's own (`stream_app/__init__.py`), so one release number covers both."""

__version__ = "0.1.0"
