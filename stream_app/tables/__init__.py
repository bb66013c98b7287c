"""Dimension state: users, courses, blocks and the rest, kept from Debezium CDC records.

`debezium` and `columns` turn a Debezium MySQL-connector row (with or without
schemas, flattened or not) into the values our tables store; `cdc` decodes a
change event into a `Change`; `dimensions` applies changes to plain mutable
mappings (deletes in any order included); `memory` is the in-memory `Lookup`
the CLI and tests use; `stream` wraps the worker's Faust tables for the enrich
agent, and `cache` holds the reads it repeats; `usernames` is the ingest
process's copy of the username index, read from its table's changelog. Only
`stream` imports Faust.
"""
