"""The ClickHouse tables the Aspects sink writes, their DDL, and the start-up compatibility check.

Column names and types follow Open edX Aspects' own tables (its ClickHouse
migrations, as of tutor-contrib-aspects v2): the raw statements table Ralph or
Vector would fill (`xapi.xapi_events_all`), and the event-sink tables
platform-plugin-aspects fills (`event_sink.*`). Aspects' reports and its
materialized views read these columns, so they are a contract we do not rename.

Every table is a ReplacingMergeTree whose sorting key is Aspects' (for the
event-sink tables that key ends with `time_last_dumped`). The row builders make
that column and `dump_id` deterministic functions of the source change, so a row
sent twice (a retry, a re-run dump, a replayed topic) has the same key and
collapses under `FINAL` or a merge, where Aspects' own sink would add a row per
dump. Aspects creates `course_enrollment` as a plain MergeTree; on such an
existing table we insert anyway and warn that duplicates are possible.

Creation is idempotent (`CREATE ... IF NOT EXISTS`). When a table already exists
(created by Aspects' migrations or an older stream_app), each column we write
must exist with the same type, else `SchemaError` names the table and column.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from stream_app.errors import StreamAppError

log = logging.getLogger(__name__)

STATEMENTS_TABLE = "xapi_events_all"
DUMP_STATE_TABLE = "stream_app_dump_state"


class SchemaError(StreamAppError, RuntimeError):
    """An existing table cannot take our rows; the message names the table and column."""


class Executor(Protocol):
    """What schema creation needs from a client."""

    def command(self, sql: str) -> None: ...

    def query(self, sql: str) -> list[dict[str, object]]: ...


@dataclass(frozen=True)
class TableSpec:
    """One table: which database setting it lives in, its columns and its engine clauses."""

    name: str
    database: str  # "xapi" or "event_sink": a key of the router's `databases`
    columns: tuple[tuple[str, str], ...]
    order_by: str
    partition_by: str | None = None
    version: str | None = None  # ReplacingMergeTree's version column, if any

    def ddl(self, database: str) -> str:
        """CREATE TABLE IF NOT EXISTS for this table in `database`."""
        cols = ",\n    ".join(f"`{name}` {kind}" for name, kind in self.columns)
        engine = f"ReplacingMergeTree({self.version})" if self.version else "ReplacingMergeTree"
        partition = f"\nPARTITION BY {self.partition_by}" if self.partition_by else ""
        return (f"CREATE TABLE IF NOT EXISTS `{database}`.`{self.name}` (\n    {cols}\n) ENGINE = {engine}"
                f"{partition}\nORDER BY ({self.order_by})")


_DUMPED = (("dump_id", "UUID"), ("time_last_dumped", "String"))

TABLES: dict[str, TableSpec] = {
    "statements": TableSpec(
        STATEMENTS_TABLE, "xapi",
        (("event_id", "UUID"), ("emission_time", "DateTime64(6)"), ("event", "String")),
        order_by="emission_time, event_id", partition_by="toYYYYMM(emission_time)"),
    "course_overviews": TableSpec(
        "course_overviews", "event_sink",
        (("org", "String"), ("course_key", "String"), ("display_name", "String"), ("course_start", "String"),
         ("course_end", "String"), ("enrollment_start", "String"), ("enrollment_end", "String"),
         ("self_paced", "Bool"), ("course_data_json", "String"), ("created", "String"), ("modified", "String"))
        + _DUMPED,
        order_by="org, course_key, modified, time_last_dumped"),
    "course_blocks": TableSpec(
        "course_blocks", "event_sink",
        (("org", "String"), ("course_key", "String"), ("location", "String"), ("display_name", "String"),
         ("xblock_data_json", "String"), ("order", "Int32"), ("edited_on", "String")) + _DUMPED,
        order_by="org, course_key, location, edited_on, order"),
    "user_profile": TableSpec(
        "user_profile", "event_sink",
        (("id", "Int32"), ("user_id", "Int32"), ("name", "String"), ("username", "String"), ("email", "String"),
         ("meta", "String"), ("courseware", "String"), ("language", "String"), ("location", "String"),
         ("year_of_birth", "String"), ("gender", "String"), ("level_of_education", "String"),
         ("mailing_address", "String"), ("city", "String"), ("country", "String"), ("state", "String"),
         ("goals", "String"), ("bio", "String"), ("profile_image_uploaded_at", "String"),
         ("phone_number", "String")) + _DUMPED,
        order_by="id, time_last_dumped", partition_by="user_id MOD 100"),
    "external_id": TableSpec(
        "external_id", "event_sink",
        (("external_user_id", "UUID"), ("external_id_type", "String"), ("username", "String"),
         ("user_id", "Int32")) + _DUMPED,
        order_by="external_user_id, time_last_dumped", partition_by="user_id MOD 100"),
    "course_enrollment": TableSpec(
        "course_enrollment", "event_sink",
        (("id", "Int32"), ("course_key", "String"), ("created", "String"), ("is_active", "Bool"),
         ("mode", "LowCardinality(String)"), ("username", "String"), ("user_id", "Int32")) + _DUMPED,
        order_by="course_key, user_id, time_last_dumped"),
}

# Ours alone: what `stream-app clickhouse dump` has already sent (object, position space, high mark).
DUMP_STATE = TableSpec(
    DUMP_STATE_TABLE, "event_sink",
    (("object", "String"), ("space", "String"), ("mark", "Int64"), ("dumped_at", "DateTime64(6)")),
    order_by="object, space", version="dumped_at")

# Aspects' personal-data tables (EVENT_SINK_CLICKHOUSE_PII_MODELS) and the column that names the user.
PII_TABLES = ("user_profile", "external_id")


def _normalise(kind: str) -> str:
    # system.columns spells Nullable/LowCardinality wrappers and Bool the same way we do; only
    # whitespace differs between servers.
    return kind.replace(" ", "")


def existing_columns(client: Executor, database: str, table: str) -> dict[str, str] | None:
    """Column name -> type of an existing table, or None when the table does not exist."""
    rows = client.query(
        f"SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{table}'")
    if not rows:
        return None
    return {str(r["name"]): str(r["type"]) for r in rows}


def check_compatible(spec: TableSpec, database: str, columns: Mapping[str, str]) -> None:
    """Raise SchemaError unless every column we write exists with our type."""
    for name, kind in spec.columns:
        found = columns.get(name)
        if found is None:
            raise SchemaError(f"ClickHouse table {database}.{spec.name}: column {name!r} is missing "
                              f"(expected {kind}); migrate the table or point the router at another database")
        if _normalise(found) != _normalise(kind):
            raise SchemaError(f"ClickHouse table {database}.{spec.name}: column {name!r} has type {found}, "
                              f"expected {kind}")


def ensure_schema(client: Executor, databases: Mapping[str, str], objects: tuple[str, ...]) -> None:
    """Create the databases and the tables of `objects` (plus the PII and dump-state tables) if missing.

    PII tables are always created, as Aspects does, so that retirement can run even
    when personal data is not sent now but was before.
    """
    wanted = dict.fromkeys((*objects, *PII_TABLES))
    specs = [TABLES[o] for o in wanted] + [DUMP_STATE]
    for name in sorted({databases[s.database] for s in specs}):
        client.command(f"CREATE DATABASE IF NOT EXISTS `{name}`")
    for spec in specs:
        database = databases[spec.database]
        columns = existing_columns(client, database, spec.name)
        if columns is None:
            client.command(spec.ddl(database))
            continue
        check_compatible(spec, database, columns)
        engine = client.query(
            f"SELECT engine FROM system.tables WHERE database = '{database}' AND name = '{spec.name}'")
        if engine and "Replacing" not in str(engine[0]["engine"]):
            log.warning("ClickHouse table %s.%s is a %s, not a ReplacingMergeTree: rows sent twice will be "
                        "counted twice", database, spec.name, engine[0]["engine"])
