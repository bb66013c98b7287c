"""Sinks that store stream_app's output and dimensions in analytical databases (ClickHouse for Aspects)."""
