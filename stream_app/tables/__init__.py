"""Dimension state: users, courses and blocks, kept from Debezium CDC records.

`cdc` decodes Debezium change events, `dimensions` applies them to plain
mutable mappings (a dict here, a Faust table in the worker) and `memory` is the
in-memory `Lookup` the CLI and tests use. Nothing here imports Faust.
"""
