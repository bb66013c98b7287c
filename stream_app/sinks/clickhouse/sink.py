"""`ClickHouseSink`: one router's connection, its schema, batched inserts per object, and retirement.

The delivery agent opens a sink per `type: clickhouse` router at start-up
(`ClickHouseSink.open(router)` creates or checks the schema), builds rows with
`stream_app.sinks.clickhouse.rows`, and hands a batch per object to
`await sink.write(object, rows)`; a `ClickHouseError` from it is what the retry
chain retries. Inserts are synchronous calls on the client, run in a worker
thread so the event loop keeps serving while ClickHouse parses the batch.
Objects the router does not list are refused, so personal data (user_profile,
external_id) never leaves without `pii: true`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from stream_app.delivery.routers import ClickHouseRouter
from stream_app.errors import StreamAppError
from stream_app.sinks.clickhouse.client import Client, Row, open_client
from stream_app.sinks.clickhouse.schema import DUMP_STATE, PII_TABLES, TABLES, ensure_schema


class ObjectNotEnabled(StreamAppError, ValueError):
    """The router does not send this object (not in `objects`, or personal data without `pii: true`)."""


class ClickHouseSink:
    """Writes Aspects' tables for one router."""

    def __init__(self, router: ClickHouseRouter, client: Client) -> None:
        self.router = router
        self.client = client

    @classmethod
    def open(cls, router: ClickHouseRouter, client: Client | None = None) -> ClickHouseSink:
        """Connect (or use `client`) and create or check the schema; raises SchemaError, ClickHouseError."""
        if client is None:
            password = router.password.get_secret_value() if router.password else ""
            client = open_client(router.url, router.username, password, router.timeout)
        try:
            ensure_schema(client, router.databases, router.objects)
        except Exception:
            client.close()
            raise
        return cls(router, client)

    def table(self, object_name: str) -> str:
        """The qualified table an object is written to, e.g. `` `xapi`.`xapi_events_all` ``."""
        spec = DUMP_STATE if object_name == "dump_state" else TABLES[object_name]
        return f"`{self.router.databases[spec.database]}`.`{spec.name}`"

    def insert(self, object_name: str, rows: Sequence[Row]) -> int:
        """Insert rows of one object, at most `batch.size` rows per insert; returns the count."""
        if object_name not in self.router.objects:
            raise ObjectNotEnabled(f"router {self.router.name!r} does not send {object_name!r} (field 'objects'"
                                   + (", and 'pii: true' is needed)" if object_name in PII_TABLES else ")"))
        size = self.router.batch_size
        for start in range(0, len(rows), size):
            self.client.insert(self.table(object_name), rows[start:start + size])
        return len(rows)

    async def write(self, object_name: str, rows: Sequence[Row]) -> int:
        """`insert` off the event loop."""
        return await asyncio.to_thread(self.insert, object_name, rows)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a SELECT (tables named as `self.table(object)` returns them)."""
        return self.client.query(sql)

    def retire_user(self, user_id: int | str) -> None:
        """Erase a retired user's personal data: their user_profile and external_id rows are deleted
        (as Aspects' retirement sink does) and their username is blanked in course_enrollment (the
        enrollment itself stays: it is not personal once the user is unidentifiable, and counts need it)."""
        uid = int(user_id)  # an int, so it can be written into the statement safely
        # mutations_sync: the call returns once the data is gone, not when a merge gets to it.
        for object_name in PII_TABLES:
            self.client.command(f"ALTER TABLE {self.table(object_name)} DELETE WHERE user_id = {uid} "
                                "SETTINGS mutations_sync = 1")
        database = self.router.databases["event_sink"]
        present = {str(r["table"]) for r in self.client.query(
            f"SELECT table FROM system.columns WHERE database = '{database}' AND name = 'user_id'")}
        # Newer Aspects lists an `auth_user` personal-data model too; we do not write it, but erase it if present.
        if "auth_user" in present:
            self.client.command(f"ALTER TABLE `{database}`.`auth_user` DELETE WHERE user_id = {uid} "
                                "SETTINGS mutations_sync = 1")
        if TABLES["course_enrollment"].name in present:
            self.client.command(f"ALTER TABLE {self.table('course_enrollment')} UPDATE username = '' "
                                f"WHERE user_id = {uid} SETTINGS mutations_sync = 1")

    async def retire(self, user_id: int | str) -> None:
        """`retire_user` off the event loop."""
        await asyncio.to_thread(self.retire_user, user_id)

    def close(self) -> None:
        """Close the connection (the embedded session is released for the process)."""
        self.client.close()
