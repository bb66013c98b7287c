"""The exception tree of stream_app, drawn once here; every error raised on purpose descends from StreamAppError.

    StreamAppError                           (stream_app.transforms.errors: the pure layer's own)
     ├── TransformError                      an event cannot become a statement; a short stable `reason`
     │    └── MissingDimension               the user or course the event needs is not (yet) in the tables
     ├── DuplicateTransformer (ValueError)   a second transformer for one event name (transforms.registry)
     ├── MissingExtra                        a command needs a pip extra that is not installed (extras)
     ├── configuration, stops start-up or a command with one line
     │    ├── RoutersFileError (ValueError)  the routers file; names the router and field (delivery.routers)
     │    ├── TopicsFileError (ValueError)   topics.yaml; names the topic and field (topics)
     │    └── ObjectNotEnabled (ValueError)  a ClickHouse object the router does not send (sinks.clickhouse.sink)
     ├── input of the operator commands
     │    ├── BadLine (ValueError)           a line of a transform input that is not a JSON object (cli.inputs)
     │    ├── ops.sources.SourceError        a backfill file that cannot be found or read
     │    └── sinks.clickhouse.sources.SourceError (RuntimeError)   a dump source that cannot be read
     ├── operations refused or failed
     │    ├── ReplayError                    an offset reset that must not or cannot happen (ops.offsets)
     │    └── RedriveError (RuntimeError)    a re-drive whose topic is missing or unconfirmed (ops.redrive)
     ├── ClickHouse
     │    ├── ClickHouseError (RuntimeError) a query or insert failed (sinks.clickhouse.client)
     │    ├── SchemaError (RuntimeError)     an existing table cannot take our rows (sinks.clickhouse.schema)
     │    ├── QueryRefused (ValueError)      a query the read-only view will not run (sinks.clickhouse.readonly)
     │    └── RowError (ValueError)          a record cannot become a row (sinks.clickhouse.rows)
     └── development stack
          ├── ApiError                       the stand-in registry's Confluent-style error answer (devstack.registry)
          └── RegistryStorageError (RuntimeError)   its storage topic (devstack.registry_log)

A class also derives from the builtin named in brackets, so callers that catch
the builtin keep working. Delivery failures are not exceptions: an LRS's
answer is classified into an outcome (`delivery.outcome`).

Reasons are part of the file-transform contract (`--explain`) and of dead-letter
records: they are short snake_case words, optionally followed by `:detail`
(e.g. `missing_field:data.id`), and never change once published.
"""

from __future__ import annotations

from stream_app.transforms.errors import MissingDimension, StreamAppError, TransformError

__all__ = ["MissingDimension", "StreamAppError", "TransformError"]
