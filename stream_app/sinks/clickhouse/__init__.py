"""ClickHouse sinks compatible with Open edX Aspects: statements, course structure, users, enrollments.

`ClickHouseSink.open(router)` connects (embedded chDB for `chdb://PATH`, a
server over HTTP for `http(s)://`), creates or checks Aspects' tables, and
inserts rows that `rows` builds from our records; `dump` backfills from the
data we hold (a Faust changelog or a CDC seed file).
"""

from stream_app.sinks.clickhouse.client import ClickHouseError, open_client
from stream_app.sinks.clickhouse.rows import (
    RowError,
    changed_at,
    course_block_rows,
    course_enrollment_row,
    course_overview_row,
    external_id_rows,
    statement_row,
    user_profile_row,
)
from stream_app.sinks.clickhouse.schema import SchemaError
from stream_app.sinks.clickhouse.sink import ClickHouseSink, ObjectNotEnabled

__all__ = [
    "ClickHouseError", "ClickHouseSink", "ObjectNotEnabled", "RowError", "SchemaError", "changed_at",
    "course_block_rows", "course_enrollment_row", "course_overview_row", "external_id_rows", "open_client",
    "statement_row", "user_profile_row",
]
